"""The classical discriminator: a PyTorch MLP on the sample value (or its standardized grid index), one per row.

Architecture (the paper's ``custom_classical_1`` and ``_2``): value -> ``n_input`` -> ``n_hidden``... -> 1, LeakyReLU
(slope 0.2, as qiskit-aqua's PyTorch discriminator) between layers and a sigmoid output, the probability that a
value is real. Each row's weights are drawn like ``torch.nn.Linear``'s defaults (U[-1/sqrt(fan_in), 1/sqrt(fan_in)])
from that row's own generator, so a batch of rows trains exactly as each row alone.

The trainer only ever evaluates D on the 2^N grid points, so a step is a forward pass over the grid, its backward
pass and the forward pass after the update. Written by hand rather than through autograd, a step is a dozen
batched matrix products and fused elementwise kernels into buffers that live across steps, and the forward pass
after an update is kept: D does not change between the generator step and the next discriminator step, so the next
step's forward pass is the one already made (a quarter of the arithmetic saved, the numbers unchanged).
"""

from __future__ import annotations

import numpy as np
import torch

LEAKY_SLOPE = 0.2
#: Logarithms are clamped here, like ``torch.nn.BCELoss``.
LOG_FLOOR = -100.0
#: Per-grid tensors are padded to rows of a multiple of this many bytes: torch's CPU kernels run log and sigmoid
#: in SIMD blocks (two 64-byte vectors) and the leftover elements in scalar code, which rounds differently, so a row
#: whose values fell in the leftover alone but not in a batch would not train exactly as alone.
ROW_BYTES = 128
_leaky_backward = torch.ops.aten.leaky_relu_backward


