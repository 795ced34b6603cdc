"""How the trainer's cost per seed-step scales with the register size N and with the rows batched together, beside
the step's arithmetic floor.

Trains the zoufal ansatz (k=2, uniform start, custom_classical_1) on a random target for a few epochs per point,
after a warm-up, and measures the floor at the same point (:mod:`floor`: the step's discriminator products as
torch.bmm, one thread, the trainer's dtype). Prints both and writes a figure (``docs/scaling.png`` by default):
seconds per seed-step vs N = 2..12 at a fixed number of rows, and vs the number of rows at N = 5. qiskit's epochs:
a training set of 39 batches walked per epoch, as the paper's config trains (the compiled step's cost per call is
spread over an epoch's steps).

Run: ``python benchmarks/bench_scaling.py`` (about 5 minutes on 2 cores); a small setting:
``python benchmarks/bench_scaling.py --epochs 3 --max-qubits 6 --row-counts 10,60 --out /tmp/scaling.png``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from common import REPO, machine_line
from floor import measure_floor
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from autoqml.circuits import PARAMETER_SPREAD, build_generator
from autoqml.qgan import PRECISIONS, Row, Schedule, train_rows
from autoqml.simulator import initial_state

WIDTHS = [50, 20]  # custom_classical_1


def seconds_per_seed_step(*, num_qubits: int, rows: int, epochs: int, precision: str,
                          batch_size: int = 512, steps_per_epoch: int = 39) -> float:
    """Training cost of `rows` runs of one shape, per run and step (median of three timings)."""
    generator = build_generator(ansatz="zoufal", num_qubits=num_qubits, reps=2, initialization="uniform")
    rng = np.random.default_rng(num_qubits)
    target = rng.dirichlet(np.ones(2**num_qubits))
    training = rng.choice(2**num_qubits, size=batch_size * steps_per_epoch + 17, p=target)
    batch = [Row(seed=seed, target=target, initial_state=initial_state(generator.initial),
                 parameter_spread=PARAMETER_SPREAD["uniform"], generator_lr=1e-3, generator_betas=(0.7, 0.99),
                 discriminator_lr=1e-3, discriminator_betas=(0.9, 0.999), training_set=training)
             for seed in range(rows)]

    def run(n: int) -> float:
        start = time.perf_counter()
        train_rows(ansatz=generator.ansatz, rows=batch, widths=WIDTHS, precision=precision,
                   schedule=Schedule(batch_size=batch_size, num_epochs=n, log_every=10))
        return time.perf_counter() - start

    run(1)
    return float(np.median([run(epochs) for _ in range(3)])) / (rows * epochs * steps_per_epoch)


def sweep(points: list[tuple[int, int]], *, epochs: int, precision: str) -> tuple[list[float], list[float]]:
    """Ours and the floor, seconds per seed-step, at each (N, rows); each printed as it is measured."""
    ours, floors = [], []
    for num_qubits, rows in points:
        ours.append(seconds_per_seed_step(num_qubits=num_qubits, rows=rows, epochs=epochs, precision=precision))
        floors.append(measure_floor(rows=rows, grid_size=2**num_qubits, widths=WIDTHS,
                                    dtype=PRECISIONS[precision]).seconds)
        print(f"N={num_qubits:2d} rows={rows:5d}: ours {ours[-1] * 1e3:.4f} ms per seed-step, floor "
              f"{floors[-1] * 1e3:.4f} ms, ours/floor {ours[-1] / floors[-1]:.1f}x", flush=True)
    return ours, floors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 20 epochs: each call's fixed cost (building the program, the per-epoch curves) spread as in a real cell; at 2
    # epochs it doubled the N = 5 cost per seed-step (8.3 us against 4.5 us, 2026-12-03)
    parser.add_argument("--epochs", type=int, default=20, help="qiskit epochs (39 steps) per timing")
    parser.add_argument("--rows", type=int, default=60, help="rows per program for the N sweep (paper grid: 60)")
    parser.add_argument("--max-qubits", type=int, default=12)
    parser.add_argument("--row-counts", default="10,60,540,5400", help="rows per program for the sweep at N=5")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "scaling.png")
    parser.add_argument("--precision", choices=list(PRECISIONS), default="float32")
    args = parser.parse_args()

    print(machine_line())
    qubits = list(range(2, args.max_qubits + 1))
    row_counts = [int(r) for r in args.row_counts.split(",")]
    by_qubits = sweep([(n, args.rows) for n in qubits], epochs=args.epochs, precision=args.precision)
    by_rows = sweep([(5, r) for r in row_counts], epochs=args.epochs, precision=args.precision)

    fig = Figure(figsize=(10, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    for (ours, floors), ax, x in ((by_qubits, left, qubits), (by_rows, right, row_counts)):
        ax.plot(x, np.array(ours) * 1e3, "o-", label="ours (train_rows)")
        ax.plot(x, np.array(floors) * 1e3, "s--", label="floor (torch.bmm at the step's shapes)")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    left.set_xticks(qubits)
    right.set_xscale("log")
    right.set_xticks(row_counts, labels=[str(r) for r in row_counts])
    right.xaxis.set_minor_formatter(NullFormatter())
    left.set(xlabel="qubits N", ylabel="ms per seed-step", title=f"zoufal k=2, {args.rows} rows per program")
    right.set(xlabel="rows (runs) per program", ylabel="ms per seed-step", title="zoufal k=2, N=5")
    fig.suptitle(f"autoqml trainer cost and its arithmetic floor, one CPU thread, batch 512, "
                 f"{args.precision} ({time.strftime('%Y-%m-%d')})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
