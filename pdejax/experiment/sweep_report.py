"""A sweep's results: the best trials as a table, and the history and importance plots."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config.errors import ConfigError
from .sweep_spaces import count, describe, short
from .sweep_study import (
    SPEC_ATTR,
    check_storage_url,
    check_study_name,
    default_storage,
    display_url,
    quiet_optuna,
    require_optuna,
)


@dataclass(frozen=True)
class SweepReport:
    """What :func:`report` found and wrote.

    Attributes:
        study: the ``optuna.Study``.
        text: the summary and the table of the best trials, as printed by ``pdejax sweep --report``.
        plots: the figures written (``history.png``, ``importance.png``).
        importance: each parameter's importance (empty with fewer than two complete trials).
    """

    study: Any
    text: str
    plots: tuple[Path, ...]
    importance: dict[str, float]


def report(study: str | None = None, *, storage: str | None = None, directory: str | Path | None = None,
           top: int = 10, plots: bool = True) -> SweepReport:
    """Tabulate a sweep's best trials and draw its optimisation history and parameter importances.

    Args:
        study: the study's name; may be omitted when ``storage`` (or ``sweeps/``, with the
            default storage) holds one study only.
        storage: its database URL (default ``sqlite:///sweeps/<study>/study.db``).
        directory: where ``plots/`` goes (default ``sweeps/<study>``).
        top: how many trials the table lists, best first (complete, then pruned).
        plots: write ``plots/history.png`` and ``plots/importance.png``.

    Importances are computed by fANOVA when scikit-learn is installed, else by PED-ANOVA
    (Optuna's own, with no further dependency).
    """
    optuna = require_optuna()
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ConfigError("--top", top, "a positive number of trials")
    with quiet_optuna():
        name, url = _locate(study, storage)
        try:
            handle = optuna.load_study(study_name=name, storage=optuna.storages.RDBStorage(url))
        except KeyError:
            names = optuna.study.get_all_study_names(storage=url)
            raise ConfigError("--study", name, f"a study of {display_url(url)}: "
                              f"{', '.join(names) or '(it holds none)'}") from None
        where = Path(directory) if directory is not None else Path("sweeps") / name
        importance = _importance(optuna, handle)
        key = handle.user_attrs.get(SPEC_ATTR, {}).get("objective", "Objective Value")
        written = _plots(optuna, handle, where / "plots", importance, key) if plots else ()
        text = _text(handle, url, top, importance)
    if plots:
        text += "\nplots: " + ", ".join(str(p) for p in written) if written else \
            "\nplots: none (no complete trial yet)"
    return SweepReport(handle, text, tuple(written), importance)


def _locate(study: str | None, storage: str | None) -> tuple[str, str]:
    """The study's name and storage URL from what was given (one study found where none is named)."""
    import optuna

    if storage is None:
        if study is not None:
            path = Path("sweeps") / check_study_name(study) / "study.db"
            if not path.is_file():
                raise ConfigError("--study", study, f"a sweep run from this directory ({path} does not exist; "
                                  "give --storage URL for a study elsewhere)")
            return study, default_storage(path.parent)
        found = sorted(Path("sweeps").glob("*/study.db"))
        if len(found) != 1:
            names = ", ".join(p.parent.name for p in found) or "none in ./sweeps"
            raise ConfigError("--study", None, f"the name of the sweep to report ({names})")
        return found[0].parent.name, default_storage(found[0].parent)
    url = check_storage_url(storage)
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database).is_file():
        raise ConfigError("--storage", storage, f"an existing study database ({parsed.database} does not exist)")
    if study is None:
        names = optuna.study.get_all_study_names(storage=url)
        if len(names) != 1:
            raise ConfigError("--study", None, f"one of the studies of {url}: {', '.join(names) or '(none)'}")
        study = names[0]
    return study, url


def _text(study: Any, url: str, top: int, importance: dict[str, float]) -> str:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    spec = study.user_attrs.get(SPEC_ATTR, {})
    key = spec.get("objective", "value")
    states = {s: sum(t.state == s for t in trials) for s in TrialState}
    tally = ", ".join(f"{n} {s.name.lower()}" for s, n in states.items() if n)
    direction = study.direction.name.lower()
    lines = [f"study {study.study_name} ({display_url(url)}): {count(len(trials), 'trial')}"
             f"{': ' + tally if tally else ''}",
             f"objective: {direction} {key}"]
    sign = 1.0 if direction == "minimize" else -1.0

    def rank(t: Any) -> tuple:
        value = t.value if t.value is not None and math.isfinite(t.value) else math.inf * sign
        return (t.state != TrialState.COMPLETE, sign * value if t.value is not None else math.inf, t.number)

    shown = sorted((t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)), key=rank)[:top]
    if not shown:
        return "\n".join([*lines, "no finished trials yet"])
    names = list(dict.fromkeys(k for t in shown for k in t.params))
    header = ["rank", "trial", "state", key, *names, "steps", "wall_s", "run_dir"]
    rows = [[str(i + 1), str(t.number), t.state.name.lower(), _number(t.value),
             *(_cell(t.params.get(k)) for k in names),
             str(t.user_attrs.get("steps", "")), _number(t.user_attrs.get("wall_s"), ".1f"),
             str(t.user_attrs.get("run_dir", ""))] for i, t in enumerate(shown)]
    widths = [max(len(r[j]) for r in [header, *rows]) for j in range(len(header))]
    table = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
    best = shown[0]
    if best.state == TrialState.COMPLETE:
        lines.append(f"best: trial {best.number}, {key} = {best.value:.4g} ({describe(best.params)})")
    if importance:
        lines.append("importance: " + ", ".join(f"{k} {v:.2f}" for k, v in importance.items()))
    return "\n".join([*lines, "", *table])


def _importance(optuna: Any, study: Any) -> dict[str, float]:
    """Each parameter's importance (fANOVA with scikit-learn, else PED-ANOVA); empty when there
    are fewer than two complete trials or nothing varied."""
    from optuna.trial import TrialState

    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if len(complete) < 2 or not any(len({repr(t.params.get(k)) for t in complete}) > 1 for k in complete[0].params):
        return {}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "too few trials": the numbers are still shown
        return dict(optuna.importance.get_param_importances(study, evaluator=_evaluator(optuna)))


def _evaluator(optuna: Any) -> Any:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return optuna.importance.PedAnovaImportanceEvaluator()
    return optuna.importance.FanovaImportanceEvaluator(seed=0)


def _plots(optuna: Any, study: Any, where: Path, importance: dict[str, float], key: str) -> list[Path]:
    from optuna.trial import TrialState

    if not any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        return []
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    from optuna.visualization import matplotlib as optuna_plots

    where.mkdir(parents=True, exist_ok=True)
    written = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's "experimental" notices
        figures = [("history.png", lambda: optuna_plots.plot_optimization_history(study, target_name=key))]
        if importance:
            figures.append(("importance.png", lambda: optuna_plots.plot_param_importances(
                study, evaluator=_evaluator(optuna), target_name=key)))
        for name, draw in figures:
            ax = draw()
            if name == "history.png":
                ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            fig = ax.figure
            fig.set_size_inches(7, 4.5)
            fig.tight_layout()
            fig.savefig(where / name, dpi=120)
            plt.close(fig)
            written.append(where / name)
    return written


def _number(value: Any, fmt: str = ".4g") -> str:
    return format(value, fmt) if isinstance(value, (int, float)) and not isinstance(value, bool) else ""


def _cell(value: Any) -> str:
    return short(value) if value is not None else ""
