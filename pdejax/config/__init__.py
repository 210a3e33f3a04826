"""Typed experiment configs, YAML loading with overrides, and registries."""

from .errors import ConfigError as ConfigError
from .registry import Registry as Registry
