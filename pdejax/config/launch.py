"""Checks of a multi-process launch's settings (the ``distributed`` config section, the
CLI's ``--coordinator``/``--num-processes``/``--process-id``), before JAX starts."""

from __future__ import annotations

from collections.abc import Mapping

from .errors import ConfigError


def check_distributed_settings(coordinator: str | None, num_processes: int | None, process_id: int | None, *,
                   keys: Mapping[str, str] | None = None) -> None:
    """ConfigError unless the three settings are all unset, or all set and consistent.

    ``keys`` names them in messages (default: the config keys ``distributed.*``; the CLI
    passes its options).

    >>> check_distributed_settings("node0:1234", 2, 1)
    >>> check_distributed_settings("node0", 2, 1)
    Traceback (most recent call last):
    ...
    pdejax.config.errors.ConfigError: distributed.coordinator = 'node0' is invalid: expected HOST:PORT \
(the address of process 0 and a free port, e.g. node0:1234).
    """
    keys = {"coordinator": "distributed.coordinator", "num_processes": "distributed.num_processes",
            "process_id": "distributed.process_id", **(keys or {})}
    given = {"coordinator": coordinator, "num_processes": num_processes, "process_id": process_id}
    if all(v is None for v in given.values()):
        return
    missing = [k for k, v in given.items() if v is None]
    if missing:
        k = missing[0]
        set_ = ", ".join(keys[n] for n, v in given.items() if v is not None)
        raise ConfigError(keys[k], None, f"a value: with {set_} set, all of {keys['coordinator']}, "
                          f"{keys['num_processes']} and {keys['process_id']} are needed")
    host, sep, port = str(coordinator).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(keys["coordinator"], coordinator,
                          "HOST:PORT (the address of process 0 and a free port, e.g. node0:1234)")
    if isinstance(num_processes, bool) or not isinstance(num_processes, int) or num_processes < 1:
        raise ConfigError(keys["num_processes"], num_processes, "a positive number of processes")
    if isinstance(process_id, bool) or not isinstance(process_id, int) or not 0 <= process_id < num_processes:
        raise ConfigError(keys["process_id"], process_id,
                          f"0 .. {num_processes - 1} (this process's index among {num_processes} processes)")
