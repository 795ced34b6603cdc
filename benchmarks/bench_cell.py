"""Time one qGAN cell with our batched trainer, against its arithmetic floor and two peers a user would pick instead.

The cell is the acceptance cell of ``tests/configs/epex_done_when.yaml`` (2015 EPEX 00:00-01:00 prices, zoufal N=5
k=2, uniform, 10 runs, custom_classical_1). Ours trains ``--rows`` runs at once with :func:`autoqml.qgan.train_rows`:
by default as many as the paper grid (``config/paper.json``) puts in the program of this cell's shape
(:func:`common.program_rows`), the cell's 10 runs and further runs of it with their own seeds. The floor is the
step's discriminator products timed as torch.bmm at ours' shapes, rows and dtype (:mod:`floor`), in this process.

The peers train one run at a time, running the same training step (one discriminator and one generator update on
histogram batches, discriminator on the standardized grid, as train_rows; torch Adam with AMSGrad for both, which
costs the same as qiskit's restarted ADAM):

* the reference: qiskit-machine-learning's ``SamplerQNN`` + ``TorchConnector`` with their defaults (exact
  QMLSampler, parameter-shift gradient);
* PennyLane: the same circuit transcribed gate by gate into a QNode returning ``qml.probs``
  (:mod:`pennylane_peer`), by default ``default.qubit`` with backprop through torch: measured as fast as
  ``lightning.qubit`` with adjoint gradients on one thread and faster with torch's default threads, which the peers
  run with (``--pennylane`` picks another).

Ours runs qiskit's epochs (39 steps each at the cell's 20,000 samples and batch 512). The peers are too slow for the
whole cell, so they are timed on a few runs and steps; all are reported per seed-step, all timed in this process,
each after a warm-up.

Run: ``python benchmarks/bench_cell.py`` (smoke: ``--epochs 1 --ref-steps 2 --ref-runs 1 --rows 12``). The last line is
``RESULT ours=<s> floor=<s> reference=<s> ratio=<reference/ours>x pennylane=<s> pennylane_ratio=<pennylane/ours>x
floor_ratio=<ours/floor>x torch=<s> torch_ratio=<torch/ours>x``, seconds per seed-step; ours is the compiled step
(``engine: auto`` on the CPU), torch the same step in our torch implementation (the CUDA path), timed on
``--torch-epochs`` epochs.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time
from collections.abc import Callable, Iterable
from importlib.metadata import version
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from common import REPO, machine_line, program_rows
from floor import measure_floor
from qiskit_machine_learning.connectors import TorchConnector
from qiskit_machine_learning.neural_networks import SamplerQNN

from autoqml.circuits import Generator
from autoqml.config import parse_text, validate_config
from autoqml.discriminator import LEAKY_SLOPE, log_clamped
from autoqml.grid import Cell, expand
from autoqml.qgan import PRECISIONS, Row, RunResult, Schedule, standardized_grid, train_rows
from autoqml.simulator import StatevectorSimulator, initial_state
from autoqml.train import prepare, run_seed

CONFIG = REPO / "tests" / "configs" / "epex_done_when.yaml"
WARMUP_EPOCHS = 1


def load_cell(data: str, epochs: int) -> Cell:
    """The acceptance cell, reading `data` and training `epochs` epochs (both enter the cell id, hence the seeds)."""
    cfg = parse_text(CONFIG.read_text(), source=str(CONFIG))
    cfg["distributions"][0]["data_path"] = data
    cfg["num_epochs"] = epochs
    (cell,) = expand(validate_config(cfg, source=str(CONFIG)))
    return cell


def replicate(cell: Cell, rows: list[Row], count: int) -> list[Row]:
    """`count` runs of `cell`: its own rows, then further ones with the seeds its later runs would have."""
    root = cell.params["seed"]
    return [dataclasses.replace(rows[r % len(rows)], seed=run_seed(root=root, cell_id=cell.id, run=r))
            for r in range(count)]


def train_ours(cell: Cell, generator: Generator, rows: list[Row], epochs: int, engine: str = "auto"
               ) -> tuple[list[RunResult], float]:
    """All rows for `epochs` epochs in one batch, as the workflow trains a program; returns results and seconds."""
    p = cell.params
    start = time.perf_counter()
    runs = train_rows(ansatz=generator.ansatz, rows=rows,
                      widths=[p["discriminator"]["n_input"], *p["discriminator"]["n_hidden"]],
                      schedule=Schedule(batch_size=p["batch_size"], num_epochs=epochs, log_every=p["log_every"]),
                      precision=p["precision"], engine=engine)
    return runs, time.perf_counter() - start


class PeerGenerator(Protocol):
    """One run's generator in a peer library: its parameters, p_theta and L_G = -sum_x p_theta(x) log D(x)."""

    def parameters(self) -> Iterable[torch.Tensor]: ...

    def probabilities(self) -> torch.Tensor: ...

    def loss(self, probs: torch.Tensor, log_d: torch.Tensor) -> torch.Tensor: ...


