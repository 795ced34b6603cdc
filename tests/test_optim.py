"""BatchedAdam equals torch.optim.Adam run separately on each row, with per-row lr and betas."""

import pytest
import torch

from autoqml.optim import BatchedAdam



@pytest.mark.parametrize("amsgrad", [False, True])
def test_rows_follow_torch_adam(amsgrad):
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(3, 4, 2, generator=gen, dtype=torch.float64)
    lr = torch.tensor([1e-3, 1e-2, 0.1], dtype=torch.float64)
    betas = torch.tensor([[0.9, 0.999], [0.7, 0.99], [0.5, 0.9]], dtype=torch.float64)
    target = torch.randn(3, 4, 2, generator=gen, dtype=torch.float64)

    batched = start.clone().requires_grad_(True)
    opt = BatchedAdam([batched], lr=lr, betas=betas, amsgrad=amsgrad)
    singles = [start[r].clone().requires_grad_(True) for r in range(3)]
    refs = [torch.optim.Adam([singles[r]], lr=lr[r].item(), betas=tuple(betas[r].tolist()),
                             amsgrad=amsgrad) for r in range(3)]
    for _ in range(50):
        opt.zero_grad()
        ((batched - target) ** 4).sum().backward()
        opt.step()
        for r in range(3):
            refs[r].zero_grad()
            ((singles[r] - target[r]) ** 4).sum().backward()
            refs[r].step()
    for r in range(3):
        assert torch.allclose(batched[r], singles[r], rtol=0, atol=1e-12)
