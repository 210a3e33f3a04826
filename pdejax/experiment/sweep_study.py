"""A sweep's Optuna study in a database: opening it, checking it is this sweep's, retrying trials.

Every worker of a sweep opens the same study (``optuna.create_study(load_if_exists=True)``)
in an :class:`optuna.storages.RDBStorage`: an SQLite file by default, or any SQLAlchemy URL
(PostgreSQL, MySQL) that several machines reach. Each running trial writes a heartbeat;
a trial whose worker died (``kill -9``, a lost machine) misses its heartbeats, and the next
worker to start a trial marks it failed and queues a copy of it (same parameters) that
one of them runs again, from the dead run's last checkpoint when its directory is reachable.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import json
import re
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..config.errors import ConfigError

MAX_RETRIES = 2
"""How many times a trial whose worker died or was interrupted is queued again."""

_STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
SPEC_ATTR = "pdejax_sweep"  # the study's user attribute holding what is swept (config, spaces, objective)


def require_optuna() -> Any:
    """The ``optuna`` module, or a ConfigError telling how to install it."""
    try:
        import optuna
    except ImportError:
        raise ConfigError("optuna", None, "", message="pdejax sweep needs Optuna, which is not installed: "
                          "pip install 'pdejax[sweep]'") from None
    return optuna


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Within the block Optuna logs errors only and its "experimental feature" warnings are
    silent: a sweep prints one line per trial itself."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)


def check_study_name(name: str) -> str:
    """A study name usable as a directory name (it names ``sweeps/<study>/``)."""
    if not isinstance(name, str) or not _STUDY_NAME.match(name):
        raise ConfigError("--study", name, "a name of letters, digits, '_', '-' and '.', starting with a letter "
                          "or digit (it names the sweep's directory)")
    return name


def default_storage(directory: Path) -> str:
    """``sqlite:///<directory>/study.db``, absolute (so every worker's cwd finds the same file)."""
    return f"sqlite:///{(directory / 'study.db').absolute()}"


def check_storage_url(url: str) -> str:
    """A SQLAlchemy URL whose dialect and driver are installed (nothing is connected yet)."""
    import sqlalchemy
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
        engine = sqlalchemy.create_engine(parsed)  # loads the dialect and its driver, connects to nothing
        engine.dispose()
    except ImportError as err:
        raise ConfigError("--storage", url, f"a database whose Python driver is installed ({err.name or err} is not: "
                          "e.g. pip install psycopg2-binary for postgresql://, pymysql for mysql+pymysql://)") from None
    except Exception as err:  # ArgumentError (malformed), NoSuchModuleError (unknown dialect)
        raise ConfigError("--storage", url, "a SQLAlchemy database URL such as sqlite:///sweeps/study.db or "
                          f"postgresql://user:password@host/db ({_first_line(err)})") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ConfigError("--storage", url, "a database file shared by the sweep's workers "
                          "(sqlite:///path/to/study.db), not an in-memory SQLite database")
    return url