@dataclasses.dataclass
class ConnectedQNN:
    """The reference generator: a TorchConnector whose output, the probabilities, autograd differentiates."""

    module: torch.nn.Module

    def parameters(self) -> Iterable[torch.Tensor]:
        return self.module.parameters()

    def probabilities(self) -> torch.Tensor:
        return self.module().double()

    def loss(self, probs: torch.Tensor, log_d: torch.Tensor) -> torch.Tensor:
        return -(probs * log_d).sum()


def reference_qnn(generator: Generator) -> SamplerQNN:
    """SamplerQNN with every default (sampler, gradient): probabilities over 2^N, measurements added by it."""
    circuit = generator.circuit
    return SamplerQNN(circuit=circuit, input_params=[], weight_params=circuit.parameters, sparse=False)


def _standardized(size: int) -> torch.Tensor:
    """The grid indices scaled to mean 0, variance 1, one per row: what ours feeds its discriminator."""
    return torch.as_tensor(standardized_grid(size))[:, None]


def train_reference(qnn: SamplerQNN, cell: Cell, row: Row, steps: int) -> float:
    """`steps` training steps of one run with the reference generator (:func:`train_peer`); returns seconds."""
    return train_peer(lambda theta0: ConnectedQNN(TorchConnector(qnn, initial_weights=theta0)), cell, row, steps,
                      num_parameters=qnn.num_weights)


def train_peer(make: Callable[[np.ndarray], PeerGenerator], cell: Cell, row: Row, steps: int, *,
               num_parameters: int) -> float:
    """`steps` training steps of one run as train_rows makes them, the generator from `make`; returns seconds.

    Real and fake batches are histograms of ``batch_size`` draws from the target and from the generator's
    probabilities; the discriminator steps on the weighted BCE, then the generator on -sum p log D.
    """
    p = cell.params
    start = time.perf_counter()
    rng = np.random.default_rng(row.seed)
    torch.manual_seed(row.seed)
    theta0 = rng.uniform(-row.parameter_spread, row.parameter_spread, num_parameters)
    gen = make(theta0)
    widths = [1, p["discriminator"]["n_input"], *p["discriminator"]["n_hidden"]]
    layers: list[torch.nn.Module] = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.LeakyReLU(LEAKY_SLOPE)]
    disc = torch.nn.Sequential(*layers, torch.nn.Linear(widths[-1], 1), torch.nn.Sigmoid()).double()
    opt_g = torch.optim.Adam(gen.parameters(), lr=row.generator_lr, betas=row.generator_betas, amsgrad=True)
    opt_d = torch.optim.Adam(disc.parameters(), lr=row.discriminator_lr, betas=row.discriminator_betas, amsgrad=True)
    values = _standardized(len(row.target))
    batch = p["batch_size"]
    for _ in range(steps):
        real = torch.as_tensor(rng.multinomial(batch, row.target) / batch)
        probs = gen.probabilities().double()
        q = probs.detach().numpy()
        fake = torch.as_tensor(rng.multinomial(batch, q / q.sum()) / batch)
        d = disc(values)[:, 0]
        loss_d = -(real * log_clamped(d) + fake * log_clamped(1 - d)).sum()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        with torch.no_grad():
            log_d = log_clamped(disc(values)[:, 0])
        loss_g = gen.loss(probs, log_d)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    return time.perf_counter() - start


