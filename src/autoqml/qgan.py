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

Two engines run that step. On the CPU the exact generator trains through the step compiled for its program's
shape (:mod:`autoqml.compiled`, ``step.cpp``: 11.9x faster than torch at the paper grid's program size in bench_cell); the
torch implementation here runs it on CUDA and with the shot-based generator (:mod:`autoqml.shots`), and is the
reference the compiled step is tested against (to 1e-10 in float64, tests/test_compiled.py). Both draw every row's
randomness from the same per-row stream, so they train on the same batches, and their states continue each other.
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
from autoqml.checkpoint import CheckpointError, TrainingState
from autoqml.compiled import CompiledStep, KernelError, Walk, circuit_arrays, kernel, seed_streams
from autoqml.data import Grid
from autoqml.discriminator import BatchedMLP, log_clamped, loss_and_grad
from autoqml.errors import CircuitError
from autoqml.metrics import finite_or_none, held_out_metrics, ks_statistic, relative_entropy, relative_entropy_qiskit
from autoqml.optim import (
    QISKIT_NOISE_FACTOR,
    adam_buffers,
    adam_state,
    discriminator_adam,
    generator_optimizer,
    load_adam_state,
)
from autoqml.simulator import StatevectorSimulator

logger = logging.getLogger(__name__)
#: The trainer's numerics; a training state is continued only by the trainer that wrote it. Bump it when what a
#: given cell trains to changes.
TRAINER = "5"


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


@dataclass(frozen=True)
class Schedule:
    """How rows train: ``num_epochs`` epochs of ``batch_size`` batches, curves every ``log_every`` epochs.

    ``steps_per_epoch=None`` is qiskit's epoch walk over each row's ``training_set``; an integer makes every epoch
    that many steps with real batches drawn with replacement from the target (:mod:`autoqml.batches`).
    ``progress_every`` epochs a line is logged (default: a tenth of the epochs).
    """

    batch_size: int
    num_epochs: int
    log_every: int
    steps_per_epoch: int | None = None
    progress_every: int | None = None


#: The discriminator's arithmetic (config ``precision``); the generator's simulation is float64 either way.
PRECISIONS = {"float64": torch.float64, "float32": torch.float32}


def torch_device(name: str) -> torch.device:
    """The device of config ``torch_device``: ``auto`` is CUDA when torch sees one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("torch_device: cuda, but torch sees no CUDA device (a CPU-only torch build, or no GPU "
                         "here); use cpu or auto")
    return torch.device(name)


#: How a training's steps run (``Training(engine=...)``): compiled for the CPU, or torch (CUDA, the reference).
ENGINES = ("auto", "compiled", "torch")


def _engine(name: str, device: torch.device, generator) -> str:
    """``auto``: the compiled step for the exact generator on the CPU, torch otherwise."""
    if name not in ENGINES:
        raise ValueError(f"engine: got {name!r}; allowed: {', '.join(ENGINES)}")
    fits = device.type == "cpu" and generator is None
    if name == "compiled" and not fits:
        raise ValueError("the compiled step trains the exact generator on the CPU; use engine torch for "
                         f"{'a CUDA device' if device.type != 'cpu' else 'a shot-based generator'}")
    if name == "auto":
        return "compiled" if fits else "torch"
    return name


def train_rows(*, ansatz: QuantumCircuit, rows: list[Row], widths: list[int], schedule: Schedule,
               precision: str = "float64", device: str = "cpu", generator=None, engine: str = "auto"
               ) -> list[RunResult]:
    """Train every row for the schedule's epochs; the results after the last epoch (`generator`, `engine`: as
    :class:`Training`'s)."""
    training = Training(ansatz=ansatz, rows=rows, widths=widths, schedule=schedule, precision=precision,
                        device=device, generator=generator, engine=engine)
    training.run()
    return training.results()


class Training:
    """Rows of one circuit shape and one discriminator setup trained as one batched program, resumable.

    Built fresh, or from a :class:`autoqml.checkpoint.TrainingState` of the same rows (``state``), it trains epoch
    by epoch (:meth:`run`) and tells, after any epoch, the rows' results (:meth:`results`) and its own state
    (:meth:`state`). Continuing from a state gives the numbers of training straight through.

    `generator` builds what supplies p_theta and the generator gradient from the compiled simulator, the
    parameters (rows, P) and the initial states: :class:`ExactGenerator` here, the shot-based one in
    :mod:`autoqml.shots`. Every draw of a row's own stream happens in the same order for both. The
    discriminator runs in ``precision`` on ``device``; rows share its learning rate and betas. `engine`
    (:data:`ENGINES`): ``auto`` trains the exact generator on the CPU with the compiled step, anything else with
    torch.
    """

    def __init__(self, *, ansatz: QuantumCircuit, rows: list[Row], widths: list[int], schedule: Schedule,
                 precision: str = "float64", device: str = "cpu",
                 generator: Callable[[StatevectorSimulator, torch.Tensor, torch.Tensor], GeneratorSource]
                 = None, state: TrainingState | None = None, engine: str = "auto"):
        _check_shared(rows, precision)
        self.rows, self.schedule, self.device = rows, schedule, torch_device(device)
        self.engine = _engine(engine, self.device, generator)
        self.sim = StatevectorSimulator(ansatz).to(self.device)
        rngs = [np.random.default_rng(row.seed) for row in rows]
        theta0 = np.stack([rng.uniform(-row.parameter_spread, row.parameter_spread, ansatz.num_parameters)
                           for row, rng in zip(rows, rngs)])
        bins = rows[0].target.shape[0]
        values = np.stack([standardized_grid(bins) if row.discriminator_input is None else row.discriminator_input
                           for row in rows])
        self.disc = BatchedMLP(widths=widths, rngs=rngs, values=torch.as_tensor(values),
                               dtype=PRECISIONS[precision], device=self.device)
        # every later draw of a row comes from its own stream, seeded by its generator after the initial values
        self._streams = seed_streams([int(rng.integers(2**63)) for rng in rngs])
        self.theta0 = theta0
        self.theta = torch.tensor(theta0, dtype=torch.float64, device=self.device)
        initial = torch.as_tensor(np.stack([row.initial_state for row in rows])).to(self.device)
        self._target = np.ascontiguousarray(np.stack([row.target for row in rows]), dtype=np.float64)
        self._batches = Batches(streams=self._streams, targets=self._target,
                                training_sets=[row.training_set for row in rows], batch_size=schedule.batch_size,
                                steps_per_epoch=schedule.steps_per_epoch)

        def hyper(name: str) -> torch.Tensor:
            return torch.tensor([getattr(row, name) for row in rows], dtype=torch.float64, device=self.device)

        self._opt_g = generator_optimizer(rows[0].generator_state, [self.theta], lr=hyper("generator_lr"),
                                          betas=hyper("generator_betas"),
                                          noise_factor=hyper("generator_noise_factor"))
        self._opt_d = discriminator_adam([self.disc.flat], [self.disc.flat_grad], lr=rows[0].discriminator_lr,
                                         betas=tuple(rows[0].discriminator_betas))
        self._source = (generator or ExactGenerator)(self.sim, self.theta, initial)
        self._curves = _Curves(self._target, rows)
        self._losses: tuple[torch.Tensor, torch.Tensor] | None = None
        self._probs: torch.Tensor | None = None
        self.epoch = self.started = 0
        if state is not None:
            self._load(state)
        self._compiled = self._bind(values, widths, precision) if self.engine == "compiled" else None

    def _bind(self, values: np.ndarray, widths: list[int], precision: str) -> CompiledStep:
        """The compiled step over this training's own arrays (numpy views of its tensors, trained in place)."""
        rows, sim = self.rows, self.sim
        lib = kernel(grid=self._target.shape[1], widths=tuple(widths), real=sim.is_real, precision=precision)
        if lib.kernel_disc_params() > self.disc.flat.shape[1]:
            raise KernelError("the compiled discriminator does not fit the weights' layout")
        dtype = self.disc.flat.numpy().dtype
        initial = np.stack([row.initial_state for row in rows])
        if sim.is_real and np.iscomplexobj(initial) and np.abs(initial.imag).max() > 1e-10:
            raise CircuitError("a complex initial state needs a circuit simulated in complex arithmetic")
        initial = np.ascontiguousarray(initial.real if sim.is_real else initial.astype(np.complex128))
        moments = adam_buffers(self._opt_d)
        generator = dict(zip(("g_m", "g_v", "g_vmax"), (t.numpy() for t in self._opt_g.moments())))
        self._counts = np.zeros(2, dtype=np.int64)  # the optimizers' step counts, as the step reads them
        self._loss = np.zeros((2, len(rows)))
        walk = self._batches.walk
        arrays = {**circuit_arrays(sim.gates, real=sim.is_real), "initial": initial, "theta": self.theta.numpy(),
                  **{key: np.array([getattr(row, name) for row in rows], dtype=np.float64) for key, name in
                     (("g_lr", "generator_lr"), ("g_noise", "generator_noise_factor"))},
                  "g_b1": np.array([row.generator_betas[0] for row in rows], dtype=np.float64),
                  "g_b2": np.array([row.generator_betas[1] for row in rows], dtype=np.float64),
                  "g_m": None, "g_v": None, "g_vmax": None, **generator, "g_step": self._counts[1:],
                  "x": np.ascontiguousarray(values, dtype=dtype), "w": self.disc.flat.numpy(),
                  **{key: tensor.numpy() for key, tensor in zip(("d_m", "d_v", "d_vmax"), moments)},
                  "d_step": self._counts[:1], "rng": self._streams,
                  **(self._batches.walk_arrays.fields() if walk else dict.fromkeys(Walk.FIELDS)),
                  "target": None if walk else self._target,
                  "loss_d": self._loss[0], "loss_g": self._loss[1], "probs_first": None}
        group = self._opt_d.param_groups[0]
        scalars = {"rows": len(rows), "params": sim.num_parameters, "batch": self.schedule.batch_size,
                   "n_set": 0 if not walk else self._batches.walk_arrays.sets.shape[1], "walk": int(walk),
                   "n_ops": len(sim.gates), "persistent": int(rows[0].generator_state == "persistent"),
                   "width": self.disc.flat.shape[1], "d_lr": group["lr"], "d_b1": group["betas"][0],
                   "d_b2": group["betas"][1], "d_eps": group["eps"]}
        return CompiledStep(lib, arrays, scalars)

    @property
    def steps_per_epoch(self) -> int:
        return self._batches.steps_per_epoch

    def run(self, until: int | None = None, *, checkpoint: Callable[[Training], None] | None = None,
            every: int = 0) -> None:
        """Train up to epoch `until` (default: the schedule's last); every `every` epochs before that, call
        `checkpoint` with this training (to save its state).

        Runs on one torch thread: the tensors are small, and OpenMP workers spin-waiting on a shared core made
        training up to 70x slower when another process was busy (measured on 2 cores).
        """
        until = self.schedule.num_epochs if until is None else until
        if not self.epoch <= until <= self.schedule.num_epochs:
            raise ValueError(f"cannot train from epoch {self.epoch} to {until} (schedule: "
                             f"{self.schedule.num_epochs} epochs)")
        progress_every = self.schedule.progress_every or max(self.schedule.log_every, self.schedule.num_epochs // 10)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        start = time.perf_counter()
        try:
            while self.epoch < until:
                self._train_epoch()
                self.epoch += 1
                if self.epoch % progress_every == 0:
                    logger.info("epoch %d/%d  mean KL %.4f  (%.1f s)", self.epoch, self.schedule.num_epochs,
                                np.mean([c["kl"][-1] for c in self._curves.rows]), time.perf_counter() - start)
                if checkpoint is not None and every and self.epoch % every == 0 and self.epoch < until:
                    checkpoint(self)
        finally:
            torch.set_num_threads(threads)

    def _train_epoch(self) -> None:
        if self._compiled is not None:
            return self._train_epoch_compiled()
        epoch, batch_size = self.epoch, self.schedule.batch_size
        source, disc = self._source, self.disc
        observed = None
        last = self.steps_per_epoch - 1
        for step, (real, uniforms) in enumerate(self._batches.epoch()):
            probs = source.probabilities()
            if observed is None and epoch % self.schedule.log_every == 0:
                observed = source.exact(probs)  # before the epoch's first step changes theta
            fake = born_histogram(probs.detach(), uniforms.to(self.device), batch_size)
            d = disc.d if disc.d is not None else disc.forward()  # D is unchanged since the last generator step
            loss_d, grad = loss_and_grad(d, *disc.pad(real.to(self.device), fake), need_loss=step == last)
            disc.backward(grad)
            self._opt_d.step()
            log_d = log_clamped(disc.forward())[:, : disc.size].to(torch.float64)
            self._opt_g.zero_grad()
            loss_g = source.backward(probs, log_d)
            self._opt_g.step()
        self._probs = probs
        self._losses = (loss_d, loss_g.detach())
        if observed is not None:
            self._curves.append(self._curves.points(epoch, observed, *self._losses,
                                                    sampled=source.sampled(probs)))

    def _train_epoch_compiled(self) -> None:
        steps = self.steps_per_epoch
        observe = np.empty_like(self._target) if self.epoch % self.schedule.log_every == 0 else None
        state = self._opt_d.state[self.disc.flat]
        self._counts[:] = int(state["step"]), self._opt_g.steps
        self._compiled.run(steps, first=0, want_loss=True, observe=observe)
        state["step"] += steps
        self._opt_g.steps += steps
        self._losses = (torch.tensor(self._loss[0]), torch.tensor(self._loss[1]))
        if observe is not None:
            self._curves.append(self._curves.points(self.epoch, torch.from_numpy(observe), *self._losses))

    def results(self) -> list[RunResult]:
        """Every row's result after the epochs trained so far (the curves end with this epoch)."""
        if self._losses is None:
            raise ValueError("no epoch trained yet")
        with torch.no_grad():
            final = self.sim.probabilities(self.theta, self._source.initial)
        last = self._curves.points(self.epoch, final, *self._losses, sampled=self._source.sampled(self._probs))
        weights = self.disc.state_dicts()
        theta = self.theta.detach().cpu().numpy()
        final = final.cpu().numpy()
        schedule = {"steps_per_epoch": self.steps_per_epoch, "steps": self.steps_per_epoch * self.epoch,
                    "real_batches": "epoch_walk" if self._batches.walk else "with_replacement",
                    "epochs": self.epoch, "resumed_from": self.started}
        return [RunResult(row.seed, self.theta0[r], theta[r].copy(), final[r].copy(), weights[r],
                          self._curves.of_row(r, last[r]), schedule)
                for r, row in enumerate(self.rows)]

    def state(self) -> TrainingState:
        """The state after the epochs trained so far, to continue from with ``Training(..., state=...)``."""
        opt_d, opt_d_step = adam_state(self._opt_d)
        opt_g, opt_g_step = self._opt_g.state()
        loss_d, loss_g = self._losses if self._losses is not None else (None, None)
        arrays = {"theta0": self.theta0, "theta": self.theta.detach().cpu().numpy().copy(),
                  "disc": self.disc.flat.cpu().numpy().copy(),
                  **{f"opt_d.{k}": v for k, v in opt_d.items()}, **{f"opt_g.{k}": v for k, v in opt_g.items()},
                  "streams": self._streams.copy()}
        if loss_d is not None:
            arrays |= {"loss_d": loss_d.cpu().numpy().copy(), "loss_g": loss_g.cpu().numpy().copy()}
        rows = [{"seed": row.seed, "curves": curves} for row, curves in zip(self.rows, self._curves.rows)]
        meta = {"opt_d_step": opt_d_step, "opt_g_step": opt_g_step}
        return TrainingState(self.epoch, self.steps_per_epoch * self.epoch, arrays, meta, rows)

    def _load(self, state: TrainingState) -> None:
        if state.seeds != [row.seed for row in self.rows]:
            raise CheckpointError(f"the state holds runs with seeds {state.seeds}, not this training's "
                                  f"{[row.seed for row in self.rows]}")
        if state.epoch > self.schedule.num_epochs or state.steps != self.steps_per_epoch * state.epoch:
            raise CheckpointError(f"a state after {state.epoch} epochs ({state.steps} steps) does not fit "
                                  f"{self.schedule.num_epochs} epochs of {self.steps_per_epoch} steps")
        arrays = state.arrays
        self.theta0 = arrays["theta0"]
        with torch.no_grad():
            self.theta.copy_(torch.as_tensor(arrays["theta"]))
            self.disc.flat.copy_(torch.as_tensor(arrays["disc"]))
        prefixed = lambda prefix: {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}  # noqa: E731
        load_adam_state(self._opt_d, prefixed("opt_d."), state.meta["opt_d_step"])
        self._opt_g.load(prefixed("opt_g."), state.meta["opt_g_step"])
        self._streams[:] = arrays["streams"]
        self._curves.rows = [row["curves"] for row in state.rows]
        if "loss_d" in arrays:
            self._losses = (torch.as_tensor(arrays["loss_d"]), torch.as_tensor(arrays["loss_g"]))
        self.epoch = self.started = state.epoch


def _check_shared(rows: list[Row], precision: str) -> None:
    """Rows of one program share the generator's optimizer state kind and the discriminator's hyperparameters."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision: got {precision!r}; allowed: {', '.join(PRECISIONS)}")
    for name in ("generator_state", "discriminator_lr", "discriminator_betas"):
        values = {getattr(row, name) for row in rows}
        if len(values) != 1:
            raise ValueError(f"rows of one program share {name}; got {sorted(values)}")


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
    """Exact Born probabilities from the statevector simulator; the gradient by its adjoint pass."""

    def __init__(self, sim: StatevectorSimulator, theta: torch.Tensor, initial: torch.Tensor):
        self._sim, self._theta, self.initial = sim, theta, initial
        self._pullback = None

    def probabilities(self) -> torch.Tensor:
        probs, self._pullback = self._sim.probabilities_and_pullback(self._theta, self.initial)
        return probs

    def backward(self, probs: torch.Tensor, log_d: torch.Tensor) -> torch.Tensor:
        self._theta.grad = self._pullback(-log_d)
        return -(probs * log_d).sum(1)

    def exact(self, probs: torch.Tensor) -> torch.Tensor:
        return probs

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


class _Curves:
    """Per row: KL (both directions), KS and both losses, and with held-out data also KL, KS and W1 against each
    held-out part (``kl_validation``, ..., ``w1_test``), as plain lists (a checkpoint stores them as they are)."""

    def __init__(self, target: np.ndarray, rows: list[Row]):
        self._target = target
        self._rows = rows
        self.rows: list[dict[str, list[float]]] = [{} for _ in rows]

    def points(self, epoch: int, probs: torch.Tensor, loss_d: torch.Tensor, loss_g: torch.Tensor, *,
               sampled: torch.Tensor | None = None) -> list[dict[str, float]]:
        """Every row's metrics of `probs` after `epoch` epochs, with the losses of that epoch's last step."""
        q = probs.detach().cpu().numpy()
        columns = {"kl": relative_entropy(target=self._target, generated=q),
                   "kl_qiskit": relative_entropy_qiskit(target=self._target, generated=q),
                   "ks": ks_statistic(target=self._target, generated=q),
                   "loss_d": loss_d.cpu().numpy(), "loss_g": loss_g.cpu().numpy()}
        if sampled is not None:
            columns["kl_sampled"] = relative_entropy(target=self._target, generated=sampled.cpu().numpy())
        points = []
        for r, (row, generated) in enumerate(zip(self._rows, q)):
            point = {"epoch": epoch, **{name: float(np.atleast_1d(values)[r]) for name, values in columns.items()}}
            for part, (histogram, data) in row.held_out.items():
                scores = held_out_metrics(generated=generated, values=row.grid_values, histogram=histogram, data=data)
                point |= {f"{name}_{part}": float(value) for name, value in scores.items()}
            points.append(point)
        return points

    def append(self, points: list[dict[str, float]]) -> None:
        for curves, point in zip(self.rows, points):
            for name, value in point.items():
                curves.setdefault(name, []).append(value)

    def of_row(self, r: int, last: dict[str, float]) -> dict[str, list[float | None]]:
        """Row r's curves ending with `last`, JSON-ready: an infinite value (qiskit's KL on a target with empty
        bins) is None."""
        curves = {name: [*self.rows[r].get(name, []), value] for name, value in last.items()}
        return {name: values if name == "epoch" else [finite_or_none(v) for v in values]
                for name, values in curves.items()}
