"""Spectral building blocks: periodic Fourier grids and exact spectral derivatives."""

from .fourier import FourierGrid as FourierGrid