def display_url(url: str) -> str:
    """``url`` with its password hidden, for output."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL: shown as given
        return url


def open_storage(url: str, heartbeat: int, on_stale: Any) -> Any:
    """An ``RDBStorage`` on ``url`` (an SQLite file's directory is created) with heartbeats
    every ``heartbeat`` seconds; a trial silent for twice that is failed and ``on_stale(study,
    trial)`` is called."""
    import optuna
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    engine_kwargs = {}
    if parsed.get_backend_name() == "sqlite":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"connect_args": {"timeout": 60}}  # workers wait for each other's writes
    # optuna >= 4.9 names the callback heartbeat_stale_trial_callback (failed_trial_callback before)
    names = inspect.signature(optuna.storages.RDBStorage).parameters
    callback = "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in names \
        else "failed_trial_callback"
    for attempt in range(5):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat,
                                              grace_period=2 * heartbeat, **{callback: on_stale})
        except Exception as err:  # sqlalchemy's OperationalError: no server, no permission, not a database
            if isinstance(err, OSError):
                raise
            if attempt < 4 and _creating_concurrently(err):
                time.sleep(0.5 * (attempt + 1))
                continue
            raise ConfigError("--storage", url, f"a database that can be opened ({_first_line(err)})") from None


def _creating_concurrently(err: Exception) -> bool:
    """An error of two workers creating the same new database's tables at once (the second retries)."""
    import sqlalchemy.exc

    text = str(err).lower()
    return isinstance(err, sqlalchemy.exc.IntegrityError) or (
        isinstance(err, sqlalchemy.exc.OperationalError) and ("already exists" in text or "locked" in text))


def open_study(storage: Any, name: str, direction: str, sampler: Any, pruner: Any,
               spec: Mapping[str, Any]) -> Any:
    """Create the study ``name``, or load it and check it is the same sweep (same config, spaces,
    objective, direction and heartbeat); the first worker records ``spec`` in the study. While
    the study holds only failed trials, a different ``spec`` replaces the recorded one."""
    import optuna
    from optuna.trial import TrialState

    study = optuna.create_study(storage=storage, study_name=name, direction=direction, sampler=sampler,
                                pruner=pruner, load_if_exists=True)
    stored_direction = study.direction.name.lower()
    if stored_direction != direction:
        raise ConfigError("--direction", direction, f"{stored_direction}, the direction of the existing study "
                          f"{name!r} (or a new --study)")
    spec = json.loads(json.dumps(spec, default=str))
    stored = study.user_attrs.get(SPEC_ATTR)
    if stored is None and study.get_trials(deepcopy=False):
        raise ConfigError("--study", name, "a study of pdejax sweep (this one has trials pdejax did not run): "
                          "another --study NAME")
    if stored is None:
        study.set_user_attr(SPEC_ATTR, spec)
    elif stored != spec:
        if any(t.state != TrialState.FAIL for t in study.get_trials(deepcopy=False)):
            raise _different_sweep(name, stored, spec)
        study.set_user_attr(SPEC_ATTR, spec)  # nothing but failed trials yet (a typo?): the command is corrected
    return study


def _different_sweep(name: str, stored: Mapping[str, Any], spec: Mapping[str, Any]) -> ConfigError:
    what = {"config": "", "params": "--param ", "grid": "--grid ", "objective": "--objective",
            "heartbeat": "--heartbeat"}
    for key, flag in what.items():
        if stored.get(key) != spec.get(key):
            path, new, old = _first_difference(stored.get(key), spec.get(key))
            where = flag if key in ("objective", "heartbeat") else f"{flag}{path}" if path != "value" else flag.strip()
            return ConfigError("--study", name, "", message=(
                f"study {name!r} holds another sweep: its {where or 'config'} is {_brief(old)}, here "
                f"{_brief(new)}. Run the study's own command again, or start another study with --study NAME."))
    return ConfigError("--study", name, "a study started by this same sweep command")


def _brief(value: Any) -> str:
    text = "(none)" if value is None else json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _first_difference(old: Any, new: Any, path: str = "") -> tuple[str, Any, Any]:
    """``(dotted key, new value, old value)`` of the first difference between two JSON values."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            if old.get(key) != new.get(key):
                return _first_difference(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
    return path or "value", new, old


def counts(study: Any) -> dict[str, int]:
    """How many of the study's trials are finished (complete or pruned), running, waiting, failed."""
    from optuna.trial import TrialState

    out = {"finished": 0, "running": 0, "waiting": 0, "failed": 0}
    for t in study.get_trials(deepcopy=False):
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            out["finished"] += 1
        elif t.state == TrialState.RUNNING:
            out["running"] += 1
        elif t.state == TrialState.WAITING:
            out["waiting"] += 1
        elif t.state == TrialState.FAIL:
            out["failed"] += 1
    return out


def retry(study: Any, trial: Any) -> bool:
    """Queue a copy of failed ``trial`` (same parameters, run directory and grid point) for the
    next worker; False (nothing queued) after :data:`MAX_RETRIES` retries of it.

    The run directory of the failed trial stays in the copy's ``run_dir`` attribute, so the
    copy continues that run from its last checkpoint where the directory is reachable.
    """
    import optuna

    system = {**copy.deepcopy(trial.system_attrs)}
    history = [*system.get("retry_history", []), trial.number]
    if len(history) > MAX_RETRIES:
        return False
    system.update(failed_trial=history[0], retry_history=history)
    user = {**{k: v for k, v in trial.user_attrs.items() if k in ("run_dir", "overrides")},
            "retry_of": trial.number}
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.WAITING, params=trial.params,
                                              distributions=trial.distributions, user_attrs=user,
                                              system_attrs=system))
    return True


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return " ".join(text[0].split()) if text else type(err).__name__
