"""Comparing runs: the config keys that differ, the summary metrics, the curves on one figure.

Reads only what a run directory records (``config.yaml``, ``summary.json``,
``metrics.jsonl``): nothing is built or compiled, and unfinished runs compare too.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..config.errors import ConfigError

_MISSING = "-"


@dataclass(frozen=True)
class RunRecords:
    """What a run directory records, read without building its model.

    Attributes:
        directory: the run directory.
        config: ``config.yaml`` as plain YAML (nested dicts).
        summary: ``summary.json`` (empty while the run is unfinished).
        history: the records of ``metrics.jsonl``, one per logged step.
    """

    directory: Path
    config: dict[str, Any]
    summary: dict[str, Any]
    history: list[dict[str, Any]]

    @property
    def finished(self) -> bool:
        """Whether the run wrote its ``summary.json``."""
        return bool(self.summary)

    def logged_keys(self) -> list[str]:
        """Every number ``metrics.jsonl`` logs against step: loss terms, ``lr``, evaluation metrics."""
        from ..plots import record_keys

        terms, metrics = record_keys(self.history)
        lr = ["lr"] if any("lr" in r for r in self.history) else []
        return [*terms, *lr, *metrics]

    def evaluation_keys(self) -> list[str]:
        """The evaluation metrics: those of ``summary.json``, else those logged so far."""
        from ..plots import record_keys

        if isinstance(self.summary.get("metrics"), dict):
            return list(self.summary["metrics"])
        return record_keys(self.history)[1]

    def results(self) -> dict[str, Any]:
        """Evaluation metrics, ``steps`` and ``wall_s``: from ``summary.json``, else the last
        records (an unfinished run's latest values)."""
        if self.finished:
            metrics = self.summary.get("metrics") or {}
            return {**metrics, "steps": self.summary.get("steps"), "wall_s": self.summary.get("wall_s")}
        out: dict[str, Any] = {}
        for record in self.history:
            out.update({k: record[k] for k in self.evaluation_keys() if k in record})
        last = self.history[-1] if self.history else {}
        return {**out, "steps": last.get("step"), "wall_s": last.get("wall_s")}


def read_run(run_dir: str | Path, *, key: str = "RUN_DIR") -> RunRecords:
    """The records of ``run_dir``; ConfigError (naming ``key``) when it is not a run directory."""
    directory = Path(run_dir)
    config_path = directory / "config.yaml"
    if not config_path.is_file():
        found = "does not exist" if not directory.exists() else "has no config.yaml"
        raise ConfigError(key, str(directory), f"a run directory of pdejax train (with config.yaml; this one {found})")
    try:
        config = yaml.safe_load(config_path.read_text()) or {}
        summary_path = directory / "summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
        metrics_path = directory / "metrics.jsonl"
        lines = metrics_path.read_text().splitlines() if metrics_path.is_file() else []
        history = [json.loads(line) for line in lines if line.strip()]
    except (yaml.YAMLError, json.JSONDecodeError) as err:
        raise ConfigError(key, str(directory), f"a readable run directory ({type(err).__name__}: {err})") from None
    if not isinstance(config, dict):
        raise ConfigError(key, str(directory), "a run directory whose config.yaml is a mapping")
    return RunRecords(directory, config, summary, history)


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one dict of dotted keys (lists and other values are leaves).

    >>> flatten({"optimizer": {"name": "adam", "learning_rate": 1e-3}, "seed": 0, "imports": []})
    {'optimizer.name': 'adam', 'optimizer.learning_rate': 0.001, 'seed': 0, 'imports': []}
    """
    out: dict[str, Any] = {}
    for k, v in config.items():
        name = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, name))
        else:
            out[name] = v
    return out


@dataclass(frozen=True)
class Comparison:
    """Runs side by side: what :func:`compare_runs` returns.

    Attributes:
        runs: the runs' records, in the order given.
        labels: a short label per run: the values of the differing keys when there are
            one to three (``optimizer.learning_rate=0.001``), else the directory name.
        differing: the dotted config keys whose values are not the same in every run
            (``name`` aside: the ``run`` column names each run).
        metrics: the result columns: evaluation metrics (``rel_l2`` first), ``steps``, ``wall_s``.
        rows: one ``{column: value}`` per run: ``run`` (the directory), each differing key
            (``"-"`` where a run lacks it) and each metric (``None`` where a run has none).
    """

    runs: list[RunRecords]
    labels: list[str]
    differing: list[str]
    metrics: list[str]
    rows: list[dict[str, Any]]

    @property
    def columns(self) -> list[str]:
        """``run``, the differing keys, then the metrics."""
        return ["run", *self.differing, *self.metrics]

    def table(self, fmt: str = "text") -> str:
        """The rows as an aligned plain-text table (``text``), ``markdown`` or ``csv``.

        Unfinished runs are marked ``(unfinished)`` after their directory; their metrics
        are the latest logged.
        """
        if fmt == "csv":
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(self.columns)
            for row in self.rows:
                writer.writerow(["" if row[c] is None else repr(row[c]) if isinstance(row[c], float)
                                 else _plain(row[c]) for c in self.columns])
            return buffer.getvalue()
        cells = [[_cell(row[c], c if c in self.metrics else None) for c in self.columns] for row in self.rows]
        if fmt == "markdown":
            lines = ["| " + " | ".join(self.columns) + " |",
                     "|" + "|".join("---:" if c in self.metrics else "---" for c in self.columns) + "|"]
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
            return "\n".join(lines) + "\n"
        if fmt != "text":
            raise ConfigError("--format", fmt, "one of text, markdown, csv")
        widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(self.columns)]
        right = [c in self.metrics for c in self.columns]

        def line(values: Sequence[str]) -> str:
            return "  ".join(v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right)).rstrip()

        return "\n".join([line(self.columns), line(["-" * w for w in widths]), *map(line, cells)]) + "\n"

    def plot(self, path: str | Path, *, metric_keys: Sequence[str] | None = None) -> Path:
        """Each run's loss and evaluation-metric curves against step on one figure (a PNG at ``path``).

        ``metric_keys`` default: ``rel_l2`` when a run logged it, else the first evaluation
        metric of the table.
        """
        from ..plots import plot_comparison

        if metric_keys is None:
            evaluation = [m for m in self.metrics if m not in ("steps", "wall_s")]
            metric_keys = ["rel_l2"] if "rel_l2" in evaluation else evaluation[:1]
        return plot_comparison({label: run.history for label, run in zip(self.labels, self.runs)}, path,
                               metric_keys=metric_keys)


def compare_runs(run_dirs: Sequence[str | Path], *, metrics: Sequence[str] | None = None) -> Comparison:
    """The config differences and results of several runs.

    Args:
        run_dirs: run directories (finished or not).
        metrics: the evaluation metrics to show (default: every one any run reports,
            ``rel_l2`` first); ``steps`` and ``wall_s`` are always shown.

    Raises:
        ConfigError: a path that is not a run directory, or a metric no run logged
            (naming the metrics they have).

    Example (not run here: it needs two run directories)::

        comparison = compare_runs(["runs/lr-3", "runs/lr-4"])
        print(comparison.table())
        comparison.plot("compare.png")
    """
    if not run_dirs:
        raise ConfigError("RUN_DIR", None, "one or more run directories")
    runs = [read_run(d) for d in run_dirs]
    flat = [flatten(r.config) for r in runs]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    differing = [k for k in keys if k != "name" and len({_hashable(f.get(k, _MISSING)) for f in flat}) > 1]
    if metrics is None:
        found = list(dict.fromkeys(k for r in runs for k in r.evaluation_keys()))
        metrics = sorted(found, key=lambda k: (not k.startswith("rel_l2"), found.index(k)))
    else:
        known = list(dict.fromkeys(k for r in runs for k in r.logged_keys()))
        for key in metrics:
            if key not in known:
                raise ConfigError("--metric", key, f"a metric the runs logged: {', '.join(known) or 'none yet'}")
    columns = [*metrics, "steps", "wall_s"]
    rows = []
    for run, f in zip(runs, flat):
        results = run.results()
        if metrics:  # a logged key (a loss term) that is not a summary metric: its last value
            for key in metrics:
                if key not in results:
                    values = [r[key] for r in run.history if key in r]
                    results[key] = values[-1] if values else None
        name = str(run.directory) + ("" if run.finished else " (unfinished)")
        rows.append({"run": name, **{k: f.get(k, _MISSING) for k in differing},
                     **{c: results.get(c) for c in columns}})
    return Comparison(runs, _labels(runs, flat, differing), differing, columns, rows)


def _labels(runs: Sequence[RunRecords], flat: Sequence[dict[str, Any]], differing: Sequence[str]) -> list[str]:
    if 1 <= len(differing) <= 3:
        labels = [", ".join(f"{k}={_plain(f.get(k, _MISSING))}" for k in differing) for f in flat]
        if len(set(labels)) == len(labels):
            return labels
    labels = [r.directory.name or str(r.directory) for r in runs]
    if len(set(labels)) < len(labels):
        labels = [str(r.directory) for r in runs]
    return labels


def _hashable(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)
    return str(value)


def _cell(value: Any, metric: str | None) -> str:
    if value is None:
        return _MISSING
    if metric == "wall_s" and isinstance(value, int | float):
        return f"{value:.1f}"
    if metric is not None and isinstance(value, float):
        return f"{value:.3e}"
    return _plain(value)
