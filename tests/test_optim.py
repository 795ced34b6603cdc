"""The optimizers: BatchedAdam equals torch.optim.Adam per row; RestartedAdam equals qiskit's ADAM(maxiter=1)."""

import numpy as np
import pytest
import torch

from autoqml.optim import BatchedAdam, RestartedAdam, generator_optimizer


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


def _qiskit_adam_maxiter_1(params, gradient, *, lr, beta_1, beta_2, noise_factor):
    """qiskit-aqua 0.9 ADAM.minimize with maxiter=1 and amsgrad=True, transcribed by hand in numpy."""
    t, m, v, v_eff = 0, np.zeros_like(gradient), np.zeros_like(gradient), np.zeros_like(gradient)
    t += 1
    m = beta_1 * m + (1 - beta_1) * gradient
    v = beta_2 * v + (1 - beta_2) * gradient * gradient
    lr_eff = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
    v_eff = np.maximum(v_eff, v)
    return params - lr_eff * m.flatten() / (np.sqrt(v_eff.flatten()) + noise_factor)


def test_restarted_adam_is_qiskits_adam_called_with_maxiter_1_every_step():
    """Per row lr, betas and noise factor; every step restarts, so each equals a fresh qiskit call."""
    gen = torch.Generator().manual_seed(1)
    start = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    target = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    lr = torch.tensor([1e-3, 1e-2, 1e-4], dtype=torch.float64)
    betas = torch.tensor([[0.7, 0.99], [0.9, 0.999], [0.5, 0.9]], dtype=torch.float64)
    noise = torch.tensor([1e-6, 1e-8, 1e-2], dtype=torch.float64)
    theta = start.clone().requires_grad_(True)
    opt = RestartedAdam([theta], lr=lr, betas=betas, noise_factor=noise)
    for _ in range(5):
        opt.zero_grad()
        ((theta - target) ** 3).sum().backward()
        gradient, before = theta.grad.numpy().copy(), theta.detach().numpy().copy()
        opt.step()
        for r in range(3):
            expected = _qiskit_adam_maxiter_1(before[r], gradient[r], lr=lr[r].item(), beta_1=betas[r, 0].item(),
                                              beta_2=betas[r, 1].item(), noise_factor=noise[r].item())
            assert np.abs(theta[r].detach().numpy() - expected).max() <= 1e-15
    # the closed form: lr * g / (|g| + noise / sqrt(1 - beta_2))
    step = lr[:, None] * gradient / (np.abs(gradient) + noise[:, None].numpy() / np.sqrt(1 - betas[:, 1:].numpy()))
    assert np.allclose(before - theta.detach().numpy(), step, rtol=1e-12, atol=0)


def test_generator_optimizer_by_state():
    theta = torch.zeros(2, 3, requires_grad=True, dtype=torch.float64)
    hyper = {"lr": torch.full((2,), 1e-3, dtype=torch.float64), "betas": torch.tensor([[0.7, 0.99]] * 2),
             "noise_factor": torch.full((2,), 1e-6, dtype=torch.float64)}
    assert isinstance(generator_optimizer("per_step", [theta], **hyper), RestartedAdam)
    assert isinstance(generator_optimizer("persistent", [theta], **hyper), BatchedAdam)
    with pytest.raises(ValueError, match="optimizer.state: got 'kept'"):
        generator_optimizer("kept", [theta], **hyper)
