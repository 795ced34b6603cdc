"""Where sampled circuits run: Aer (ideal, or with an IBM device's noise model) or IBM Runtime's SamplerV2.

A backend *spec* is the config's ``backend`` entry with its defaults filled in. Cells store its canonical form:

* ``"statevector"``: exact simulation in torch (:mod:`autoqml.simulator`); no shots, no sampler;
* ``{"type": "aer", "shots": S, "noise_model": None | "fake_<device>"}``: qiskit-aer's SamplerV2, with the noise
  model, basis gates and coupling map of a qiskit-ibm-runtime fake device when ``noise_model`` names one;
* ``{"type": "ibm", "device": D, "shots": S}``: qiskit-ibm-runtime's SamplerV2 on device D inside a ``Batch``
  (or ``Session``, or plain job mode). A ``fake_*`` device runs in the runtime's local testing mode (the fake
  backend is passed where the real one would go; its snapshot's noise applies), so everything but the service
  lookup is the code path a real device takes. Any other name is looked up with ``QiskitRuntimeService``, which
  finds credentials in the environment (``QISKIT_IBM_TOKEN``, ``QISKIT_IBM_INSTANCE``, ``QISKIT_IBM_CHANNEL``) or
  in the account saved by ``QiskitRuntimeService.save_account``; autoqml never reads, writes or logs a token.

How a job is routed (``channel``, ``instance``, ``mode``) is kept out of the canonical form: it does not change
what is computed, so it changes no cell id and is written into no result file.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from qiskit import QuantumCircuit

from autoqml.errors import AutoQMLError, ConfigError

logger = logging.getLogger(__name__)

STATEVECTOR = "statevector"
DEFAULT_SHOTS = 1024
#: IBM's limit on one Sampler job: circuits x shots (documented job limits; applied in local testing mode too, so
#: that CI runs the same code path).
IBM_MAX_JOB_SHOTS = 10_000_000
#: Keys of an ``ibm`` entry that say how jobs reach the device, not what they compute.
ROUTING_KEYS = ("channel", "instance", "mode")
_KEYS = {STATEVECTOR: set(), "aer": {"shots", "noise_model"}, "ibm": {"device", "shots", *ROUTING_KEYS}}


class BackendError(AutoQMLError):
    """A backend cannot be reached or returned something unusable; the message says which and what to do."""


def normalize(raw: Any, *, where: str) -> tuple[dict, list[str]]:
    """A schema-valid config entry (a type name or an object) as a full spec, and the problems found in it."""
    spec = {"type": raw} if isinstance(raw, str) else dict(raw)
    kind = spec["type"]
    problems = [f"{where}.{key}: not a setting of a {kind} backend; allowed: {', '.join(sorted(_KEYS[kind])) or 'none'}"
                for key in sorted(set(spec) - _KEYS[kind] - {"type"})]
    if kind == STATEVECTOR:
        return spec, problems
    spec.setdefault("shots", DEFAULT_SHOTS)
    if kind == "aer":
        spec.setdefault("noise_model", None)
        if spec["noise_model"] is not None:
            spec["noise_model"], problem = _fake_name(spec["noise_model"], f"{where}.noise_model")
            problems += problem
    else:
        if "device" not in spec:
            problems.append(f"{where}.device: an ibm backend needs the device name, e.g. ibm_torino (or fake_manila "
                            "for the runtime's local testing mode)")
        elif is_local(spec):
            spec["device"], problem = _fake_name(spec["device"], f"{where}.device")
            problems += problem
        spec.setdefault("channel", None)
        spec.setdefault("instance", None)
        spec.setdefault("mode", "batch")
    return spec, problems


def canonical(spec: dict) -> str | dict:
    """What a cell stores: ``"statevector"``, or the spec without routing keys."""
    if spec["type"] == STATEVECTOR:
        return STATEVECTOR
    return {key: value for key, value in spec.items() if key not in ROUTING_KEYS}


def routing(spec: dict) -> dict:
    """The routing keys of an ``ibm`` spec (empty for the others)."""
    return {key: spec[key] for key in ROUTING_KEYS if key in spec}


def is_exact(backend: str | dict) -> bool:
    return backend == STATEVECTOR or (isinstance(backend, dict) and backend["type"] == STATEVECTOR)


def is_local(spec: dict) -> bool:
    """An ``ibm`` spec whose device is a fake backend: the runtime's local testing mode."""
    return str(spec.get("device", "")).lower().startswith("fake")


def shots_of(backend: str | dict) -> int:
    """Shots per executed circuit (0 for the exact statevector)."""
    return 0 if is_exact(backend) else int(backend["shots"])


def label(backend: str | dict) -> str:
    """Short name for labels and tables: statevector, aer1024, aer1024+fake_manila, ibm_torino1024."""
    if is_exact(backend):
        return STATEVECTOR
    if backend["type"] == "aer":
        return f"aer{backend['shots']}" + (f"+{backend['noise_model']}" if backend["noise_model"] else "")
    return f"{backend['device']}{backend['shots']}"


