"""The generation driver: config → generator → chunks of vmapped samples → HDF5.

Example (``configs/data/heat.yaml``, made small):
    >>> import tempfile, pathlib
    >>> from pdejax.data import load_dataset
    >>> tmp = tempfile.TemporaryDirectory()
    >>> path = pathlib.Path(tmp.name) / "heat.h5"
    >>> config = {"name": "heat", "n_samples": 10, "chunk_size": 10,
    ...           "generator": {"name": "heat", "n_points": 16, "t_final": 0.1, "dt": 0.01, "save_every": 5}}
    >>> report = generate(config, path, progress=False)
    >>> report.computed  # the chunks computed (a rerun resumes and computes none)
    [0]
    >>> load_dataset(path, split="train").tensor.shape  # [N, T, X]: 9 of 10 samples, t = 0, 0.05, 0.1
    (9, 3, 16)
    >>> tmp.cleanup()
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray
from tqdm.auto import tqdm

from .._progress import disable
from .._runlock import FileLock
from .._signals import fault_point
from ..config.errors import ConfigError
from .config import DataConfig, load_data_config
from .generators import GENERATORS, AbstractGenerator, check_generator
from .hdf5 import StoredArray, open_writer


def sample_key(seed: int, index: int | Array) -> PRNGKeyArray:
    """The PRNG key of sample ``index``: independent of chunking and of ``n_samples``."""
    return jax.random.fold_in(jax.random.key(seed), index)


@dataclass
class GenerationReport:
    """What :func:`generate` did: ``computed`` chunk indices (the others were on disk already)."""

    path: Path
    n_samples: int
    n_chunks: int
    computed: list[int] = field(default_factory=list)
    wall_s: float = 0.0
    first_chunk_s: float = 0.0  # compilation included

    @property
    def resumed(self) -> bool:
        return len(self.computed) < self.n_chunks


def resolve_config(config: DataConfig) -> DataConfig:
    """``config`` with every generator argument spelled out (defaults filled in, types coerced).

    What a file records, so that it documents the data completely and a config that
    states a default equals one that leaves it out.
    """
    entry = GENERATORS.get(config.generator.name, where="generator.name")
    args = GENERATORS.validate_args(config.generator.name, config.generator.args, where="generator")
    defaults = {n: p.default for n, p in inspect.signature(entry).parameters.items()
                if n not in GENERATORS.provided and p.default is not inspect.Parameter.empty
                and p.kind is not p.VAR_KEYWORD}
    generator = {"name": config.generator.name, **defaults, **args}
    return DataConfig.model_validate(config.model_dump() | {"generator": generator})


@functools.lru_cache(maxsize=8)
def _build(name: str, args_json: str) -> AbstractGenerator:
    generator = GENERATORS.build(name, json.loads(args_json), where="generator")
    if not isinstance(generator, AbstractGenerator):
        raise TypeError(f"generator {name!r} returned {type(generator).__name__}, not an AbstractGenerator")
    check_generator(generator, name)
    return generator


def build_generator(config: DataConfig) -> AbstractGenerator:
    """The config's generator, its arguments checked, and its promises (shapes) too.

    Generators are immutable, so equal configs share one (and its compiled code).
    """
    config = resolve_config(config)
    return _build(config.generator.name, json.dumps(config.generator.args, sort_keys=True))


def storage_plan(config: DataConfig, generator: AbstractGenerator
                 ) -> tuple[dict[str, StoredArray], dict[str, np.ndarray], dict[str, int]]:
    """``(arrays, coordinates, strides)`` as stored: ``store_stride`` applied, dtypes resolved."""
    arrays = generator.arrays
    axes = {a for spec in arrays.values() for a in spec.axes} - {"field"}
    for axis, stride in config.store_stride.items():
        if axis not in axes:
            raise ConfigError(f"store_stride.{axis}", stride, f"a stride for an axis of the arrays: {sorted(axes)}")
    strides = dict(config.store_stride)
    stored = {}
    for name, spec in arrays.items():
        shape = tuple(len(range(0, n, strides.get(a, 1))) for a, n in zip(spec.axes, spec.shape))
        floating = jnp.issubdtype(spec.dtype, jnp.floating)
        stored[name] = StoredArray(shape, np.dtype(config.dtype if floating else spec.dtype), tuple(spec.axes))
    coordinates = {name: np.asarray(values)[::strides.get(name.removesuffix("-coordinate"), 1)]
                   for name, values in generator.coordinates().items()}
    return stored, coordinates, strides


@eqx.filter_jit
def generate_chunk(generator: AbstractGenerator, base_key: PRNGKeyArray, indices: Array,
                   strides: tuple[tuple[str, tuple[int, ...]], ...] = ()) -> dict[str, Array]:
    """Samples ``indices`` of the dataset, ``{name: [len(indices), ...]}``, vmapped and jitted.

    Sample ``i`` uses ``fold_in(base_key, i)``, with ``base_key = jax.random.key(seed)``.

    ``strides`` keeps every ``k``-th entry per axis of each named array (``store_stride``).
    """
    out = jax.vmap(lambda i: generator.sample(jax.random.fold_in(base_key, i)))(indices)
    for name, steps in strides:
        out[name] = out[name][(slice(None), *(slice(None, None, k) for k in steps))]
    return out


def generate(config: str | Path | Mapping[str, Any] | DataConfig, out: str | Path, *,
             overrides: Sequence[str] = (), progress: bool | None = None, overwrite: bool = False,
             command: str | None = None, on_chunk: Callable[[int], None] | None = None) -> GenerationReport:
    """Generate the dataset described by ``config`` into the HDF5 file ``out``.

    Resumable: if ``out`` exists and was made by the same config (``name`` aside), only
    its unfinished chunks are computed; a finished file is left as it is.

    Args:
        config: a data config (YAML path, mapping or :class:`DataConfig`).
        out: the ``.h5`` file to write.
        overrides: ``key.sub=value`` overrides applied to ``config``.
        progress: a bar over samples with rate and ETA, on a terminal only (``False``: never).
        overwrite: replace an existing ``out`` instead of resuming it.
        command: the command line, recorded in the file (for the "resume with" hint).
        on_chunk: called with each chunk's index once it is on disk.

    One writer at a time: the lock file ``out + ".lock"`` is held while this runs, and
    taken before ``overwrite`` deletes anything, so a file another process is still
    writing is neither deleted nor written twice.

    Raises:
        ConfigError: a bad config key (names it), ``out`` is not resumable
            (:class:`DataError`: another config made it, or it is not a pdejax file),
            or another live process is writing ``out`` (names its pid, host and start).
    """
    start = time.perf_counter()
    config = resolve_config(load_data_config(config, overrides))
    generator = build_generator(config)
    arrays, coordinates, strides = storage_plan(config, generator)
    steps = tuple((n, tuple(strides.get(a, 1) for a in spec.axes)) for n, spec in generator.arrays.items())
    report = GenerationReport(Path(out), config.n_samples, config.n_chunks)
    lock = FileLock(Path(out).with_name(Path(out).name + ".lock"), key="--out", command=command)
    # Without its directory there is no lock to take: open_writer names the missing directory.
    locked = lock if Path(out).parent.is_dir() else contextlib.nullcontext()
    with locked, open_writer(out, config, arrays, coordinates, generator.attributes(),
                     overwrite=overwrite, command=command) as writer:
        pending = writer.pending()
        if pending:
            base_key = jax.random.key(config.seed)
            batch = min(config.chunk_size, config.n_samples)  # the last chunk is padded: one compilation

            def launch(index: int) -> dict[str, Array]:  # asynchronous: returns before the device is done
                first = config.chunk(index).start
                return generate_chunk(generator, base_key, jnp.arange(first, first + batch, dtype=jnp.int32), steps)

            done = config.n_samples - sum(len(config.chunk(i)) for i in pending)
            with tqdm(total=config.n_samples, initial=done, unit="sample", desc=config.name,
                      disable=disable(progress), dynamic_ncols=True) as bar:
                t0 = time.perf_counter()
                running = launch(pending[0])
                for k, index in enumerate(pending):
                    values = running
                    if k + 1 < len(pending):  # the next chunk computes while this one is written
                        running = launch(pending[k + 1])
                    rows = config.chunk(index)
                    values = {n: np.asarray(v)[:len(rows)].astype(arrays[n].dtype) for n, v in values.items()}
                    if not report.computed:
                        report.first_chunk_s = time.perf_counter() - t0
                    writer.write_chunk(index, values)
                    report.computed.append(index)
                    bar.update(len(rows))
                    fault_point(f"data:chunk:{index}")
                    if on_chunk is not None:
                        on_chunk(index)
        writer.finish()
    report.wall_s = time.perf_counter() - start
    return report