def time_peer(train: Callable[[Row, int], float], rows: list[Row], steps: int) -> tuple[float, float]:
    """Seconds per seed-step of a peer over `rows` x `steps` (after a 2-step warm-up), and the seconds timed."""
    train(rows[0], 2)
    seconds = sum(train(row, steps) for row in rows)
    return seconds / (len(rows) * steps), seconds


def agreement(qnn: SamplerQNN, generator: Generator, run: RunResult, pennylane) -> dict[str, float]:
    """Max abs differences between ours and the peers at one trained parameter vector."""
    theta = run.parameters
    psi0 = torch.as_tensor(initial_state(generator.initial))[None]
    sim = StatevectorSimulator(generator.ansatz)
    jacobian = torch.autograd.functional.jacobian(lambda t: sim.probabilities(t[None], psi0)[0], torch.tensor(theta))
    _, shift = qnn.backward(None, theta)
    connector = TorchConnector(qnn, initial_weights=theta)().detach().double().numpy()
    return {
        "probs (SamplerQNN.forward, float64)": float(np.abs(qnn.forward(None, theta)[0] - run.generated).max()),
        "probs (TorchConnector, float32)": float(np.abs(connector - run.generated).max()),
        "jacobian (parameter shift vs autograd)": float(np.abs(shift[0] - jacobian.numpy()).max()),
        f"probs (PennyLane {pennylane.method})": float(np.abs(
            pennylane.probabilities().detach().numpy() - run.generated).max()),
    }


