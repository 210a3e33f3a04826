"""Multi-process start-up: ``jax.distributed`` behind one call, and what processes agree on.

A multi-process (multi-host) run is one program started once per process; each process
sees every device (``jax.devices()``) but holds only its own (``jax.local_devices()``).
:func:`initialize` joins the processes, before JAX starts its backend:

- explicitly: ``initialize("host0:1234", num_processes=2, process_id=0)`` (and ``1`` in the
  other process), or through the CLI (``pdejax train --coordinator host0:1234
  --num-processes 2 --process-id 0``, or the config keys ``distributed.*``);
- under SLURM (``srun``) or Open MPI (``mpirun``) with no arguments: JAX's own cluster
  detection finds the coordinator, the process count and this process's id.

On CPU the processes exchange data with gloo collectives over TCP. A process that dies
makes the others stop within ``heartbeat_timeout`` seconds with a one-line error
(:class:`Watchdog`) rather than wait forever in a collective. If it is process 0, which
serves JAX's coordination service, JAX itself aborts the others at once ("Terminating
process because the JAX distributed service detected fatal errors", SIGABRT).

Nothing here is called by the library on its own: ``pdejax.train`` and ``fit`` run on
whatever processes JAX was started with, and change no process-wide setting.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from ..config.errors import ConfigError
from ..config.launch import check_distributed_settings as check_settings

#: Environment variables by which JAX's cluster detection recognises a launcher
#: (``jax._src.clusters``: ``SlurmCluster.is_env_present``, ``OmpiCluster.is_env_present``),
#: and the variable holding the number of processes it started.
CLUSTERS: dict[str, tuple[tuple[str, ...], str]] = {
    "slurm": (("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID"),
              "SLURM_NTASKS"),
    "ompi": (("OMPI_MCA_orte_hnp_uri",), "OMPI_COMM_WORLD_SIZE"),
}

WATCHDOG_EXIT = 75
"""Exit status of a process stopped because another process of its run died (``EX_TEMPFAIL``:
resume the run once every process can run again)."""


def detect_cluster(environ: Mapping[str, str] | None = None) -> str | None:
    """The launcher that started this process as one of several (``"slurm"``, ``"ompi"``), or ``None``.

    Mirrors JAX's own detection, and only for deciding *whether* to start
    ``jax.distributed``: a single task (``srun -n 1``, a plain ``salloc`` shell) is not a
    multi-process run.

    >>> detect_cluster({"SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "n[1-2]", "SLURM_NTASKS": "2",
    ...                 "SLURM_PROCID": "1", "SLURM_LOCALID": "0"})
    'slurm'
    >>> detect_cluster({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "1"}) is None
    True
    """
    env = os.environ if environ is None else environ
    for name, (present, count) in CLUSTERS.items():
        if all(v in env for v in present):
            try:
                n = int(env.get(count, "1"))
            except ValueError:
                n = 1
            if n > 1:
                return name
    return None


def initialize(coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None,
               *, initialization_timeout: int = 300, heartbeat_timeout: int = 60,
               cpu_collectives: str = "gloo") -> bool:
    """Join a multi-process run (``jax.distributed.initialize``); call it before any other JAX use.

    Args:
        coordinator: ``HOST:PORT`` of process 0 (it serves the coordination service there).
        num_processes: how many processes the run has.
        process_id: this process's index, ``0 .. num_processes - 1``.
        initialization_timeout: seconds to wait for every process to join.
        heartbeat_timeout: seconds after which a silent process counts as dead; the others
            then exit with status :data:`WATCHDOG_EXIT` and a message naming it.
        cpu_collectives: the CPU collectives between processes (``"gloo"``; ``"mpi"`` needs
            an MPI build). Only set when the run is on CPU (no accelerator plug-in).

    With none of the first three given, a SLURM or Open MPI launch of several tasks is
    detected (JAX finds the settings); otherwise this is a single process and nothing
    happens. Returns whether ``jax.distributed`` was started.

    Raises:
        ConfigError: inconsistent settings, or JAX's backend already started (nothing
            is changed then).

    Example (two shells, same machine)::

        pdejax.parallel.initialize("localhost:12345", 2, 0)   # shell 1
        pdejax.parallel.initialize("localhost:12345", 2, 1)   # shell 2
    """
    check_settings(coordinator, num_processes, process_id,
                   keys={"coordinator": "coordinator", "num_processes": "num_processes", "process_id": "process_id"})
    cluster = detect_cluster() if coordinator is None else None
    if coordinator is None and cluster is None:
        return False
    if num_processes == 1:
        return False
    for name, value in (("initialization_timeout", initialization_timeout), ("heartbeat_timeout", heartbeat_timeout)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(name, value, "a positive number of seconds")
    from jax._src import xla_bridge

    if jax.distributed.is_initialized():
        return True
    if xla_bridge.backends_are_initialized():
        raise ConfigError("distributed", coordinator or cluster, "a start before JAX's backend", message=(
            "pdejax.parallel.initialize must run before anything uses JAX's devices (jax.devices(), "
            "an array, a computation): call it first thing in the program."))
    if cpu_collectives and not _has_accelerator():
        jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
    # JAX's own heartbeat (which aborts the process) later than ours (which explains itself).
    jax.distributed.initialize(coordinator, num_processes, process_id,
                               initialization_timeout=initialization_timeout,
                               heartbeat_timeout_seconds=2 * heartbeat_timeout + 10)
    Watchdog(heartbeat_timeout).start()
    return True


def _has_accelerator() -> bool:
    """Whether a GPU/TPU plug-in is installed and not ruled out by ``JAX_PLATFORMS`` (no backend started)."""
    platforms = os.environ.get("JAX_PLATFORMS", "") or str(jax.config.jax_platforms or "")
    if platforms:
        return any(p.strip() not in ("", "cpu") for p in platforms.split(","))
    from importlib import metadata

    return any(d.metadata["Name"].startswith(("jax-cuda", "jax_cuda", "libtpu", "jax-rocm", "jax_rocm"))
               for d in metadata.distributions() if d.metadata["Name"])


# -- what the processes agree on ------------------------------------------------------

def is_multiprocess() -> bool:
    """Whether this process is one of several (``jax.process_count() > 1``)."""
    return jax.process_count() > 1


def is_main_process() -> bool:
    """Whether this process writes the run's files (process 0)."""
    return jax.process_index() == 0


