"""Real services for the executor tests: a single-node SLURM cluster and the Azurite blob emulator.

Both run as this user's child processes, with every file in a temporary directory and only loopback ports; nothing
in /etc is touched. ``.ci/services`` installs the programs (Debian's slurm-wlm and munge, npm's azurite).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")
#: Azurite's fixed development account (public, documented by Microsoft; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def which(program: str) -> str | None:
    """A program on PATH or in an sbin directory (daemons live there, and CI's PATH may lack it)."""
    return shutil.which(program) or shutil.which(program, path=os.pathsep.join(SBIN))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(predicate, *, timeout: float, what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    tails = "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-2000:]}" for p in logs if p.exists())
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s\n{tails}")


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in reversed(processes):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in reversed(processes):
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- SLURM -----------------------------------------------------------------------------------------------------

SLURM_PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "srun", "squeue", "scontrol", "sinfo")

_SLURM_CONF = """\
ClusterName=autoqmltest
SlurmctldHost={host}
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/run/slurmctld.pid
SlurmdPidFile={root}/run/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
# No cgroups and no accounting daemon here: track processes by /proc, no task binding, no slurmdbd.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# squeue reports finished jobs this long; the plugin only trusts squeue for status when this is >= 3x its first
# status-check delay (otherwise it falls back to sacct, which needs slurmdbd).
MinJobAge=600
NodeName={host} CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


@dataclass
class SlurmCluster:
    root: Path
    env: dict[str, str]

    def run(self, *args: str) -> str:
        return subprocess.run(args, env=self.env, capture_output=True, text=True, check=True, timeout=30).stdout

    def job(self, job_id: str) -> dict[str, str]:
        """``scontrol show job`` as a dict (works without accounting while the job is younger than MinJobAge)."""
        fields = {}
        for token in self.run("scontrol", "--oneliner", "show", "job", job_id).split():
            if "=" in token:
                key, value = token.split("=", 1)
                fields.setdefault(key, value)
        return fields


def missing_slurm() -> list[str]:
    return [p for p in SLURM_PROGRAMS if which(p) is None]


@contextlib.contextmanager
def slurm_cluster() -> Iterator[SlurmCluster]:
    """munged, slurmctld and slurmd on this host, one node with all its CPUs; idle within about two seconds.

    Its files go to a new directory in the system's temporary directory: munged wants every directory above its
    socket searchable by everybody, which pytest's private temporary directories are not.
    """
    root = Path(tempfile.mkdtemp(prefix="autoqml-slurm-"))
    for sub in ("munge", "run", "state", "spool", "log", "bin"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    (root / "run").chmod(0o755)
    (root / "munge").chmod(0o700)
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    munge_socket = root / "run" / "munge.socket"
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    memory = int(int(meminfo["MemTotal"].split()[0]) / 1024 * 0.8)
    host = socket.gethostname().split(".")[0]
    conf = root / "slurm.conf"
    conf.write_text(_SLURM_CONF.format(host=host, root=root, munge_socket=munge_socket, cpus=os.cpu_count(),
                                       memory=memory, ctld_port=free_port(), d_port=free_port()))
    # The slurm-jobstep plugin clears SLURM_* before its nested srun, SLURM_CONF included, so srun inside a job
    # would look for /etc/slurm/slurm.conf. A real cluster keeps its config there; here a shim puts it back.
    srun = root / "bin" / "srun"
    srun.write_text(f'#!/bin/sh\nexport SLURM_CONF="{conf}"\nexec "{which("srun")}" "$@"\n')
    srun.chmod(0o755)
    env = {**os.environ, "SLURM_CONF": str(conf),
           "PATH": os.pathsep.join([str(root / "bin"), os.environ.get("PATH", ""), *SBIN])}
    processes: list[subprocess.Popen] = []
    logs = [root / "log" / name for name in ("munged.log", "slurmctld.log", "slurmd.log", "daemons.out")]
    out = (root / "log" / "daemons.out").open("ab")
    try:
        processes.append(subprocess.Popen(
            [which("munged"), "--foreground", f"--key-file={key}", f"--socket={munge_socket}",
             f"--pid-file={root / 'run' / 'munged.pid'}", f"--log-file={root / 'log' / 'munged.log'}",
             f"--seed-file={root / 'munge' / 'munged.seed'}"], stdout=out, stderr=out, env=env))
        _wait(munge_socket.exists, timeout=15, what="munged", logs=logs)
        processes.append(subprocess.Popen([which("slurmctld"), "-D", "-i"], stdout=out, stderr=out, env=env))
        processes.append(subprocess.Popen([which("slurmd"), "-D"], stdout=out, stderr=out, env=env))
        cluster = SlurmCluster(root=root, env=env)

        def idle() -> bool:
            if any(p.poll() is not None for p in processes):
                raise RuntimeError("a SLURM daemon exited\n" + "\n".join(
                    p.read_text(errors="replace")[-2000:] for p in logs if p.exists()))
            state = subprocess.run(["sinfo", "--noheader", "--Node", "--format=%t"], env=env, capture_output=True,
                                   text=True, timeout=10, check=False)
            return state.returncode == 0 and state.stdout.split() == ["idle"]

        _wait(idle, timeout=30, what="SLURM node", logs=logs)
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            subprocess.run(["scancel", "--full", "--user", "root"], env=env, capture_output=True, timeout=10,
                           check=False)
        _stop(processes)
        out.close()
        shutil.rmtree(root, ignore_errors=True)


# --- Azurite ---------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def azurite(root: Path) -> Iterator[str]:
    """Azurite's blob service on a free loopback port, in memory; yields its connection string."""
    program = which("azurite-blob")
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    log = root / "azurite.out"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [program, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
             "--disableTelemetry", "--silent", "--skipApiVersionCheck", "--loose"],
            stdout=out, stderr=out, cwd=root)
        try:
            def listening() -> bool:
                if process.poll() is not None:
                    raise RuntimeError(f"azurite exited:\n{log.read_text(errors='replace')}")
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                    return True
                return False

            _wait(listening, timeout=30, what="azurite", logs=[log])
            yield (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
                   f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};")
        finally:
            _stop([process])
