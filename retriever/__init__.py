"""ToolRAG for the planner: a multi-label tool classifier plus an in-context example index.

Takes plain inputs (queries, tool-name lists, plan texts); the `tinyagent` CLI wires datasets into it.
Exports load on first use, so that `import retriever.backbones` (e.g. for CLI help) stays free of torch.
"""

from importlib import import_module

from planner_eval._version import __version__

_EXPORTS = {
    "Example": "retriever.index",
    "ExampleIndex": "retriever.index",
    "format_example": "retriever.index",
    "Records": "retriever.training",
    "TrainConfig": "retriever.training",
    "train_classifier": "retriever.training",
    "fit_retriever": "retriever.training",
    "train_retriever": "retriever.recipe",
    "Retriever": "retriever.retriever",
    "ToolClassifier": "retriever.classifier",
    "tool_set_metrics": "retriever.metrics",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'retriever' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
