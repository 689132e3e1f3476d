"""TinyAgent-format data: streaming loader, writer and a generator of synthetic records."""

from tinyagent_ft.data.generator import SPLITS, generate_splits
from tinyagent_ft.data.io import (
    SPLIT_FILES,
    CorruptRecordWarning,
    LoadStats,
    iter_rows,
    load_split,
    load_tinyagent_file,
    read_records,
    write_tinyagent_file,
)

__all__ = [
    "SPLITS",
    "SPLIT_FILES",
    "CorruptRecordWarning",
    "LoadStats",
    "generate_splits",
    "iter_rows",
    "load_split",
    "load_tinyagent_file",
    "read_records",
    "write_tinyagent_file",
]
