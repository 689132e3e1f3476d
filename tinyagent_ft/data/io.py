"""Reading and writing the TinyAgent dataset format, and reading plan JSONL files.

A TinyAgent file is one JSON object `{record_id: {"input": query, "output": [step, ...]}, ...}`. The real
training file is 734 MB, mostly prompt text we rebuild anyway, so records are streamed one at a
time and reduced to the fields training needs: the file is never held in memory as Python objects.

A split may instead be a `.jsonl` file of the same name, a line `{"id"?, "query", "plan"}` per record with
`plan` in plan text: the evaluator's gold format plus a query, the simplest thing to write by hand.

Every record is checked against a catalog (the built-in TinyAgent tools unless one is given): a plan
that calls an unknown tool, gives a tool the wrong number or types of arguments, or is no valid plan is
skipped and counted. A file in which no record is usable is an error.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner_eval.arguments import argument_problem, put_keys_in_schema_order
from planner_eval.catalog import JOIN, Catalog, default_catalog
from planner_eval.parse import parse_plan
from planner_eval.plan import END_OF_PLAN, format_plan
from planner_eval.validate import plan_error

SPLIT_FILES = {
    "train": "training_data.json",
    "validation": "validation_data.json",
    "test": "testing_data.json",
}
JSONL = ".jsonl"

_CHUNK_CHARS = 1 << 20
# A record bigger than this is not a record but a runaway (an unterminated string, say).
_MAX_RECORD_CHARS = 64 << 20


class TruncatedFileError(ValueError):
    """The file ends inside a record: every record before it is intact."""


class CorruptRecordWarning(UserWarning):
    """Some records of a dataset file were skipped; the message says how many and why."""


@dataclass
class LoadStats:
    read: int = 0
    skipped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1


def iter_json_object(path: str | Path) -> Iterator[tuple[str, Any]]:
    """Yield the (key, value) pairs of a file holding one top-level JSON object, one value at a time.

    Raises ValueError naming the byte offset when the file is not such an object. A file cut off
    in the middle of its last value yields the complete values before it and then raises.
    """
    decoder = json.JSONDecoder()
    with open(path, encoding="utf-8") as handle:
        reader = _BufferedText(handle)
        reader.expect("{", path)
        if reader.peek() == "}":
            return
        while True:
            key = reader.decode(decoder, path)
            if not isinstance(key, str):
                raise ValueError(f"{path}: expected a string key at character {reader.offset}")
            reader.expect(":", path)
            yield key, reader.decode(decoder, path)
            separator = reader.next_char()
            if separator == "}":
                return
            if separator != ",":
                raise ValueError(f"{path}: expected ',' or '}}' at character {reader.offset}, found {separator!r}")


class _BufferedText:
    """A text file read in chunks, with just enough lookahead for `json.JSONDecoder.raw_decode`."""

    def __init__(self, handle) -> None:
        self.handle = handle
        self.buffer = ""
        self.pos = 0
        self.consumed = 0  # characters dropped from the front of the buffer so far
        self.eof = False

    @property
    def offset(self) -> int:
        return self.consumed + self.pos

    def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.handle.read(_CHUNK_CHARS)
        if not chunk:
            self.eof = True
            return False
        self.consumed += self.pos
        self.buffer = self.buffer[self.pos :] + chunk
        self.pos = 0
        return True

    def _skip_space(self) -> None:
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buffer) or not self._fill():
                return

    def peek(self) -> str:
        self._skip_space()
        return self.buffer[self.pos] if self.pos < len(self.buffer) else ""

    def next_char(self) -> str:
        char = self.peek()
        self.pos += len(char)
        return char

    def expect(self, char: str, path: str | Path) -> None:
        found = self.next_char()
        if found != char:
            what = repr(found) if found else "end of file"
            raise ValueError(f"{path}: not a TinyAgent JSON object file: expected {char!r} at character {self.offset}, found {what}")

    def decode(self, decoder: json.JSONDecoder, path: str | Path) -> Any:
        self._skip_space()
        while True:
            try:
                value, end = decoder.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as error:
                # An incomplete value looks like a syntax error until more text arrives.
                if len(self.buffer) - self.pos < _MAX_RECORD_CHARS and self._fill():
                    continue
                if self.eof and (error.pos >= len(self.buffer) - 1 or "Unterminated" in error.msg):
                    raise TruncatedFileError(f"{path}: file ends inside a record") from None
                raise ValueError(f"{path}: invalid JSON at character {self.consumed + error.pos}: {error.msg}") from None
            if end == len(self.buffer) and self._fill():
                continue  # a number may go on in the next chunk
            self.pos = end
            return value


class NoUsableRecordError(ValueError):
    """Every record of a file was skipped (most often: its plans do not fit the catalog)."""


def first_plan_step(record: Any, catalog: Catalog | None = None) -> dict[str, Any]:
    """The record's training target, checked; raises ValueError with the reason it is unusable."""
    if not isinstance(record, dict):
        raise ValueError("record is not an object")
    query = record.get("input")
    if not isinstance(query, str) or not query.strip():
        raise ValueError("missing or empty 'input'")
    steps = record.get("output")
    if not isinstance(steps, list):
        raise ValueError("'output' is not a list")
    plan = next((s for s in steps if isinstance(s, dict) and s.get("type") == "plan"), None)
    if plan is None:
        raise ValueError("no 'plan' step")
    if not isinstance(plan.get("raw_output"), str) or not plan["raw_output"].strip():
        raise ValueError("plan step without 'raw_output'")
    _check_parsed_output(plan.get("parsed_output"), default_catalog() if catalog is None else catalog)
    return plan


