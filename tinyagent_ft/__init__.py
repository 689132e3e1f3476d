"""Fine-tune, evaluate and serve a small function-calling planner (TinyAgent / LLMCompiler).

    from tinyagent_ft import TrainConfig, train, Planner, evaluate

The names load on first use, so `import tinyagent_ft` (and the CLI's --help) stays free of torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from planner_eval._version import __version__

_EXPORTS = {
    "TrainConfig": "tinyagent_ft.train.recipe",
    "train": "tinyagent_ft.train.run",
    "Planner": "tinyagent_ft.planner",
    "PlanResult": "tinyagent_ft.planner",
    "evaluate": "tinyagent_ft.evaluation",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tinyagent_ft' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
