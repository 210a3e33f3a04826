"""From a config to a trained model and a run directory: the Python face of the CLI.

The experiment layer looks the method family up by ``objective.name`` and never
branches on it (:mod:`pdejax.methods`).
"""

from .build import Experiment as Experiment
from .build import build as build
from .build import precision as precision
from .compare import Comparison as Comparison
from .compare import compare_runs as compare_runs
from .redraw import redraw_plots as redraw_plots
from .runs import Run as Run
from .runs import load_run as load_run
from .sweep import SweepResult as SweepResult
from .sweep import sweep as sweep
from .sweep_report import SweepReport as SweepReport
from .sweep_report import report as report
from .train import train as train