def _check_parsed_output(parsed: Any, catalog: Catalog) -> None:
    if not isinstance(parsed, list):
        raise ValueError("plan step's 'parsed_output' is not a list")
    for call in parsed:
        if not isinstance(call, dict) or not isinstance(call.get("tool_name"), str):
            raise ValueError("a parsed call has no 'tool_name'")
        name = call["tool_name"]
        if name != JOIN and name not in catalog:
            raise ValueError(f"unknown tool {name!r}")
        if not isinstance(call.get("tool_args", {}), dict):
            raise ValueError(f"'tool_args' of {name} is not an object")


def checked_plan(text: str, catalog: Catalog):
    """The parsed plan text when it is a valid plan over ``catalog`` with arguments of the right count
    and types; raises ValueError with the reason (one per tool or category, so that reasons count up)."""
    parsed = parse_plan(text, catalog)
    for action in parsed.actions:
        if action.tool not in catalog:
            raise ValueError(f"unknown tool {action.tool!r}")
        if argument_problem(action, catalog[action.tool]) is not None:
            raise ValueError(f"wrong arguments for {action.tool}")
    error, _ = plan_error(parsed, catalog)
    if error is not None:
        raise ValueError(f"invalid plan ({error})")
    return parsed


def in_grammar_key_order(text: str, catalog: Catalog) -> str:
    """The plan text, written again only when an object argument's keys are out of the order the
    plan grammar writes them in (see `put_keys_in_schema_order`); otherwise as it is."""
    if "{" not in text:
        return text  # no object literal, nothing to reorder: most plans skip the second parse
    parsed = parse_plan(text)  # without the catalog, so that omitted defaults stay omitted
    if not put_keys_in_schema_order(parsed.actions, catalog):
        return text
    return format_plan(parsed.actions, end_marker=END_OF_PLAN in text)


def record_to_row(record_id: str, record: dict[str, Any], catalog: Catalog | None = None) -> dict[str, Any]:
    """The fields training and evaluation use; `steps[i].args` is the call's arguments as JSON text."""
    catalog = default_catalog() if catalog is None else catalog
    plan = first_plan_step(record, catalog)
    checked_plan(plan["raw_output"], catalog)
    calls = [c for c in plan["parsed_output"] if c["tool_name"] != JOIN]
    return {
        "id": str(record_id),
        "query": record["input"].strip(),
        "plan": in_grammar_key_order(plan["raw_output"].strip(), catalog),
        "tools": list(dict.fromkeys(c["tool_name"] for c in calls)),
        "steps": [{"tool": c["tool_name"], "args": json.dumps(c.get("tool_args", {}), ensure_ascii=False)} for c in calls],
    }


def plan_line_to_row(line: str, number: int, catalog: Catalog) -> dict[str, Any]:
    """A row from a JSONL line `{"id"?, "query", "plan"}` (the id defaults to the line number)."""
    try:
        record = json.loads(line)
    except ValueError:
        raise ValueError("a line is not JSON") from None
    if not isinstance(record, dict):
        raise ValueError("a line is not a JSON object")
    query, plan = record.get("query"), record.get("plan")
    if not isinstance(query, str) or not query.strip():
        raise ValueError("missing or empty 'query'")
    if not isinstance(plan, str) or not plan.strip():
        raise ValueError("missing or empty 'plan'")
    record_id = record.get("id", number)
    if not isinstance(record_id, (str, int)) or isinstance(record_id, bool):
        raise ValueError("'id' is not a string or an integer")
    actions = checked_plan(plan, catalog).actions
    return {
        "id": str(record_id),
        "query": query.strip(),
        "plan": in_grammar_key_order(plan.strip(), catalog),
        "tools": list(dict.fromkeys(a.tool for a in actions)),
        "steps": [{"tool": a.tool, "args": json.dumps(dict(zip(catalog[a.tool].arg_names, a.args)), ensure_ascii=False)}
                  for a in actions],
    }


