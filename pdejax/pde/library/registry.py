"""The registry of library PDEs (``pde.name`` in configs)."""

from ...config.registry import Registry

PDES = Registry("pde")