def _client():
    from jax._src import distributed  # the coordination service's client (orbax uses it too)

    return distributed.global_state.client


def _wait(get, what: str, timeout: float) -> Any:
    """Poll ``get()`` until it is not ``None`` (polling lets the watchdog thread run)."""
    end = time.monotonic() + timeout
    delay = 0.001
    while True:
        value = get()
        if value is not None:
            return value
        if time.monotonic() > end:
            raise TimeoutError(f"waited {timeout:.0f} s for the other processes ({what})")
        time.sleep(delay)
        delay = min(2 * delay, 0.05)


def _try_get(client, key: str) -> str | None:
    try:
        return client.key_value_try_get(key)
    except Exception:  # not there (yet): JAX raises NOT_FOUND
        return None


_rounds: dict[str, int] = {}


def _key(name: str) -> str:
    # Every process makes the same calls in the same order, so the n-th use of a name matches.
    n = _rounds[name] = _rounds.get(name, -1) + 1
    return f"pdejax/{name}/{n}"


def broadcast(value: Any, name: str, *, timeout: float = 3600.0) -> Any:
    """Process 0's ``value`` (JSON-able) in every process; ``value`` itself in a single process.

    ``name`` says what is agreed on; every process calls this with the same names in
    the same order.
    """
    if not is_multiprocess():
        return value
    client, key = _client(), _key(name)
    if is_main_process():
        client.key_value_set(key, json.dumps(value))
        return value
    return json.loads(_wait(lambda: _try_get(client, key), name, timeout))


def gather(value: Any, name: str, *, timeout: float = 3600.0) -> list[Any]:
    """Every process's ``value`` (JSON-able), in process order; ``[value]`` in a single process."""
    if not is_multiprocess():
        return [value]
    client, key, n = _client(), _key(name), jax.process_count()
    client.key_value_set(f"{key}/{jax.process_index()}", json.dumps(value))

    def everyone():
        found = [_try_get(client, f"{key}/{i}") for i in range(n)]
        return None if any(v is None for v in found) else found

    return [json.loads(v) for v in _wait(everyone, name, timeout)]


def barrier(name: str, *, timeout: float = 3600.0) -> None:
    """Return once every process has reached ``barrier(name)``."""
    gather(None, name, timeout=timeout)


def agree_on_error(error: BaseException | None, name: str) -> None:
    """Raise in every process when ``error`` was raised in any (its own error where it
    happened; a ConfigError naming that process's message in the others)."""
    messages = gather(None if error is None else str(error), name)
    if error is not None:
        raise error
    bad = next(((i, m) for i, m in enumerate(messages) if m is not None), None)
    if bad is not None:
        raise ConfigError(name, None, "", message=f"process {bad[0]} stopped: {bad[1]}")


# -- reading global arrays on the host -------------------------------------------------