#: Sampler cost per kind: seconds per call, per executed circuit, per shot. Aer and local testing mode measured on
#: a 2-core machine (zoufal N = 2, 3, 5; 1 and 10 rows; 100-4000 shots; within about 30%); a real device's per-call
#: cost (queue and round trip of a runtime job) is an assumption, not a measurement.
_SAMPLER_SECONDS = {"aer": (0.003, 1.5e-4, 7e-7), "aer_noisy": (0.06, 8e-4, 9e-7), "ibm_local": (0.15, 2e-3, 1e-6),
                    "ibm": (10.0, 2e-3, 1e-6)}


def sampler_seconds(backend: dict) -> tuple[float, float, float]:
    """Estimated seconds of a shot-based backend per sampler call, per executed circuit and per shot."""
    if backend["type"] == "aer":
        return _SAMPLER_SECONDS["aer_noisy" if backend["noise_model"] else "aer"]
    return _SAMPLER_SECONDS["ibm_local" if is_local(backend) else "ibm"]


def device_qubits(spec: dict) -> int | None:
    """Qubits of the (fake) device a spec runs on, when known without a network; None otherwise."""
    name = spec.get("noise_model") or (spec.get("device") if is_local(spec) else None)
    if not name:
        return None
    from autoqml.metrics import fake_backend

    return fake_backend(name=name).num_qubits


def _fake_name(name: str, where: str) -> tuple[str, list[str]]:
    from autoqml.metrics import _device_key, fake_backend

    try:
        fake_backend(name=name)
    except ConfigError as err:
        return name, [f"{where}: {str(err).removeprefix('device: ')}"]
    return f"fake_{_device_key(name)}", []


@dataclass
class Sampler:
    """An opened sampler: the backend circuits are transpiled for, and a SamplerV2 to run PUBs on it.

    Counts what it ran (``calls``, ``circuit_executions``, ``shots``, ``seconds``) so results can report it.
    """

    spec: dict
    backend: Any
    primitive: Any
    local: bool
    #: Largest job (circuit executions x shots) the backend accepts; larger calls are split by rows.
    max_job_shots: int | None = None
    usage: dict = field(default_factory=lambda: {"sampler_calls": 0, "circuit_executions": 0, "shots": 0,
                                                 "sampler_seconds": 0.0})

    def transpile(self, circuit: QuantumCircuit, *, seed: int, optimization_level: int = 1) -> QuantumCircuit:
        """The circuit with every qubit measured, transpiled for the backend (its ISA), parameters kept."""
        from qiskit.transpiler import generate_preset_pass_manager

        measured = circuit.copy()
        if not any(inst.operation.name == "measure" for inst in measured.data):
            measured.measure_all()
        manager = generate_preset_pass_manager(optimization_level=optimization_level, backend=self.backend,
                                               seed_transpiler=seed)
        isa = manager.run(measured)
        if [p.name for p in isa.parameters] != [p.name for p in circuit.parameters]:
            raise BackendError(f"transpiling {circuit.name} for {label(self.spec)} changed its parameters "
                               f"({len(circuit.parameters)} -> {len(isa.parameters)}); use optimization_level 1")
        return isa

    def counts(self, pubs: list[tuple[QuantumCircuit, np.ndarray]], *, shots: int, seed: int) -> list[np.ndarray]:
        """Run all PUBs (transpiled circuit, parameter values (..., P)) in one sampler call.

        Returns per PUB the counts over the 2^N basis states, shape (..., 2^N); basis index x has measured qubit q
        as bit q (Qiskit's order). `seed` seeds the simulator (Aer, local testing mode); hardware ignores it.
        Only a call larger than :attr:`max_job_shots` is split, along the PUBs' first axis (rows), into jobs that
        are all submitted before any result is awaited (inside a Batch they may run concurrently).
        """
        self._seed(seed)
        start = time.perf_counter()
        jobs = _split(pubs, shots, self.max_job_shots)
        try:
            submitted = [self.primitive.run([(circuit, values) for _, circuit, values in job], shots=shots)
                         for job in jobs]
            results = [job.result() for job in submitted]
        except Exception as err:  # the runtime raises many types (network, validation, job failures)
            raise BackendError(f"{label(self.spec)}: the sampler call failed ({type(err).__name__}: {err})") from err
        self.usage["sampler_seconds"] += time.perf_counter() - start
        self.usage["sampler_calls"] += len(jobs)
        parts: list[list[np.ndarray]] = [[] for _ in pubs]
        for job, result in zip(jobs, results):
            for (index, circuit, values), pub_result in zip(job, result):
                bits = getattr(pub_result.data, circuit.cregs[0].name)
                parts[index].append(_bincount(bits.array, bits.num_bits))
                self.usage["circuit_executions"] += _executions(values)
                self.usage["shots"] += _executions(values) * shots
        return [np.concatenate(part) if len(part) > 1 else part[0] for part in parts]

    def _seed(self, seed: int) -> None:
        if self.spec["type"] == "aer":
            self.primitive.options.run_options["seed_simulator"] = seed
        elif self.local:
            self.primitive.options.simulator.seed_simulator = seed


