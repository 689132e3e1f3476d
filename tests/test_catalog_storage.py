"""Catalogs stored beside artifacts, compared with a given one; enums; values dropped with warnings."""

from __future__ import annotations

import json
import warnings

import pytest

from planner_eval import score_plan
from planner_eval.catalog import TOOLS
from planner_eval.catalog_io import (
    CATALOG_FILE,
    CatalogError,
    CatalogWarning,
    catalog_difference,
    catalog_from_json,
    resolve_catalog,
    stored_catalog,
    to_openai_schemas,
    write_catalog,
)

UNITS = [{"name": "forecast", "parameters": {"type": "object", "required": ["city"], "properties": {
    "city": {"type": "string"},
    "units": {"type": "string", "enum": ["metric", "imperial"], "default": "metric"},
    "days": {"type": "integer", "enum": [1, 3, 7]},
}}}]


def test_enum_values_are_checked_and_references_pass():
    catalog = catalog_from_json(UNITS)
    verdict = score_plan('1. forecast("Oslo", "metric")', '1. forecast("Oslo", "kelvin")', catalog=catalog)
    assert verdict.error == "bad_arguments" and "'metric'" in verdict.detail and "'imperial'" in verdict.detail
    assert score_plan('1. forecast("Oslo", "metric", 3)', '1. forecast("Oslo", "metric", True)', catalog=catalog).error == "bad_arguments"
    assert score_plan('1. forecast("Oslo")\n2. forecast("Oslo", "$1")', '1. forecast("Oslo")\n2. forecast("Oslo", "$1")',
                      catalog=catalog).success


def test_wrongly_typed_defaults_and_enum_values_are_dropped_with_one_warning_each():
    schema = [{"name": "a", "parameters": {"properties": {
        "x": {"type": "integer", "default": "3"},
        "u": {"type": "string", "enum": ["c", 3, "f"], "default": "k"},
    }}}]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x, u = catalog_from_json(schema)["a"].args
    messages = [str(w.message) for w in caught if issubclass(w.category, CatalogWarning)]
    assert not x.has_default and u.enum == ("c", "f") and not u.has_default
    assert len(messages) == 3 and all("tool 'a'" in m and "\n" not in m for m in messages)


def test_enum_round_trips_through_openai_schemas():
    catalog = catalog_from_json(UNITS)
    again = catalog_from_json(to_openai_schemas(catalog))
    assert catalog_difference(catalog, again) is None
    assert again["forecast"].args[2].enum == (1, 3, 7)


def test_stored_catalog_and_resolution(tmp_path):
    artifact, old = tmp_path / "retriever", tmp_path / "old"
    artifact.mkdir(), old.mkdir()
    assert stored_catalog(old) is None
    write_catalog(catalog_from_json(UNITS), artifact)
    given = tmp_path / "units.json"
    given.write_text(json.dumps(UNITS))
    assert list(resolve_catalog(None, [artifact])) == ["forecast"]
    assert list(resolve_catalog(given, [artifact])) == ["forecast"]
    assert resolve_catalog(None, [old]) is TOOLS
    assert resolve_catalog(None, []) is TOOLS
    with pytest.raises(CatalogError, match="'forecast'") as info:
        resolve_catalog(given, [old])
    assert "\n" not in str(info.value)
    changed = json.loads(given.read_text())
    changed[0]["parameters"]["properties"]["days"]["enum"] = [1, 3]
    given.write_text(json.dumps(changed))
    with pytest.raises(CatalogError, match="argument 'days': enum"):
        resolve_catalog(given, [artifact])


def test_the_builtin_catalog_read_back_is_the_builtin_object(tmp_path):
    write_catalog(TOOLS, tmp_path)
    assert (tmp_path / CATALOG_FILE).is_file()
    assert resolve_catalog(None, [tmp_path]) is TOOLS
