"""Training of Born-sampled quantum GANs, many independent runs ("rows") as one batched torch program.

Rows share the circuit shape (ansatz, qubits, repetitions) and the discriminator architecture; each has its own
seed, initial state, target, training set, learning rates and betas. Every random draw of a row comes from that
row's own generator in a fixed order, so a row trains exactly as it would alone.

An epoch is qiskit's QGAN epoch (Zoufal, Lucchi, Woerner 2019, arXiv:1904.00043; qiskit-aqua 0.9 ``QGAN.train``):
the training set is shuffled and walked in floor(n / batch_size) batches (:mod:`autoqml.batches`); per batch one
discriminator step, then one generator step against the updated discriminator. Batches are weighted histograms
over the 2^N grid values:

.. math:: L_D = -\\sum_x \\left[ r(x) \\log D(x) + g(x) \\log(1 - D(x)) \\right], \\qquad
          L_G = -\\sum_x p_\\theta(x) \\log D(x)

where r and g are the frequencies of ``batch_size`` real samples and ``batch_size`` Born samples of the generator
(as qiskit's discriminator weights them), and p_theta are the generator's exact probabilities, so the generator
gradient is exact (qiskit's statevector objective; its finite differences approximate the same gradient). The
discriminator uses torch Adam with AMSGrad and kept state (qiskit's ``PyTorchDiscriminator``); the generator
qiskit's ADAM restarted every step, or Adam with kept state (:mod:`autoqml.optim`). Logarithms are clamped at
-100 like ``torch.nn.BCELoss``.

:func:`train_loop` is that loop with the generator side pluggable: :class:`ExactGenerator` (statevector,
autograd) here, the shot-based estimate with parameter-shift gradients in :mod:`autoqml.shots`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from qiskit import QuantumCircuit

from autoqml.batches import Batches, born_histogram
from autoqml.data import Grid
from autoqml.discriminator import BatchedMLP
from autoqml.metrics import (finite_or_none, held_out_metrics, ks_statistic, relative_entropy,
                             relative_entropy_qiskit)
from autoqml.optim import QISKIT_NOISE_FACTOR, BatchedAdam, generator_optimizer
from autoqml.simulator import StatevectorSimulator

logger = logging.getLogger(__name__)

_LOG_FLOOR = -100.0


@dataclass(frozen=True)
class Row:
    """One training run: everything that may differ between runs of one circuit shape.

    ``training_set`` holds the grid index of every training value (the epoch walk shuffles it); ``target`` is the
    distribution the metrics compare with and the with-replacement schedule draws from. ``discriminator_input``
    is what D sees for each grid point (:func:`discriminator_input`; None: the standardized grid). ``held_out``
    maps a held-out part (validation, test) to its histogram on the grid and its values, which the curves score
    against too (:func:`autoqml.metrics.held_out_metrics`, W1 at ``grid_values``).
    """

    seed: int
    target: np.ndarray
    initial_state: np.ndarray
    parameter_spread: float
    generator_lr: float
    generator_betas: tuple[float, float]
    discriminator_lr: float
    discriminator_betas: tuple[float, float]
    training_set: np.ndarray | None = None
    discriminator_input: np.ndarray | None = None
    generator_state: str = "per_step"
    generator_noise_factor: float = QISKIT_NOISE_FACTOR
    held_out: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    grid_values: np.ndarray | None = None


@dataclass
class RunResult:
    """What one row learned, with its curves (metrics after ``epoch`` epochs, losses of that epoch's last step)."""

    seed: int
    initial_parameters: np.ndarray
    parameters: np.ndarray
    generated: np.ndarray
    discriminator: dict[str, np.ndarray]
    curves: dict[str, list[float]] = field(default_factory=dict)
    schedule: dict = field(default_factory=dict)


def train_rows(
    *,
    ansatz: QuantumCircuit,
    rows: list[Row],
    widths: list[int],
    batch_size: int,
    num_epochs: int,
    log_every: int,
    steps_per_epoch: int | None = None,
    progress_every: int | None = None,
) -> list[RunResult]:
    """Train every row for ``num_epochs`` epochs; curves are recorded every ``log_every`` epochs.

    ``steps_per_epoch=None`` is qiskit's epoch walk over each row's ``training_set``; an integer makes every epoch
    that many steps with real batches drawn with replacement from the target (:mod:`autoqml.batches`).
    """
    return train_loop(ansatz=ansatz, rows=rows, widths=widths, batch_size=batch_size, num_epochs=num_epochs,
                      log_every=log_every, steps_per_epoch=steps_per_epoch, progress_every=progress_every,
                      generator=ExactGenerator)


def train_loop(
    *,
    ansatz: QuantumCircuit,
    rows: list[Row],
    widths: list[int],
    batch_size: int,
    num_epochs: int,
    log_every: int,
    steps_per_epoch: int | None,
    progress_every: int | None,
    generator: Callable[[StatevectorSimulator, torch.Tensor, torch.Tensor], GeneratorSource],
) -> list[RunResult]:
    """The training loop both trainers share: draws, discriminator step, generator step, curves, results.

    `generator` builds what supplies p_theta and the generator gradient from the compiled simulator, the
    parameters (rows, P) and the initial states: :class:`ExactGenerator` here, the shot-based one in
    :mod:`autoqml.shots`. Every draw of a row's own generator happens here, in the same order for both.

    Runs on one torch thread: the tensors are small, and OpenMP workers spin-waiting on a shared core made
    training up to 70x slower when another process was busy (measured on 2 cores).
    """
    states = {row.generator_state for row in rows}
    if len(states) != 1:
        raise ValueError(f"rows of one program share the generator's optimizer state; got {sorted(states)}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _loop(ansatz, rows, widths, batch_size, num_epochs, log_every, steps_per_epoch, progress_every,
                     generator)
    finally:
        torch.set_num_threads(threads)


def _loop(ansatz, rows, widths, batch_size, num_epochs, log_every, steps_per_epoch, progress_every,
          generator) -> list[RunResult]:
    sim = StatevectorSimulator(ansatz)
    rngs = [np.random.default_rng(row.seed) for row in rows]
    theta0 = np.stack([rng.uniform(-row.parameter_spread, row.parameter_spread, ansatz.num_parameters)
                       for row, rng in zip(rows, rngs)])
    disc = BatchedMLP(widths=widths, rngs=rngs)
    theta = torch.tensor(theta0, dtype=torch.float64, requires_grad=True)
    initial = torch.as_tensor(np.stack([row.initial_state for row in rows]))
    target = np.stack([row.target for row in rows])
    batches = Batches(rngs=rngs, targets=target, training_sets=[row.training_set for row in rows],
                      batch_size=batch_size, steps_per_epoch=steps_per_epoch, num_epochs=num_epochs)
    bins = target.shape[1]
    values = torch.as_tensor(np.stack([standardized_grid(bins) if row.discriminator_input is None
                                       else row.discriminator_input for row in rows]))

    def hyper(name: str) -> torch.Tensor:
        return torch.tensor([getattr(row, name) for row in rows], dtype=torch.float64)

    opt_g = generator_optimizer(rows[0].generator_state, [theta], lr=hyper("generator_lr"),
                                betas=hyper("generator_betas"), noise_factor=hyper("generator_noise_factor"))
    opt_d = BatchedAdam(disc.parameters, lr=hyper("discriminator_lr"), betas=hyper("discriminator_betas"))
    source = generator(sim, theta, initial)
    curves = _Curves(target, rows)
    progress_every = progress_every or max(log_every, num_epochs // 10)
    start = time.perf_counter()
    for epoch in range(num_epochs):
        observed = None
        for real, uniforms in batches.epoch():
            probs = source.probabilities()
            if observed is None and epoch % log_every == 0:
                observed = source.exact(probs)  # before the epoch's first step changes theta
            fake = born_histogram(probs.detach(), uniforms, batch_size)
            d = disc(values)
            loss_d = -(real * _log(d) + fake * _log(1 - d)).sum(1)
            opt_d.zero_grad()
            loss_d.sum().backward()
            opt_d.step()
            with torch.no_grad():
                log_d = _log(disc(values))
            opt_g.zero_grad()
            loss_g = source.backward(probs, log_d)
            opt_g.step()
        if observed is not None:
            curves.record(epoch, observed, loss_d.detach(), loss_g.detach(), sampled=source.sampled(probs))
        if (epoch + 1) % progress_every == 0:
            logger.info("epoch %d/%d  mean KL %.4f  (%.1f s)", epoch + 1, num_epochs, curves.kl[-1].mean(),
                        time.perf_counter() - start)
    with torch.no_grad():
        final = sim.probabilities(theta, initial)
    curves.record(num_epochs, final, loss_d.detach(), loss_g.detach(), sampled=source.sampled(probs))
    weights = disc.state_dicts()
    schedule = {"steps_per_epoch": batches.steps_per_epoch, "steps": batches.steps_per_epoch * num_epochs,
                "real_batches": "epoch_walk" if batches.walk else "with_replacement"}
    return [
        RunResult(row.seed, theta0[r], theta[r].detach().numpy().copy(), final[r].numpy().copy(), weights[r],
                  curves.of_row(r), schedule)
        for r, row in enumerate(rows)
    ]


class GeneratorSource(Protocol):
    """Supplies one epoch's generator distribution and, after the discriminator step, the generator gradient."""

    def probabilities(self) -> torch.Tensor:
        """p_theta(x) per row, shape (rows, 2^N): exact (differentiable) or estimated from shots."""

    def backward(self, probs: torch.Tensor, log_d: torch.Tensor) -> torch.Tensor:
        """Set ``theta.grad`` to the gradient of L_G = -sum_x p_theta(x) log D(x); return L_G per row."""

    def exact(self, probs: torch.Tensor) -> torch.Tensor:
        """Exact p_theta at the current parameters, for the KL and KS curves."""

    def sampled(self, probs: torch.Tensor) -> torch.Tensor | None:
        """The estimate the step used, when it differs from the exact distribution (else None)."""


class ExactGenerator:
    """Exact Born probabilities from the statevector simulator; the gradient by autograd through it."""

    def __init__(self, sim: StatevectorSimulator, theta: torch.Tensor, initial: torch.Tensor):
        self._sim, self._theta, self._initial = sim, theta, initial

    def probabilities(self) -> torch.Tensor:
        return self._sim.probabilities(self._theta, self._initial)

    def backward(self, probs: torch.Tensor, log_d: torch.Tensor) -> torch.Tensor:
        loss_g = -(probs * log_d).sum(1)
        loss_g.sum().backward()
        return loss_g

    def exact(self, probs: torch.Tensor) -> torch.Tensor:
        return probs.detach()

    def sampled(self, probs: torch.Tensor) -> None:
        return None


#: What the discriminator may see of a grid point x (config ``discriminator_input``).
DISCRIMINATOR_INPUTS = ("standardized", "raw")


def discriminator_input(*, kind: str, grid: Grid) -> np.ndarray:
    """The discriminator's input for every grid point: its value (``raw``, as qiskit's QGAN feeds its
    discriminator) or its index shifted and scaled to mean 0, variance 1 (``standardized``).

    Standardized is an affine map of the value, so D sees the same thing whatever the data's unit; with the trainer
    before qiskit's epochs, raw EPEX prices trained far worse (measured mean final KL over 10 runs on the acceptance
    cell: raw 2.53, [0, 1] 0.93-1.45, standardized 0.66-0.89). The README's "Decisions" has the numbers under
    qiskit's epochs.
    """
    if kind == "raw":
        return grid.values
    if kind != "standardized":
        raise ValueError(f"discriminator_input: got {kind!r}; allowed: {', '.join(DISCRIMINATOR_INPUTS)}")
    return standardized_grid(2**grid.num_qubits)


def standardized_grid(size: int) -> np.ndarray:
    """Grid indices 0..size-1 shifted and scaled to mean 0, variance 1."""
    index = np.arange(size, dtype=np.float64)
    return (index - index.mean()) / index.std()


def _log(x: torch.Tensor) -> torch.Tensor:
    return torch.log(x).clamp(min=_LOG_FLOOR)


class _Curves:
    """KL (both directions), KS and both losses per row, kept as numpy rows off the autograd graph; per row with
    held-out data also KL, KS and W1 against each held-out part (``kl_validation``, ..., ``w1_test``)."""

    def __init__(self, target: np.ndarray, rows: list[Row]):
        self._target = target
        self._rows = rows
        self.held_out: list[dict[str, list[float]]] = [{} for _ in rows]
        self.epoch: list[int] = []
        self.kl: list[np.ndarray] = []
        self.kl_qiskit: list[np.ndarray] = []
        self.ks: list[np.ndarray] = []
        self.loss_d: list[np.ndarray] = []
        self.loss_g: list[np.ndarray] = []
        self.kl_sampled: list[np.ndarray] = []

    def record(self, epoch: int, probs: torch.Tensor, loss_d: torch.Tensor, loss_g: torch.Tensor, *,
               sampled: torch.Tensor | None = None) -> None:
        q = probs.numpy()
        self.epoch.append(epoch)
        self.kl.append(np.atleast_1d(relative_entropy(target=self._target, generated=q)))
        self.kl_qiskit.append(np.atleast_1d(relative_entropy_qiskit(target=self._target, generated=q)))
        self.ks.append(np.atleast_1d(ks_statistic(target=self._target, generated=q)))
        self.loss_d.append(loss_d.numpy().copy())
        self.loss_g.append(loss_g.numpy().copy())
        if sampled is not None:
            self.kl_sampled.append(np.atleast_1d(relative_entropy(target=self._target, generated=sampled.numpy())))
        for row, curves, generated in zip(self._rows, self.held_out, q):
            for part, (histogram, data) in row.held_out.items():
                scores = held_out_metrics(generated=generated, values=row.grid_values, histogram=histogram, data=data)
                for name, value in scores.items():
                    curves.setdefault(f"{name}_{part}", []).append(float(value))

    def of_row(self, r: int) -> dict[str, list[float | None]]:
        """Row r's curves, JSON-ready: an infinite value (qiskit's KL on a target with empty bins) is None."""
        names = ("kl", "kl_qiskit", "ks", "loss_d", "loss_g", *(("kl_sampled",) if self.kl_sampled else ()))
        return {"epoch": list(self.epoch),
                **{name: [finite_or_none(v[r]) for v in getattr(self, name)] for name in names}, **self.held_out[r]}
