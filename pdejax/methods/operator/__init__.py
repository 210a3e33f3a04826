"""The neural-operator families: ``objective.name: operator`` and ``autoregressive``."""

from .build import build_autoregressive as build_autoregressive
from .build import build_operator as build_operator
from .evaluation import PairEvaluator as PairEvaluator
from .evaluation import RolloutEvaluator as RolloutEvaluator
from .schema import AutoregressiveConfig as AutoregressiveConfig
from .schema import OperatorConfig as OperatorConfig
