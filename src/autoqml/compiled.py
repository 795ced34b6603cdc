"""The training step compiled for its program's shape (``step.cpp``), built on first use and cached on disk.

A step is a few hundred thousand floating-point operations on arrays of 2^N values; in torch each of its dozens of
operations costs more in dispatch than in arithmetic (measured: 28x the step's arithmetic floor at the paper grid's
program size). Compiled with the program's grid size, discriminator widths, precision and real-or-complex state as
constants, every loop has a fixed length the compiler vectorizes, and a row's whole training stays in its core's
cache. :class:`autoqml.qgan.Training` runs it on the CPU; its torch implementation (CUDA, and the reference the
tests compare with) draws its random numbers here too (:func:`draw_steps`), so both train on the same batches.

The library is built with the C++ compiler ``$CXX`` (default ``g++``) and ``-O3 -march=native`` into
``$AUTOQML_KERNEL_CACHE`` (default ``~/.cache/autoqml/kernels``), one file per shape and CPU, written atomically so
that parallel jobs can build the same one.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from autoqml.errors import AutoQMLError

SOURCE = Path(__file__).with_name("step.cpp")
FLAGS = ["-O3", "-march=native", "-std=c++17", "-shared", "-fPIC", "-fno-math-errno"]
#: glibc's vector math library (exp and log of a vector), x86-64 only.
LIBS = ["-lmvec"] if platform.machine() in ("x86_64", "AMD64") else []
_FLOAT_TYPES = {"float32": ("float", np.float32), "float64": ("double", np.float64)}


class KernelError(AutoQMLError):
    """The compiled step cannot be built or does not fit the program; the message says what to install or set."""


def cache_dir() -> Path:
    if "AUTOQML_KERNEL_CACHE" in os.environ:
        return Path(os.environ["AUTOQML_KERNEL_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "autoqml" / "kernels"


def _cpu() -> str:
    """What -march=native compiles for: the machine and its CPU's feature flags."""
    try:
        flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")),
                     "")
    except OSError:
        flags = ""
    return f"{platform.machine()} {flags}"


def _compiler() -> str:
    compiler = os.environ.get("CXX", "g++")
    if shutil.which(compiler) is None:
        raise KernelError(f"the training step is compiled C++ and no compiler {compiler!r} was found: install g++ "
                          "(Debian/Ubuntu: apt-get install g++) or set CXX to a C++17 compiler")
    return compiler


