"""How the trainer's cost per seed-step scales with the register size N and with the rows batched together.

Trains the zoufal ansatz (k=2, uniform start, custom_classical_1) on a random target for a few epochs per point,
after a warm-up, and writes ``docs/scaling.png`` (and prints the numbers): seconds per seed-step vs N = 2..12 at a
fixed batch, and vs the number of rows at N = 5. Epochs of one step each (``steps_per_epoch=1``), so a step
costs what one of qiskit's 39-step epochs costs per step, without the epoch's shuffle.

Run: ``python benchmarks/bench_scaling.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from autoqml.circuits import PARAMETER_SPREAD, build_generator
from autoqml.qgan import Row, train_rows
from autoqml.simulator import initial_state

REPO = Path(__file__).resolve().parents[1]


def seconds_per_seed_step(*, num_qubits: int, rows: int, epochs: int, batch_size: int = 512) -> float:
    """Training cost of `rows` runs of one shape, per run and step (median of three timings)."""
    generator = build_generator(ansatz="zoufal", num_qubits=num_qubits, reps=2, initialization="uniform")
    target = np.random.default_rng(num_qubits).dirichlet(np.ones(2**num_qubits))
    batch = [Row(seed=seed, target=target, initial_state=initial_state(generator.initial),
                 parameter_spread=PARAMETER_SPREAD["uniform"], generator_lr=1e-3, generator_betas=(0.7, 0.99),
                 discriminator_lr=1e-3, discriminator_betas=(0.9, 0.999)) for seed in range(rows)]

    def run(n: int) -> float:
        start = time.perf_counter()
        train_rows(ansatz=generator.ansatz, rows=batch, widths=[50, 20], batch_size=batch_size, num_epochs=n,
                   log_every=10, steps_per_epoch=1)
        return time.perf_counter() - start

    run(3)
    return float(np.median([run(epochs) for _ in range(3)])) / (rows * epochs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--rows", type=int, default=60, help="rows per batch for the N sweep (paper grid: 60)")
    parser.add_argument("--max-qubits", type=int, default=12)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "scaling.png")
    args = parser.parse_args()

    qubits = list(range(2, args.max_qubits + 1))
    by_qubits = [seconds_per_seed_step(num_qubits=n, rows=args.rows, epochs=args.epochs) for n in qubits]
    for n, t in zip(qubits, by_qubits):
        print(f"N={n:2d} rows={args.rows}: {t * 1e3:.4f} ms per seed-step")
    row_counts = [1, 3, 10, 30, 60, 180, 540]
    by_rows = [seconds_per_seed_step(num_qubits=5, rows=r, epochs=args.epochs) for r in row_counts]
    for r, t in zip(row_counts, by_rows):
        print(f"N= 5 rows={r:3d}: {t * 1e3:.4f} ms per seed-step")

    fig = Figure(figsize=(10, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.semilogy(qubits, np.array(by_qubits) * 1e3, "o-")
    left.set(xlabel="qubits N", ylabel="ms per seed-step", title=f"zoufal k=2, {args.rows} rows batched")
    right.loglog(row_counts, np.array(by_rows) * 1e3, "o-")
    right.set(xlabel="rows (runs) per batch", ylabel="ms per seed-step", title="zoufal k=2, N=5")
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"autoqml trainer cost, one CPU thread, batch 512 ({time.strftime('%Y-%m-%d')})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
