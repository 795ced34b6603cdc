"""Adam over a batch of independent rows, each with its own learning rate and betas.

Rows are separate training runs stacked along the first axis. The update is torch.optim.Adam's, elementwise,
so a row's trajectory does not depend on the other rows; only the step sizes are per row.
"""

from __future__ import annotations

import torch


class BatchedAdam:
    """Adam (Kingma and Ba 2015, arXiv:1412.6980) with per-row hyperparameters; mirrors torch.optim.Adam.

    ``amsgrad`` (Reddi, Kale, Kumar 2018) divides by the running maximum of v instead of v, as qiskit's QGAN
    optimizers do for both players; it is our default for that reason.

    .. math:: m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t,\\; v_t = \\beta_2 v_{t-1} + (1-\\beta_2) g_t^2,\\;
              p_t = p_{t-1} - \\frac{\\eta}{1-\\beta_1^t} \\frac{m_t}{\\sqrt{v_t}/\\sqrt{1-\\beta_2^t} + \\epsilon}
    """

    def __init__(self, params: list[torch.Tensor], *, lr: torch.Tensor, betas: torch.Tensor, eps: float = 1e-8,
                 amsgrad: bool = True):
        rows = params[0].shape[0]
        if lr.shape != (rows,) or betas.shape != (rows, 2):
            raise ValueError(f"lr must have shape ({rows},) and betas ({rows}, 2); got {lr.shape}, {betas.shape}")
        self.params = params
        self._lr, self._b1, self._b2, self._eps = lr, betas[:, 0], betas[:, 1], eps
        self._m = [torch.zeros_like(p) for p in params]
        self._v = [torch.zeros_like(p) for p in params]
        self._v_max = [torch.zeros_like(p) for p in params] if amsgrad else None
        self._step = 0

    @torch.no_grad()
    def step(self) -> None:
        self._step += 1
        correction1 = 1 - self._b1**self._step
        root_correction2 = (1 - self._b2**self._step).sqrt()
        for i, (p, m, v) in enumerate(zip(self.params, self._m, self._v)):
            shape = (-1,) + (1,) * (p.dim() - 1)
            b1, b2 = self._b1.view(shape), self._b2.view(shape)
            m.mul_(b1).add_((1 - b1) * p.grad)
            v.mul_(b2).add_((1 - b2) * p.grad.square())
            if self._v_max is not None:
                v = torch.maximum(self._v_max[i], v, out=self._v_max[i])
            denom = (v.sqrt() / root_correction2.view(shape)).add_(self._eps)
            p.sub_((self._lr / correction1).view(shape) * m / denom)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None
