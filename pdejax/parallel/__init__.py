"""Meshes and sharding helpers."""

from .mesh import data_mesh as data_mesh
