"""What both neuraloperator peers report about the model they ran (run in the peer's venv)."""

from __future__ import annotations

from typing import Any


def describe(model: Any, n_modes: Any) -> dict[str, Any]:
    """Versions, threads, modes asked for and kept, and real parameter count (a complex
    parameter counts twice, as pdejax stores it) of a neuraloperator FNO."""
    import neuralop
    import torch

    spectral = model.fno_blocks.convs[0]
    return {
        "neuraloperator_version": neuralop.__version__,
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "n_modes": list(n_modes),
        "kept_modes_per_axis": [int(n) for n in spectral.weight.shape[2:]],
        "params": sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters()),
    }
