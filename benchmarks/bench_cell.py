"""Time one qGAN cell with our batched trainer and with qiskit-machine-learning's SamplerQNN as the reference.

The cell is the acceptance cell of ``tests/configs/epex_done_when.yaml`` (2015 EPEX 00:00-01:00 prices, zoufal N=5
k=2, uniform, 10 runs, custom_classical_1). Ours trains all runs at once with :func:`autoqml.qgan.train_rows`; the
reference trains one run at a time with ``SamplerQNN`` + ``TorchConnector`` and their defaults (exact QMLSampler,
parameter-shift gradient), running the same training step (one discriminator and one generator update on
histogram batches, discriminator on the standardized grid, as train_rows; the reference's generator uses torch
Adam, which costs the same as qiskit's restarted ADAM). Ours runs qiskit's epochs (39 steps each at the cell's
20,000 samples and batch 512). The reference is too slow for the whole cell, so it is timed on a few runs and
steps; both are reported per seed-step, both timed in this process, each after a warm-up.

Run: ``python benchmarks/bench_cell.py`` (smoke: ``--epochs 2 --ref-steps 3 --ref-runs 1``).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from qiskit_machine_learning.connectors import TorchConnector
from qiskit_machine_learning.neural_networks import SamplerQNN

from autoqml.circuits import Generator
from autoqml.config import parse_text, validate_config
from autoqml.discriminator import LEAKY_SLOPE
from autoqml.grid import Cell, expand
from autoqml.qgan import Row, RunResult, train_rows
from autoqml.simulator import StatevectorSimulator, initial_state
from autoqml.train import prepare

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "tests" / "configs" / "epex_done_when.yaml"
WARMUP_EPOCHS = 1
_LOG_FLOOR = -100.0  # as torch.nn.BCELoss and autoqml.qgan


def load_cell(data: str, epochs: int) -> Cell:
    """The acceptance cell, reading `data` and training `epochs` epochs (both enter the cell id, hence the seeds)."""
    cfg = parse_text(CONFIG.read_text(), source=str(CONFIG))
    cfg["distributions"][0]["data_path"] = data
    cfg["num_epochs"] = epochs
    (cell,) = expand(validate_config(cfg, source=str(CONFIG)))
    return cell


def train_ours(cell: Cell, generator: Generator, rows: list[Row], epochs: int) -> tuple[list[RunResult], float]:
    """All rows for `epochs` epochs in one batch, as the workflow trains a cell; returns results and seconds."""
    p = cell.params
    start = time.perf_counter()
    runs = train_rows(ansatz=generator.ansatz, rows=rows,
                      widths=[p["discriminator"]["n_input"], *p["discriminator"]["n_hidden"]],
                      batch_size=p["batch_size"], num_epochs=epochs, log_every=p["log_every"])
    return runs, time.perf_counter() - start


def reference_qnn(generator: Generator) -> SamplerQNN:
    """SamplerQNN with every default (sampler, gradient): probabilities over 2^N, measurements added by it."""
    circuit = generator.circuit
    return SamplerQNN(circuit=circuit, input_params=[], weight_params=circuit.parameters, sparse=False)


def _standardized(size: int) -> torch.Tensor:
    """The grid indices scaled to mean 0, variance 1: what train_rows feeds its discriminator."""
    index = torch.arange(size, dtype=torch.float64)
    return ((index - index.mean()) / index.std(correction=0))[:, None]


def _log(x: torch.Tensor) -> torch.Tensor:
    return torch.log(x).clamp(min=_LOG_FLOOR)


def train_reference(qnn: SamplerQNN, cell: Cell, row: Row, steps: int) -> float:
    """`steps` training steps of one run as train_rows makes them, with the reference generator; returns seconds.

    Real and fake batches are histograms of ``batch_size`` draws from the target and from the generator's
    probabilities; the discriminator steps on the weighted BCE, then the generator on -sum p log D.
    """
    p = cell.params
    start = time.perf_counter()
    rng = np.random.default_rng(row.seed)
    torch.manual_seed(row.seed)
    theta0 = rng.uniform(-row.parameter_spread, row.parameter_spread, qnn.num_weights)
    gen = TorchConnector(qnn, initial_weights=theta0)
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
        probs = gen().double()
        q = probs.detach().numpy()
        fake = torch.as_tensor(rng.multinomial(batch, q / q.sum()) / batch)
        d = disc(values)[:, 0]
        loss_d = -(real * _log(d) + fake * _log(1 - d)).sum()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        with torch.no_grad():
            log_d = _log(disc(values)[:, 0])
        loss_g = -(probs * log_d).sum()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    return time.perf_counter() - start


def agreement(qnn: SamplerQNN, generator: Generator, run: RunResult) -> dict[str, float]:
    """Max abs differences between ours and the reference at one trained parameter vector."""
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
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/epex_de_2015_h00.csv",
                        help="EPEX 2015 00:00-01:00 CSV; a relative path is taken from the repository root")
    parser.add_argument("--epochs", type=int, default=50, help="epochs of our trainer (all runs of the cell)")
    parser.add_argument("--ref-steps", type=int, default=20, help="training steps timed per reference run")
    parser.add_argument("--ref-runs", type=int, default=2, help="reference runs timed (the cell's first ones)")
    args = parser.parse_args()

    os.chdir(REPO)  # the config's relative data path, so the defaults give the acceptance cell's id and seeds
    cell = load_cell(args.data, args.epochs)
    prepared = prepare(cell)
    generator, rows = prepared.generator, prepared.rows
    qnn = reference_qnn(generator)
    print(f"machine: {platform.machine()} {platform.system()}, cpu_count={os.cpu_count()}, "
          f"affinity={len(os.sched_getaffinity(0))}, torch default threads={torch.get_num_threads()}, "
          f"load average (1 min) {os.getloadavg()[0]:.2f}")
    print("versions: python " + platform.python_version() + ", " + ", ".join(
        f"{lib} {version(lib)}" for lib in ("autoqml", "qiskit", "qiskit-machine-learning", "torch", "numpy")))
    print(f"cell: {cell.id} {cell.label}; {len(rows)} runs, batch {cell.params['batch_size']}, "
          f"{generator.num_parameters} parameters, data {Path(args.data).resolve()}")
    print(f"reference: SamplerQNN defaults: sampler {type(qnn.sampler).__name__} "
          f"(default_shots={qnn.sampler.options.default_shots}: None = exact statevector probabilities), "
          f"gradient {type(qnn.gradient).__name__}; generator weights float32 (TorchConnector)")

    train_ours(cell, generator, rows, min(WARMUP_EPOCHS, args.epochs))
    runs, ours_s = train_ours(cell, generator, rows, args.epochs)
    steps = runs[0].schedule["steps"]
    ours = ours_s / (len(rows) * steps)
    print(f"ours: {len(rows)} runs x {args.epochs} epochs x {runs[0].schedule['steps_per_epoch']} steps in "
          f"{ours_s:.2f} s (batched) -> {ours:.3g} s/seed-step")

    train_reference(qnn, cell, rows[0], 2)
    timed = rows[: args.ref_runs]
    ref_s = sum(train_reference(qnn, cell, row, args.ref_steps) for row in timed)
    reference = ref_s / (len(timed) * args.ref_steps)
    print(f"reference: {len(timed)} runs x {args.ref_steps} steps in {ref_s:.2f} s (one run at a time) -> "
          f"{reference:.3g} s/seed-step, extrapolated to the cell: {reference * len(rows) * steps:.0f} s")

    kl = np.array([run.curves["kl"][-1] for run in runs])
    print(f"sanity: ours KL after {args.epochs} epochs: mean {kl.mean():.4f} +- {kl.std(ddof=1):.4f}, "
          f"min {kl.min():.4f}")
    for name, diff in agreement(qnn, generator, runs[0]).items():
        print(f"sanity: max abs diff ours vs reference, {name}: {diff:.2e}")
    print(f"RESULT ours={ours:.3g} s/seed-step reference={reference:.3g} s/seed-step "
          f"ratio={reference / ours:.0f}x")


if __name__ == "__main__":
    main()