def _executions(values: np.ndarray) -> int:
    """Parameter sets in a PUB's values (..., P): each is one executed circuit."""
    return int(np.prod(np.shape(values)[:-1], dtype=np.int64))


def _split(pubs: list[tuple[QuantumCircuit, np.ndarray]], shots: int, limit: int | None) -> list[list[tuple]]:
    """The PUBs as jobs of (pub index, circuit, values) within `limit` executions x shots: one job unless too big."""
    pieces = []
    for index, (circuit, values) in enumerate(pubs):
        values = np.asarray(values)
        total = _executions(values) * shots
        if limit is None or total <= limit or values.ndim < 2:
            pieces.append((index, circuit, values))
            continue
        per_row = total // len(values)
        if per_row > limit:
            raise BackendError(f"one row's {per_row:,} executions x shots exceed the job limit {limit:,}; lower shots")
        step = limit // per_row
        pieces += [(index, circuit, values[start : start + step]) for start in range(0, len(values), step)]
    jobs: list[list[tuple]] = [[]]
    size = 0
    for piece in pieces:
        need = _executions(piece[2]) * shots
        if jobs[-1] and limit is not None and size + need > limit:
            jobs.append([])
            size = 0
        jobs[-1].append(piece)
        size += need
    return jobs


def _bincount(packed: np.ndarray, num_bits: int) -> np.ndarray:
    """Counts per basis state from a BitArray's packed bytes (..., shots, bytes; big-endian per shot)."""
    values = np.zeros(packed.shape[:-1], dtype=np.int64)
    for byte in range(packed.shape[-1]):
        values = (values << 8) | packed[..., byte]
    shape, bins = packed.shape[:-2], 2**num_bits
    flat = values.reshape(-1, packed.shape[-2])
    offsets = np.arange(flat.shape[0])[:, None] * bins
    return np.bincount((flat + offsets).ravel(), minlength=flat.shape[0] * bins).reshape(*shape, bins)


@contextlib.contextmanager
def open_sampler(spec: dict, *, routing: dict | None = None) -> Iterator[Sampler]:
    """A :class:`Sampler` for a shot-based spec; an ``ibm`` one holds its Batch or Session open until the end.

    Aer and the fake backends simulate on one thread: with two cores shared by training processes, OpenMP
    threads spin-waiting made a 52-circuit call 27x slower (0.82 s against 0.03 s, measured).
    """
    if is_exact(spec):
        raise BackendError("the statevector backend is exact: it has no sampler")
    if spec["type"] == "aer":
        from qiskit_aer import AerSimulator
        from qiskit_aer.primitives import SamplerV2

        simulator = AerSimulator.from_backend(_fresh_fake(spec["noise_model"])) if spec["noise_model"] else \
            AerSimulator()
        simulator.set_options(max_parallel_threads=1)
        logger.info("sampler: qiskit-aer SamplerV2%s", f" with the noise of {spec['noise_model']}"
                    if spec["noise_model"] else "")
        yield Sampler(spec, simulator, SamplerV2.from_backend(simulator), local=True)
        return
    from qiskit_ibm_runtime import Batch, SamplerV2, Session

    routing = {**{key: spec.get(key) for key in ROUTING_KEYS}, **(routing or {})}
    if is_local(spec):
        backend = _fresh_fake(spec["device"])
        backend.set_options(max_parallel_threads=1)
    else:
        backend = _service_backend(spec["device"], channel=routing["channel"], instance=routing["instance"])
    mode_name = routing.get("mode") or "batch"
    mode = {"batch": Batch, "session": Session}[mode_name](backend=backend) if mode_name != "job" else backend
    logger.info("sampler: qiskit-ibm-runtime SamplerV2 on %s (%s mode%s)", backend.name, mode_name,
                ", local testing" if is_local(spec) else "")
    try:
        yield Sampler(spec, backend, SamplerV2(mode=mode), local=is_local(spec), max_job_shots=IBM_MAX_JOB_SHOTS)
    finally:
        if mode is not backend:
            mode.close()


def _fresh_fake(name: str):
    """A new instance of a fake device: its simulator options are ours to set (the cached one is shared)."""
    from autoqml.metrics import fake_backend

    return type(fake_backend(name=name))()


def _service_backend(device: str, *, channel: str | None, instance: str | None):
    from qiskit_ibm_runtime import QiskitRuntimeService

    try:
        service = QiskitRuntimeService(channel=channel, instance=instance)
        return service.backend(device)
    except Exception as err:  # account lookup and network errors come in many types
        raise BackendError(
            f"ibm device {device!r}: cannot reach it through QiskitRuntimeService ({type(err).__name__}: {err}); save an "
            "account once with QiskitRuntimeService.save_account(...) or set QISKIT_IBM_TOKEN (and "
            "QISKIT_IBM_INSTANCE), and check the device name; see README.md, 'Pointing the workflow at a real IBM device'") from err