@functools.cache
def kernel(*, grid: int, widths: tuple[int, ...], real: bool, precision: str) -> ctypes.CDLL:
    """The step compiled for `grid` values, discriminator hidden `widths`, a real (else complex) state and the
    discriminator's `precision`; built once per machine and shape."""
    if precision not in _FLOAT_TYPES:
        raise KernelError(f"precision: got {precision!r}; allowed: {', '.join(_FLOAT_TYPES)}")
    defines = [f"-DAQ_G={grid}", f"-DAQ_WIDTHS={','.join(map(str, widths))}", f"-DAQ_REAL={int(real)}",
               f"-DAQ_FLOAT={_FLOAT_TYPES[precision][0]}"]
    compiler = _compiler()
    key = hashlib.sha256("\n".join([SOURCE.read_text(), compiler, *FLAGS, *LIBS, *defines, _cpu()]).encode()
                         ).hexdigest()
    folder = cache_dir()
    path = folder / f"step-{key[:20]}.so"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            built = Path(scratch) / path.name
            done = subprocess.run([compiler, *FLAGS, *defines, str(SOURCE), "-o", str(built), *LIBS],
                                  capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise KernelError(f"compiling the training step failed ({compiler}):\n{done.stderr[-2000:]}")
            os.replace(built, path)
    lib = ctypes.CDLL(str(path))
    lib.train_steps.argtypes = [ctypes.POINTER(Program), ctypes.c_int32, ctypes.c_int32, ctypes.c_int32]
    lib.train_steps.restype = None
    lib.draw_steps.argtypes = [ctypes.c_int32] * 6 + [ctypes.c_void_p] * 7
    lib.draw_steps.restype = None
    for name in ("kernel_grid", "kernel_disc_params", "kernel_float_bytes", "kernel_real", "kernel_stream_words"):
        getattr(lib, name).restype = ctypes.c_int32
    built_for = (lib.kernel_grid(), lib.kernel_float_bytes(), lib.kernel_real(), lib.kernel_stream_words())
    wanted = (grid, np.dtype(_FLOAT_TYPES[precision][1]).itemsize, int(real), STREAM_WORDS)
    if built_for != wanted:
        raise KernelError(f"{path} was built for (grid, float bytes, real, stream words) {built_for}, not {wanted}; "
                          "delete it to rebuild")
    return lib


def draws_kernel() -> ctypes.CDLL:
    """A build for :func:`draw_steps` alone (its draws do not depend on the program's shape)."""
    return kernel(grid=4, widths=(4,), real=True, precision="float64")


def _pointer(array: np.ndarray | None) -> int | None:
    if array is None:
        return None
    if not array.flags.c_contiguous:
        raise ValueError("the compiled step needs C-contiguous arrays")
    return array.ctypes.data


class Walk:
    """The epoch walk's arrays for rows of training sets (rows, n) of grid indices below `bins`: the sets, their
    counts per bin, and `work`, where a call that ends inside an epoch leaves what the next one continues from."""

    def __init__(self, training_sets: np.ndarray, bins: int):
        self.sets = np.ascontiguousarray(training_sets, dtype=np.int32)
        self.counts = np.ascontiguousarray([np.bincount(s, minlength=bins) for s in self.sets], dtype=np.int32)
        self.work = np.zeros((len(self.sets), max(self.sets.shape[1], bins)), dtype=np.int32)

    #: The fields of :class:`Program` they fill.
    FIELDS = ("set", "set_counts", "work")

    def fields(self) -> dict[str, np.ndarray]:
        return dict(zip(self.FIELDS, (self.sets, self.counts, self.work)))


def draw_steps(*, rng: np.ndarray, steps: int, first: int, batch: int, bins: int, walk: Walk | None,
               targets: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Every row's draws for `steps` steps from step `first` of the epoch: real-batch counts (steps, rows, bins)
    and the Born batch's uniforms (steps, rows, batch), advancing the streams `rng` (rows, STREAM_WORDS) as the
    compiled step does.

    With a `walk` the real batch walks its training sets; without, it is drawn with replacement from `targets`
    (rows, bins)."""
    rows = rng.shape[0]
    real = np.empty((steps, rows, bins))
    uniforms = np.empty((steps, rows, batch))
    sets, counts, work = (None, None, None) if walk is None else (walk.sets, walk.counts, walk.work)
    draws_kernel().draw_steps(rows, steps, first, batch, bins, 0 if walk is None else sets.shape[1], _pointer(rng),
                              _pointer(sets), _pointer(counts), _pointer(work), _pointer(targets), _pointer(real),
                              _pointer(uniforms))
    return real, uniforms


#: Words of one row's random stream: 8 xoshiro256++ states of 4 words, drawn side by side (step.cpp).
STREAM_WORDS = 32


def seed_streams(seeds: list[int]) -> np.ndarray:
    """Initial stream states (rows, STREAM_WORDS) from 64-bit seeds, by SplitMix64 as xoshiro's authors
    recommend."""
    mask = (1 << 64) - 1
    states = np.empty((len(seeds), STREAM_WORDS), dtype=np.uint64)
    for r, seed in enumerate(seeds):
        x = seed & mask
        for i in range(STREAM_WORDS):
            x = (x + 0x9E3779B97F4A7C15) & mask
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
            states[r, i] = z ^ (z >> 31)
    return states


_P = ctypes.c_void_p


class Program(ctypes.Structure):
    """``struct Program`` of step.cpp: sizes, the circuit's gates, every row's state and the outputs."""

    _fields_ = [(name, ctypes.c_int32) for name in ("rows", "params", "batch", "n_set", "walk", "n_ops")] + [
        (name, _P) for name in ("op_kind", "op_k", "op_qubits", "op_param", "op_coeff", "op_offset", "op_data",
                                "op_perm", "mats", "perms", "initial", "theta")] + [
        ("persistent", ctypes.c_int32)] + [
        (name, _P) for name in ("g_lr", "g_b1", "g_b2", "g_noise", "g_m", "g_v", "g_vmax", "g_step", "x", "w", "d_m",
                                "d_v", "d_vmax", "d_step")] + [
        ("width", ctypes.c_int32)] + [(name, ctypes.c_double) for name in ("d_lr", "d_b1", "d_b2", "d_eps")] + [
        (name, _P) for name in ("rng", "set", "set_counts", "work", "target", "loss_d", "loss_g", "probs_first")]


def circuit_arrays(program: list, *, real: bool) -> dict[str, np.ndarray]:
    """The simulator's compiled gates (:attr:`autoqml.simulator.StatevectorSimulator.gates`) as step.cpp's flat
    arrays."""
    from autoqml.simulator import Dense, Monomial, Rotation

    kinds, ks, qubits, params, coeffs, offsets, data_at, perm_at = ([] for _ in range(8))
    values, perms = [], []
    used = 0

    def add_values(matrices: np.ndarray) -> int:
        nonlocal used
        flat = np.asarray(matrices).ravel()
        flat = flat.real if real else np.stack([flat.real, flat.imag], axis=-1).ravel()
        values.append(flat.astype(np.float64))
        start, used = used, used + flat.size
        return start

    for gate in program:
        if isinstance(gate, Monomial):
            kinds.append(0), ks.append(0), qubits.append([0, 0, 0]), params.append(0), coeffs.append(0.0)
            offsets.append(0.0), data_at.append(add_values(gate.phase))
            perm_at.append(sum(p.size for p in perms)), perms.append(gate.perm.astype(np.int32))
            continue
        kinds.append(1 if isinstance(gate, Dense) else 2)
        ks.append(len(gate.qubits)), qubits.append([*gate.qubits, *[0] * (3 - len(gate.qubits))])
        perm_at.append(0)
        if isinstance(gate, Rotation):
            params.append(gate.index), coeffs.append(gate.coeff), offsets.append(gate.offset)
            data_at.append(add_values(gate.abc))
        else:
            params.append(0), coeffs.append(0.0), offsets.append(0.0), data_at.append(add_values(gate.matrix))
    return {"op_kind": np.array(kinds, np.int32), "op_k": np.array(ks, np.int32),
            "op_qubits": np.array(qubits, np.int32).reshape(-1), "op_param": np.array(params, np.int32),
            "op_coeff": np.array(coeffs), "op_offset": np.array(offsets), "op_data": np.array(data_at, np.int64),
            "op_perm": np.array(perm_at, np.int64),
            "mats": np.concatenate(values) if values else np.zeros(1),
            "perms": np.concatenate(perms) if perms else np.zeros(1, np.int32)}


class CompiledStep:
    """A training's arrays bound to its shape's compiled step: `arrays` and `scalars` are named as the fields of
    :class:`Program` and are trained in place (views of the training's tensors), the arrays kept alive here."""

    def __init__(self, lib: ctypes.CDLL, arrays: dict[str, np.ndarray | None], scalars: dict[str, int | float]):
        self._lib, self._arrays = lib, arrays
        self.program = Program(**scalars, **{name: _pointer(array) for name, array in arrays.items()})

    def run(self, steps: int, *, first: int, want_loss: bool, observe: np.ndarray | None) -> None:
        """`steps` steps of every row from step `first` of the epoch; the probabilities at the first step into
        `observe` (rows, 2^N) when given; the last step's losses when `want_loss`."""
        self.program.probs_first = _pointer(observe)
        self._lib.train_steps(ctypes.byref(self.program), steps, first, int(want_loss))
