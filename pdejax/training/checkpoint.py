"""Checkpoints: orbax-checkpoint behind one small class.

Saves are atomic (orbax writes to a temporary directory and renames it when complete),
so a kill mid-save leaves the previous checkpoints intact; only the newest ``keep``
are kept. States are pytrees of arrays (``eqx.partition(model, eqx.is_array)``);
restoring needs an abstract target with the same structure, then ``eqx.combine``.

In a multi-process run every process makes the same calls (orbax's multi-host path:
process 0 writes the metadata and each replicated array once, all wait for each other);
restore into targets whose shardings span the global mesh.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from ..parallel.distributed import broadcast

for _name in ("absl", "orbax"):
    logging.getLogger(_name).setLevel(logging.ERROR)


def _quiet_closed_loop(hook):
    """An unraisable-exception hook that drops orbax's aftermath of a failed restore.

    When a damaged checkpoint fails to restore, tensorstore reads still in flight
    complete later and call back into orbax's already closed asyncio loop; each
    prints a "RuntimeError: Event loop is closed" traceback. They are harmless (the
    failure was already raised and handled); everything else goes to ``hook``.
    """

    def quiet(unraisable):
        err = unraisable.exc_value
        if isinstance(err, RuntimeError) and str(err) == "Event loop is closed":
            return
        hook(unraisable)

    quiet.pdejax_quiet = True
    return quiet


def _install_quiet_hook() -> None:
    if not getattr(sys.unraisablehook, "pdejax_quiet", False):
        sys.unraisablehook = _quiet_closed_loop(sys.unraisablehook)


class Checkpointer:
    """Numbered checkpoints of a pytree of arrays plus a JSON-able metadata dict.

    Args:
        directory: where the numbered checkpoint folders go (created if needed).
        keep: how many of the newest checkpoints to keep.

    >>> import tempfile, jax, jax.numpy as jnp
    >>> ckpt = Checkpointer(tempfile.mkdtemp(), keep=3)
    >>> ckpt.save(100, {"w": jnp.arange(3.0)}, {"phase": 0})
    >>> state, meta = ckpt.restore({"w": jax.ShapeDtypeStruct((3,), jnp.float32)})
    >>> state["w"].tolist(), meta, ckpt.latest_step()
    ([0.0, 1.0, 2.0], {'phase': 0}, 100)
    >>> ckpt.close()
    """

    def __init__(self, directory: str | Path, *, keep: int = 3):
        self.directory = Path(directory).absolute()
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                                 enable_async_checkpointing=False),
        )

    def save(self, step: int, state: Any, metadata: dict[str, Any]) -> None:
        """Write checkpoint ``step`` (blocking; atomic on completion)."""
        self._manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(metadata)), force=True)
        self._manager.wait_until_finished()

    def latest_step(self) -> int | None:
        self._manager.reload()
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        self._manager.reload()
        return list(self._manager.all_steps())

    def metadata(self, step: int | None = None) -> dict[str, Any]:
        step = self.latest_step() if step is None else step
        return self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta

    def restore(self, target: Any, step: int | None = None) -> tuple[Any, dict[str, Any]]:
        """Restore checkpoint ``step`` (default: latest) into the structure of ``target``.

        ``target`` holds arrays or ``jax.ShapeDtypeStruct`` s (with shardings, to
        restore sharded); returns ``(state, metadata)``.
        """
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        try:
            out = self._manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
        except Exception:
            _install_quiet_hook()
            # Reads still in flight finish within moments; let them report now, to the
            # quiet hook, rather than during interpreter shutdown (where it is bypassed).
            time.sleep(0.2)
            gc.collect()
            raise
        return out.state, out.meta

    def set_aside(self, step: int) -> Path:
        """Move checkpoint ``step`` (a damaged one) to ``<directory>.damaged/<step>[.n]``
        so the step can be saved again; returns where it went. In a multi-process run
        every process calls this; process 0 moves it."""
        aside = self.directory.with_name(self.directory.name + ".damaged")
        dest = None
        if jax.process_index() == 0:
            aside.mkdir(parents=True, exist_ok=True)
            dest, n = aside / str(step), 1
            while dest.exists():
                dest, n = aside / f"{step}.{n}", n + 1
            os.replace(self.directory / str(step), dest)
        dest = Path(broadcast(None if dest is None else str(dest), "checkpoint-set-aside"))
        self._manager.reload()
        return dest

    def close(self) -> None:
        self._manager.close()