def main() -> None:
    from pennylane_peer import DEFAULT_METHOD, METHODS, PennyLaneGenerator

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/epex_de_2015_h00.csv",
                        help="EPEX 2015 00:00-01:00 CSV; a relative path is taken from the repository root")
    parser.add_argument("--epochs", type=int, default=50, help="epochs of our trainer (all rows)")
    parser.add_argument("--rows", type=int, help="rows ours trains in one program (default: as many as the paper "
                        "grid puts in the program of this cell's shape)")
    parser.add_argument("--torch-epochs", type=int, default=5, help="epochs of our torch implementation")
    parser.add_argument("--ref-steps", type=int, default=20, help="training steps timed per peer run (both peers)")
    parser.add_argument("--ref-runs", type=int, default=2, help="peer runs timed (the cell's first ones)")
    parser.add_argument("--pennylane", choices=METHODS, default=DEFAULT_METHOD, help="PennyLane device:diff_method")
    parser.add_argument("--floor-repeats", type=int, default=5, help="timings per product shape (best one counts)")
    args = parser.parse_args()

    os.chdir(REPO)  # the config's relative data path, so the defaults give the acceptance cell's id and seeds
    cell = load_cell(args.data, args.epochs)
    prepared = prepare(cell)
    generator = prepared.generator
    count = args.rows or program_rows(like=cell)
    rows = replicate(cell, prepared.rows, count)
    qnn = reference_qnn(generator)
    print(machine_line())
    print("versions: python " + platform.python_version() + ", " + ", ".join(
        f"{lib} {version(lib)}" for lib in ("autoqml", "qiskit", "qiskit-machine-learning", "pennylane",
                                            "pennylane-lightning", "torch", "numpy")))
    print(f"cell: {cell.id} {cell.label}; {len(prepared.rows)} runs, batch {cell.params['batch_size']}, "
          f"{generator.num_parameters} parameters, data {Path(args.data).resolve()}")
    print(f"rows: {len(rows)} in one program ({'--rows' if args.rows else 'as the paper grid batches this shape'})")
    print(f"reference: SamplerQNN defaults: sampler {type(qnn.sampler).__name__} "
          f"(default_shots={qnn.sampler.options.default_shots}: None = exact statevector probabilities), "
          f"gradient {type(qnn.gradient).__name__}; generator weights float32 (TorchConnector)")

    train_ours(cell, generator, rows, min(WARMUP_EPOCHS, args.epochs))
    runs, ours_s = train_ours(cell, generator, rows, args.epochs)
    steps = runs[0].schedule["steps"]
    ours = ours_s / (len(rows) * steps)
    print(f"ours: {len(rows)} runs x {args.epochs} epochs x {runs[0].schedule['steps_per_epoch']} steps in "
          f"{ours_s:.2f} s (batched) -> {ours:.3g} s/seed-step")

    train_ours(cell, generator, rows, min(WARMUP_EPOCHS, args.torch_epochs), engine="torch")
    torch_runs, torch_s = train_ours(cell, generator, rows, args.torch_epochs, engine="torch")
    in_torch = torch_s / (len(rows) * torch_runs[0].schedule["steps"])
    print(f"ours in torch: {len(rows)} runs x {args.torch_epochs} epochs in {torch_s:.2f} s (batched, "
          f"engine torch) -> {in_torch:.3g} s/seed-step")

    disc = cell.params["discriminator"]
    dtype = PRECISIONS[cell.params["precision"]]  # the discriminator's arithmetic, as ours trains
    floor = measure_floor(rows=len(rows), grid_size=len(prepared.target), widths=[disc["n_input"], *disc["n_hidden"]],
                          dtype=dtype, repeats=args.floor_repeats)
    print(floor.describe())

    timed = prepared.rows[: args.ref_runs]
    reference, ref_s = time_peer(lambda row, n: train_reference(qnn, cell, row, n), timed, args.ref_steps)
    print(f"reference: {len(timed)} runs x {args.ref_steps} steps in {ref_s:.2f} s (one run at a time) -> "
          f"{reference:.3g} s/seed-step, extrapolated to the cell: {reference * len(prepared.rows) * steps:.0f} s")

    circuit = generator.circuit
    pennylane, pl_s = time_peer(
        lambda row, n: train_peer(lambda theta0: PennyLaneGenerator(circuit, theta0, method=args.pennylane), cell,
                                  row, n, num_parameters=circuit.num_parameters), timed, args.ref_steps)
    print(f"pennylane: {args.pennylane}, {len(timed)} runs x {args.ref_steps} steps in {pl_s:.2f} s (one run at a "
          f"time) -> {pennylane:.3g} s/seed-step, extrapolated to the cell: "
          f"{pennylane * len(prepared.rows) * steps:.0f} s")

    kl = np.array([run.curves["kl"][-1] for run in runs])
    print(f"sanity: ours KL after {args.epochs} epochs: mean {kl.mean():.4f} +- {kl.std(ddof=1):.4f}, "
          f"min {kl.min():.4f}")
    probe = PennyLaneGenerator(circuit, runs[0].parameters, method=args.pennylane)
    for name, diff in agreement(qnn, generator, runs[0], probe).items():
        print(f"sanity: max abs diff ours vs peer, {name}: {diff:.2e}")
    print(f"RESULT ours={ours:.3g} floor={floor.seconds:.3g} reference={reference:.3g} ratio={reference / ours:.0f}x "
          f"pennylane={pennylane:.3g} pennylane_ratio={pennylane / ours:.0f}x floor_ratio={ours / floor.seconds:.2f}x "
          f"torch={in_torch:.3g} torch_ratio={in_torch / ours:.1f}x")


if __name__ == "__main__":
    main()