class BatchedMLP:
    """Rows x layers of weights, (rows, in, out) per layer, and biases (rows, 1, out), in ``dtype``: views of one
    flat row of parameters per run (``flat``; gradients ``flat_grad``).

    ``values`` are the grid points D sees, (G,) shared by all rows or (rows, G). :meth:`forward` evaluates D on
    them and keeps the activations; :meth:`backward` turns dL/dlogit into the gradients of every layer
    (``grads``, aligned with ``params``). Per-grid tensors of D's side (D, the batches, dL/dlogit) are
    ``width`` >= G wide (:data:`ROW_BYTES`; :meth:`pad`), the columns past G zero or ignored.
    """

    def __init__(self, *, widths: list[int], rngs: list[np.random.Generator], values: torch.Tensor,
                 dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu"):
        self.widths = [1, *widths, 1]
        self.dtype, self.device = dtype, torch.device(device)
        lanes = ROW_BYTES // torch.empty((), dtype=dtype).element_size()
        layers = list(zip(self.widths[:-1], self.widths[1:]))
        blocks = []
        for fan_in, fan_out in layers:
            bound = 1 / np.sqrt(fan_in)
            weight = np.stack([rng.uniform(-bound, bound, size=(fan_out, fan_in)) for rng in rngs])
            bias = np.stack([rng.uniform(-bound, bound, size=fan_out) for rng in rngs])
            blocks += [weight.transpose(0, 2, 1).reshape(len(rngs), -1), bias]
        # one flat, padded row of parameters per run: the optimizer updates all in one kernel, without leftovers
        flat = np.concatenate(blocks, axis=1)
        padded = np.zeros((len(rngs), -(-flat.shape[1] // lanes) * lanes))
        padded[:, : flat.shape[1]] = flat
        self.flat = self._tensor(padded)
        self.flat_grad = torch.zeros_like(self.flat)
        self.params, self.grads, start = [], [], 0
        for fan_in, fan_out in layers:
            for shape in ((fan_in, fan_out), (1, fan_out)):
                size = shape[0] * shape[1]
                self.params.append(self.flat[:, start : start + size].view(-1, *shape))
                self.grads.append(self.flat_grad[:, start : start + size].view(-1, *shape))
                start += size
        rows, size = len(rngs), values.shape[-1]
        self._x = self._tensor(values.reshape(-1, size, 1)).expand(rows, size, 1)
        self._h = [torch.empty(rows, size, w, dtype=dtype, device=self.device) for w in self.widths[1:-1]]
        self._dh = [torch.empty_like(h) for h in self._h]
        self.size, self.width = size, -(-size // lanes) * lanes
        self._logit = torch.zeros(rows, self.width, dtype=dtype, device=self.device)
        self._padded = [torch.zeros_like(self._logit) for _ in range(2)]
        self.d: torch.Tensor | None = None  # D on the grid at the current weights, (rows, width), once computed

    def _tensor(self, array) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(array), dtype=self.dtype).to(self.device)

    @property
    def rows(self) -> int:
        return self.params[0].shape[0]

    def pad(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The step's batches (rows, G) in D's dtype and width (kept buffers, zero past G)."""
        for buffer, values in zip(self._padded, (real, fake)):
            buffer[:, : self.size] = values
        return tuple(self._padded)

    def forward(self) -> torch.Tensor:
        """D on the grid, (rows, width), with the activations kept for :meth:`backward`."""
        weight, bias = self.params[0], self.params[1]
        h = torch.addcmul(bias, self._x, weight, out=self._h[0])  # fan-in 1: an outer product, no matmul
        torch.nn.functional.leaky_relu_(h, LEAKY_SLOPE)
        for i, out in enumerate(self._h[1:], start=1):
            torch.baddbmm(self.params[2 * i + 1], self._h[i - 1], self.params[2 * i], out=out)
            torch.nn.functional.leaky_relu_(out, LEAKY_SLOPE)
        # fan-out 1 as a product and a sum: batched matrix-vector products round differently with the batch size
        logit = self._logit[:, : self.size]
        torch.sum(self._h[-1] * self.params[-2].transpose(1, 2), dim=2, out=logit)
        logit.add_(self.params[-1][:, 0])
        self.d = torch.sigmoid(self._logit)
        return self.d

    def backward(self, grad_logit: torch.Tensor) -> None:
        """Fill ``grads`` with dL/dparams from dL/dlogit (rows, width) at the last :meth:`forward`."""
        delta = grad_logit[:, : self.size, None]
        last = len(self._h)
        for i in range(last, -1, -1):
            inputs = self._x if i == 0 else self._h[i - 1]
            if i == 0:  # fan-in 1: a weighted sum over the grid
                grad_w = torch.sum(inputs * delta, dim=1, keepdim=True)
            elif i == last:  # fan-out 1
                grad_w = torch.sum(inputs * delta, dim=1)[..., None]
            else:
                grad_w = torch.bmm(inputs.transpose(1, 2), delta)
            self.grads[2 * i].copy_(grad_w)
            self.grads[2 * i + 1].copy_(torch.sum(delta, dim=1, keepdim=True))
            if i == 0:
                break
            weight_t = self.params[2 * i].transpose(1, 2)
            upstream = self._dh[i - 1]
            if i == last:  # fan-out 1: an outer product
                torch.mul(delta, weight_t, out=upstream)
            else:
                torch.bmm(delta, weight_t, out=upstream)
            # LeakyReLU keeps the sign, so its output tells where its input was positive
            delta = _leaky_backward(upstream, self._h[i - 1], LEAKY_SLOPE, True)

    def state_dicts(self) -> list[dict[str, np.ndarray]]:
        """Per row, float64 weights named and shaped like the equivalent ``torch.nn.Sequential`` of Linear layers."""
        arrays = [p.detach().cpu().to(torch.float64).numpy() for p in self.params]
        return [
            {name: array for i in range(len(arrays) // 2)
             for name, array in ((f"layers.{i}.weight", arrays[2 * i][r].T.copy()),
                                 (f"layers.{i}.bias", arrays[2 * i + 1][r, 0].copy()))}
            for r in range(self.rows)
        ]


def log_clamped(x: torch.Tensor) -> torch.Tensor:
    """log x clamped at :data:`LOG_FLOOR`, as ``torch.nn.BCELoss`` clamps it."""
    return torch.log(x).clamp_(min=LOG_FLOOR)


def loss_and_grad(d: torch.Tensor, real: torch.Tensor, fake: torch.Tensor, *, need_loss: bool
                  ) -> tuple[torch.Tensor | None, torch.Tensor]:
    """The discriminator loss L_D = -sum_x [r log D + g log(1 - D)] per row and its gradient in D's logit.

    dL/dlogit = g D - r (1 - D) where the logarithms are not clamped (a clamped log has zero gradient, as in
    autograd through ``clamp``).
    """
    one_minus = 1 - d
    log_d, log_1md = torch.log(d), torch.log(one_minus)
    grad = fake * d * (log_1md > LOG_FLOOR) - real * one_minus * (log_d > LOG_FLOOR)
    if not need_loss:
        return None, grad
    return -(real * log_d.clamp_(min=LOG_FLOOR) + fake * log_1md.clamp_(min=LOG_FLOOR)).sum(1), grad