def local_copy(tree: Any) -> Any:
    """``tree`` with each replicated array spanning other processes replaced by this
    process's replica (a one-device array); other leaves unchanged.

    A multi-process run's state is replicated over every process's devices; host reads
    (logs, evaluation, plots) use the local replica, which holds the same numbers.
    """
    def leaf(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            if not x.sharding.is_fully_replicated:
                raise ValueError(f"an array of shape {x.shape} is sharded over several processes; "
                                 "gather it (host_value) instead")
            return x.addressable_data(0)
        return x

    return jax.tree.map(leaf, tree)


def host_value(tree: Any) -> Any:
    """``jax.device_get`` for arrays that may span several processes: replicated ones from
    the local replica, sharded ones gathered from every process (a collective: every
    process calls it)."""
    from jax.experimental import multihost_utils

    def leaf(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            if x.sharding.is_fully_replicated:
                return np.asarray(x.addressable_data(0))
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return jax.device_get(x)

    return jax.tree.map(leaf, tree)


def global_copy(tree: Any, sharding: Any) -> Any:
    """``tree`` with each array that lives in this process only made a global array with
    ``sharding`` (replicated), from this process's values (identical in every process).
    Orbax writes such a tree once; in a single process ``tree`` is returned unchanged."""
    if not is_multiprocess():
        return tree

    def leaf(x):
        if isinstance(x, (jax.Array, np.ndarray)) and (not isinstance(x, jax.Array) or x.is_fully_addressable):
            return jax.make_array_from_process_local_data(sharding, np.asarray(x), x.shape)
        return x

    return jax.tree.map(leaf, tree)


# -- a dead process stops the others ---------------------------------------------------

class Watchdog(threading.Thread):
    """Each process beats in the coordination service's key-value store every second;
    when another process stays silent for ``timeout`` seconds (it died, or its host),
    or the coordinator (process 0) cannot be reached, this process prints one line
    naming it and exits with :data:`WATCHDOG_EXIT`. A process that finished marks
    itself done first (at exit), so it is not taken for dead.

    Without it the survivors would wait in a collective until JAX's own heartbeat check
    aborts them with a stack trace.
    """

    def __init__(self, timeout: float, interval: float = 1.0):
        super().__init__(name="pdejax-watchdog", daemon=True)
        self.timeout, self.interval = float(timeout), interval
        self.index, self.count = jax.process_index(), jax.process_count()
        self._done = threading.Event()

    def start(self) -> None:
        import atexit

        atexit.register(self.finish)
        super().start()

    def finish(self) -> None:
        """Mark this process done (it exits normally): the others stop watching it."""
        if self._done.is_set():
            return
        self._done.set()
        try:
            _client().key_value_set(f"pdejax/done/{self.index}", "1", allow_overwrite=True)
        except Exception:
            pass

    def run(self) -> None:
        client = _client()
        beats = {i: (None, time.monotonic()) for i in range(self.count) if i != self.index}
        n = 0
        unreachable_since = None
        while not self._done.wait(self.interval if n else 0.0):
            n += 1
            try:
                client.key_value_set(f"pdejax/beat/{self.index}", str(n), allow_overwrite=True)
                now = time.monotonic()
                for i in list(beats):
                    if _try_get(client, f"pdejax/done/{i}") is not None:
                        del beats[i]
                        continue
                    value = _try_get(client, f"pdejax/beat/{i}")
                    if value != beats[i][0]:
                        beats[i] = (value, now)
                    elif now - beats[i][1] > self.timeout:
                        self._stop(f"process {i} of {self.count} stopped responding (no heartbeat for "
                                   f"{self.timeout:.0f} s): it died, or its host did")
                unreachable_since = None
            except Exception as err:  # the coordination service (process 0) is gone
                if self._done.is_set():
                    return
                unreachable_since = unreachable_since or time.monotonic()
                if 0 != self.index and time.monotonic() - unreachable_since > min(self.timeout, 10.0):
                    if _try_get_safe(client, "pdejax/done/0"):
                        return
                    self._stop(f"process 0 of {self.count} (the coordinator) cannot be reached: it died, or "
                               f"its host did ({type(err).__name__}: {str(err).splitlines()[0][:120]})")

    def _stop(self, why: str) -> None:
        if self._done.is_set():
            return
        print(f"pdejax: error: process {self.index}: {why}. A multi-process run cannot continue without every "
              "process; this one stops too. Its checkpoints are kept: resume the run (pdejax train --resume "
              "RUN_DIR, in every process) once all can run.", file=sys.stderr, flush=True)
        os._exit(WATCHDOG_EXIT)


def _try_get_safe(client, key: str) -> bool:
    try:
        return _try_get(client, key) is not None
    except Exception:
        return False