def _iter_records(path: str | Path, catalog: Catalog, stats: LoadStats) -> Iterator[dict[str, Any]]:
    if Path(path).suffix == JSONL:
        with open(path, encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    stats.read += 1
                    try:
                        yield plan_line_to_row(line, number, catalog)
                    except ValueError as error:
                        stats.skip(str(error))
        return
    for record_id, record in iter_json_object(path):
        stats.read += 1
        try:
            yield record_to_row(record_id, record, catalog)
        except ValueError as error:
            stats.skip(str(error))


def iter_rows(path: str | Path, stats: LoadStats | None = None, catalog: Catalog | None = None) -> Iterator[dict[str, Any]]:
    """Stream usable rows from a TinyAgent `.json` or a plan `.jsonl` file, checked against ``catalog``
    (the built-in one by default); unusable records are counted in `stats` and skipped with one warning.
    Raises NoUsableRecordError at the end when the file has records and none was usable."""
    stats = stats if stats is not None else LoadStats()
    catalog = default_catalog() if catalog is None else catalog
    try:
        yield from _iter_records(path, catalog, stats)
    except TruncatedFileError:
        # A download cut short keeps every complete record; the lost tail is reported, not fatal.
        stats.read += 1
        stats.skip("file ends inside a record")
    if stats.read and stats.skipped == stats.read:
        raise NoUsableRecordError(f"{path}: none of its {stats.read} records is usable ({_reasons(stats)})")
    _warn_skipped(path, stats)


def _reasons(stats: LoadStats, shown: int = 5) -> str:
    ranked = sorted(stats.reasons.items(), key=lambda kv: -kv[1])
    more = f"; {len(ranked) - shown} more reasons" if len(ranked) > shown else ""
    return "; ".join(f"{n} x {reason}" for reason, n in ranked[:shown]) + more


def _warn_skipped(path: str | Path, stats: LoadStats) -> None:
    if stats.skipped:
        warnings.warn(f"{path}: skipped {stats.skipped} of {stats.read} records ({_reasons(stats)})",
                      CorruptRecordWarning, stacklevel=3)


def load_tinyagent_file(path: str | Path, catalog: Catalog | None = None):
    """A `datasets.Dataset` with columns id, query, plan, tools, steps from one TinyAgent `.json` or plan
    `.jsonl` file; raises NoUsableRecordError when it has records and none of them is usable."""
    import datasets

    columns: dict[str, list] = {"id": [], "query": [], "plan": [], "tools": [], "steps": []}
    for row in iter_rows(path, catalog=catalog):
        for name, column in columns.items():
            column.append(row[name])
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "query": datasets.Value("string"),
            "plan": datasets.Value("string"),
            "tools": datasets.List(datasets.Value("string")),
            "steps": datasets.List({"tool": datasets.Value("string"), "args": datasets.Value("string")}),
        }
    )
    return datasets.Dataset.from_dict(columns, features=features)


def split_path(data_dir: str | Path, split: str) -> Path:
    """The split's file: TinyAgent's `.json` name, or the same name ending in `.jsonl`."""
    if split not in SPLIT_FILES:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_FILES)}")
    path = Path(data_dir) / SPLIT_FILES[split]
    lines = path.with_suffix(JSONL)
    if path.is_file() and lines.is_file():
        raise ValueError(f"both {path} and {lines.name} exist in {data_dir}; keep one")
    if lines.is_file():
        return lines
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (expected TinyAgent data files, or {lines.name}, in {data_dir})")
    return path


def load_split(data_dir: str | Path, split: str, catalog: Catalog | None = None):
    """Load `train`, `validation` or `test` from a directory laid out like TinyAgent's release (or with
    `.jsonl` plan files), checked against ``catalog`` (the built-in one by default)."""
    return load_tinyagent_file(split_path(data_dir, split), catalog)


def read_records(path: str | Path) -> dict[str, Any]:
    """Every record of a file as it is stored (no validation); for small files and round trips."""
    return dict(iter_json_object(path))


def write_tinyagent_file(records: Mapping[str, Any], path: str | Path) -> None:
    """Write records in the TinyAgent format, one record per line inside the object so diffs stay readable."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write("{")
        for i, (record_id, record) in enumerate(records.items()):
            handle.write("," if i else "")
            handle.write(f"\n{json.dumps(str(record_id))}: {json.dumps(record, ensure_ascii=False)}")
        handle.write("\n}\n")
    tmp.replace(path)  # a crash mid-write never leaves a half-written dataset under the real name
