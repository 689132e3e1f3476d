"""Where the API takes data: a directory of TinyAgent files, or `datasets` objects held in memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from planner_eval.catalog import Catalog

# What `load_split` returns; a Dataset given in memory needs query and plan, the rest is derived.
REQUIRED_COLUMNS = ("query", "plan")


def split_rows(data: Any, split: str, catalog: Catalog | None = None):
    """The rows of ``split`` as a `datasets.Dataset` with id, query, plan and tools columns.

    ``data`` is a data directory (str or Path), a `DatasetDict` or mapping keyed by split name, or a
    `Dataset` that is the split itself. A directory's records are checked against ``catalog`` (the
    built-in one by default).
    """
    from tinyagent_ft.data.io import load_split

    if isinstance(data, (str, Path)):
        return load_split(data, split, catalog)
    if hasattr(data, "column_names") and hasattr(data, "select"):  # a datasets.Dataset
        return _completed(data, catalog)
    if hasattr(data, "keys") and split in data:
        return _completed(data[split], catalog)
    raise ValueError(f"expected a data directory, a Dataset or a DatasetDict with a {split!r} split, "
                     f"got {type(data).__name__}")


def _completed(dataset, catalog: Catalog | None = None):
    """``dataset`` with the id and tools columns filled in where it lacks them."""
    from planner_eval.parse import parse_plan

    missing = [c for c in REQUIRED_COLUMNS if c not in dataset.column_names]
    if missing:
        raise ValueError(f"the dataset lacks the column(s) {', '.join(missing)}")
    if "id" not in dataset.column_names:
        dataset = dataset.add_column("id", [str(i) for i in range(len(dataset))])
    if "tools" not in dataset.column_names:
        tools = [list(dict.fromkeys(a.tool for a in parse_plan(plan, catalog).actions)) for plan in dataset["plan"]]
        dataset = dataset.add_column("tools", tools)
    return dataset
