"""The arithmetic floor of one seed-step: the discriminator's matrix products at the trainer's own shapes, timed as
``torch.bmm`` on this machine.

One seed-step (one row's discriminator step and generator step, :func:`autoqml.qgan.train_rows`) evaluates the
discriminator, widths 1 -> ``n_input`` -> ``n_hidden``... -> 1, on all G = 2^N grid points at once. Per row and
layer of fan-in ``i`` and fan-out ``o`` it multiplies

* forward, for the discriminator step: (G x i) . (i x o);
* backward: the weight gradient (o x G) . (G x i), and the gradient of the layer's input (G x o) . (o x i) for every
  layer but the first (its input is data);
* forward again, for the generator step: (G x i) . (i x o).

Those products are the step's arithmetic; everything else (bias, activations, loss, optimizers, the circuit's
statevector) is elementwise or smaller at the paper's shapes and is left out, so the floor is a lower bound. Timing
them as ``torch.bmm`` batched over the rows of one program, on one torch thread (the trainer's: parallelism is
across jobs), gives the seconds per seed-step no implementation of this step on this machine's torch beats.

    >>> step_matmuls(grid_size=4, widths=[3])
    [(4, 1, 3), (4, 3, 1), (3, 4, 1), (1, 4, 3), (4, 1, 3), (4, 1, 3), (4, 3, 1)]
    >>> step_flops(grid_size=4, widths=[3])
    168
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

#: Shortest stretch of calls one timing covers, in seconds (short ones are dominated by the clock).
_MIN_TIMING_S = 2e-3


def _layers(widths: Sequence[int]) -> list[tuple[int, int]]:
    full = [1, *widths, 1]
    return list(itertools.pairwise(full))


def step_matmuls(*, grid_size: int, widths: Sequence[int]) -> list[tuple[int, int, int]]:
    """The (m, k, n) shapes of the matrix products (m x k) . (k x n) of one seed-step, per row.

    `widths` are the discriminator's as :func:`autoqml.qgan.train_rows` takes them, ``[n_input, *n_hidden]``; the
    1-wide input and output are added here. Order: forward, weight gradients, input gradients, forward.
    """
    if grid_size < 1 or not widths or min(widths) < 1:
        raise ValueError(f"step_matmuls: needs grid_size >= 1 and positive widths, got {grid_size}, {list(widths)}")
    layers = _layers(widths)
    forward = [(grid_size, fan_in, fan_out) for fan_in, fan_out in layers]
    weights = [(fan_out, grid_size, fan_in) for fan_in, fan_out in layers]
    inputs = [(grid_size, fan_out, fan_in) for fan_in, fan_out in layers[1:]]
    return forward + weights + inputs + forward


def step_flops(*, grid_size: int, widths: Sequence[int]) -> int:
    """Floating-point operations of one seed-step's products: 2 m k n each (a multiply and an add)."""
    return sum(2 * m * k * n for m, k, n in step_matmuls(grid_size=grid_size, widths=widths))


@dataclass(frozen=True)
class Floor:
    """The measured floor: ``seconds`` and ``flops`` per seed-step at ``rows`` rows per program."""

    seconds: float
    flops: int
    rows: int
    grid_size: int
    widths: tuple[int, ...]
    dtype: torch.dtype

    @property
    def gflops(self) -> float:
        """The rate torch.bmm achieved over the step's shapes, GFLOP/s."""
        return self.flops / self.seconds / 1e9

    def describe(self) -> str:
        return (f"floor: {len(step_matmuls(grid_size=self.grid_size, widths=self.widths))} torch.bmm per step at "
                f"G={self.grid_size}, widths 1-{'-'.join(map(str, self.widths))}-1, {self.rows} rows, "
                f"{str(self.dtype).removeprefix('torch.')}, 1 thread: {self.flops:,} flop per seed-step at "
                f"{self.gflops:.2f} GFLOP/s -> {self.seconds:.3g} s/seed-step")


def measure_floor(*, rows: int, grid_size: int, widths: Sequence[int], dtype: torch.dtype = torch.float32,
                  repeats: int = 5) -> Floor:
    """Time one seed-step's products as torch.bmm over `rows` rows (one thread; best of `repeats` per shape)."""
    if rows < 1 or repeats < 1:
        raise ValueError(f"measure_floor: needs rows >= 1 and repeats >= 1, got {rows}, {repeats}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        shapes = step_matmuls(grid_size=grid_size, widths=widths)
        per_shape = {shape: _time_bmm(rows, shape, dtype, repeats) for shape in set(shapes)}
    finally:
        torch.set_num_threads(threads)
    seconds = sum(per_shape[shape] for shape in shapes) / rows
    return Floor(seconds, step_flops(grid_size=grid_size, widths=widths), rows, grid_size, tuple(widths), dtype)


def floor_seconds(*, rows: int, grid_size: int, widths: Sequence[int], dtype: torch.dtype = torch.float32,
                  repeats: int = 5) -> float:
    """Seconds per seed-step of the floor (:func:`measure_floor`)."""
    return measure_floor(rows=rows, grid_size=grid_size, widths=widths, dtype=dtype, repeats=repeats).seconds


def trainer_dtype() -> torch.dtype:
    """The dtype the trainer's discriminator computes in, read from a one-step run of :func:`train_rows`."""
    from autoqml.circuits import build_generator
    from autoqml.qgan import Row, train_rows
    from autoqml.simulator import initial_state

    generator = build_generator(ansatz="zoufal", num_qubits=2, reps=1, initialization="uniform")
    row = Row(seed=0, target=np.full(4, 0.25), initial_state=initial_state(generator.initial), parameter_spread=0.1,
              generator_lr=1e-3, generator_betas=(0.7, 0.99), discriminator_lr=1e-3, discriminator_betas=(0.9, 0.999))
    (run,) = train_rows(ansatz=generator.ansatz, rows=[row], widths=[2], batch_size=4, num_epochs=1, log_every=1,
                        steps_per_epoch=1)
    weight = next(iter(run.discriminator.values()))
    return torch.from_numpy(np.zeros(0, dtype=weight.dtype)).dtype


def _time_bmm(rows: int, shape: tuple[int, int, int], dtype: torch.dtype, repeats: int) -> float:
    """Best seconds of one ``torch.bmm`` of `rows` (m x k) . (k x n) products, into a preallocated output."""
    m, k, n = shape
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(rows, m, k, dtype=dtype, generator=generator)
    b = torch.randn(rows, k, n, dtype=dtype, generator=generator)
    out = torch.empty(rows, m, n, dtype=dtype)

    def run(number: int) -> float:
        start = time.perf_counter()
        for _ in range(number):
            torch.bmm(a, b, out=out)
        return time.perf_counter() - start

    run(1)  # warm-up
    number = 1
    while (elapsed := run(number)) < _MIN_TIMING_S:
        number = max(2 * number, int(number * 1.2 * _MIN_TIMING_S / max(elapsed, 1e-9)))
    return min(run(number) / number for _ in range(repeats))
