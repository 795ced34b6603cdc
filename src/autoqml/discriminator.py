"""The classical discriminator: a PyTorch MLP on the (standardized) sample value, one network per row.

Architecture (the paper's ``custom_classical_1`` and ``_2``): value -> ``n_input`` -> ``n_hidden``... -> 1, LeakyReLU
(slope 0.2, as qiskit-aqua's PyTorch discriminator) between layers and a sigmoid output, the probability that a
value is real. Each row's weights are drawn like ``torch.nn.Linear``'s defaults (U[-1/sqrt(fan_in), 1/sqrt(fan_in)])
from that row's own generator, so a batch of rows trains exactly as each row alone.
"""

from __future__ import annotations

import numpy as np
import torch

LEAKY_SLOPE = 0.2


class BatchedMLP:
    """Rows x layers of weights, shape (rows, out, in), evaluated on a shared set of input values."""

    def __init__(self, *, widths: list[int], rngs: list[np.random.Generator]):
        self.widths = [1, *widths, 1]
        self.weights: list[torch.Tensor] = []
        self.biases: list[torch.Tensor] = []
        for fan_in, fan_out in zip(self.widths[:-1], self.widths[1:]):
            bound = 1 / np.sqrt(fan_in)
            w = np.stack([rng.uniform(-bound, bound, size=(fan_out, fan_in)) for rng in rngs])
            b = np.stack([rng.uniform(-bound, bound, size=fan_out) for rng in rngs])
            self.weights.append(torch.tensor(w, dtype=torch.float64, requires_grad=True))
            self.biases.append(torch.tensor(b, dtype=torch.float64, requires_grad=True))

    @property
    def parameters(self) -> list[torch.Tensor]:
        return [*self.weights, *self.biases]

    def __call__(self, values: torch.Tensor) -> torch.Tensor:
        """D(values) per row: values (G,) -> probabilities (rows, G) that each value is a real sample."""
        h = values.reshape(1, -1, 1).to(torch.float64)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.matmul(h, w.transpose(1, 2)) + b[:, None, :]
            h = torch.sigmoid(h) if i == last else torch.nn.functional.leaky_relu(h, LEAKY_SLOPE)
        return h[..., 0]

    def state_dicts(self) -> list[dict[str, np.ndarray]]:
        """Per row, weights named like the equivalent ``torch.nn.Sequential`` of Linear layers."""
        rows = self.weights[0].shape[0]
        return [
            {
                **{f"layers.{i}.weight": w[r].detach().numpy().copy() for i, w in enumerate(self.weights)},
                **{f"layers.{i}.bias": b[r].detach().numpy().copy() for i, b in enumerate(self.biases)},
            }
            for r in range(rows)
        ]
