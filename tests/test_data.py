import json
import random
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from planner_eval.catalog import JOIN, TOOL_NAMES, TOOLS
from planner_eval.catalog_io import read_catalog
from planner_eval.plan import references
from tinyagent_ft.data import (
    CorruptRecordWarning,
    generate_splits,
    iter_rows,
    load_split,
    load_tinyagent_file,
    read_records,
    write_tinyagent_file,
)
from tinyagent_ft.data.generator import draw_example, is_held_out
from tinyagent_ft.data.intents import INTENTS
from tinyagent_ft.data.io import iter_json_object


@pytest.fixture(scope="module")
def splits():
    return generate_splits(1500, 300, 300, seed=7)


def _plan_calls(record):
    return [c for c in record["output"][0]["parsed_output"] if c["tool_name"] != JOIN]


def test_round_trip_write_then_read_is_equal(tmp_path, splits):
    path = tmp_path / "training_data.json"
    write_tinyagent_file(splits["train"], path)
    assert read_records(path) == splits["train"]
    with open(path) as handle:  # the written file is also plain JSON for any other reader
        assert json.load(handle) == splits["train"]


def test_dataset_columns_match_records(tmp_path, splits):
    write_tinyagent_file(splits["validation"], tmp_path / "validation_data.json")
    dataset = load_split(tmp_path, "validation")
    assert dataset.column_names == ["id", "query", "plan", "tools", "steps"]
    assert len(dataset) == len(splits["validation"])
    row, (record_id, record) = dataset[5], list(splits["validation"].items())[5]
    assert row["id"] == record_id and row["query"] == record["input"]
    assert row["plan"] == record["output"][0]["raw_output"]
    calls = _plan_calls(record)
    assert row["tools"] == list(dict.fromkeys(c["tool_name"] for c in calls))
    assert [(s["tool"], json.loads(s["args"])) for s in row["steps"]] == [(c["tool_name"], c["tool_args"]) for c in calls]


def test_corrupt_records_are_skipped_with_a_counted_warning(tmp_path, splits):
    records = dict(list(splits["test"].items())[:20])
    keys = list(records)
    records[keys[0]] = {"output": []}  # no input
    records[keys[1]] = {"input": "hi", "output": [{"type": "join"}]}  # no plan step
    broken = json.loads(json.dumps(records[keys[2]]))
    broken["output"][0]["parsed_output"][0]["tool_name"] = "launch_rocket"
    records[keys[2]] = broken
    records[keys[3]] = "not an object"
    path = tmp_path / "testing_data.json"
    write_tinyagent_file(records, path)
    with pytest.warns(CorruptRecordWarning, match="skipped 4 of 20"):
        dataset = load_tinyagent_file(path)
    assert len(dataset) == 16 and keys[4] in dataset["id"] and keys[0] not in dataset["id"]


def test_truncated_file_keeps_complete_records(tmp_path, splits):
    path = tmp_path / "t.json"
    write_tinyagent_file(dict(list(splits["test"].items())[:10]), path)
    text = path.read_text()
    path.write_text(text[: len(text) * 3 // 4])
    with pytest.warns(CorruptRecordWarning, match="file ends inside a record"):
        rows = list(iter_rows(path))
    assert 5 <= len(rows) < 10


@pytest.mark.parametrize(
    "text, message",
    [("[1, 2]", "not a TinyAgent JSON object"), ('{"a": {"input": "x"} "b": 1}', "expected ','"), ("", "end of file")],
)
def test_not_a_tinyagent_file_is_a_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        list(iter_json_object(path))


def test_streaming_reader_handles_values_across_chunk_boundaries(tmp_path, monkeypatch):
    import tinyagent_ft.data.io as io

    monkeypatch.setattr(io, "_CHUNK_CHARS", 7)
    records = {f"k{i}": {"input": "q" * i, "n": 10**i, "nested": [{"a": "é\"}"}]} for i in range(12)}
    path = tmp_path / "small.json"
    write_tinyagent_file(records, path)
    assert dict(iter_json_object(path)) == records


def test_every_generated_plan_is_well_formed(splits):
    for records in splits.values():
        for record in records.values():
            plan = record["output"][0]
            assert plan["raw_output"].rstrip().endswith("join()<END_OF_PLAN>")
            calls = _plan_calls(record)
            assert 1 <= len(calls) <= 5
            assert plan["parsed_output"][-1]["tool_name"] == JOIN
            for index, call in enumerate(calls, start=1):
                tool = TOOLS[call["tool_name"]]
                assert list(call["tool_args"]) == list(tool.arg_names)
                refs = references(list(call["tool_args"].values()))
                assert all(1 <= ref < index for ref in refs), (record["input"], call)
                assert f"{index}. {call['tool_name']}(" in plan["raw_output"]


def test_generated_data_covers_every_tool_and_multi_step_shapes(splits):
    tools, lengths, fan_in = set(), set(), False
    for record in splits["train"].values():
        calls = _plan_calls(record)
        tools.update(c["tool_name"] for c in calls)
        lengths.add(len(calls))
        fan_in |= any(len(references(list(c["tool_args"].values()))) >= 2 for c in calls)
    assert tools == set(TOOL_NAMES)
    assert lengths == {1, 2, 3, 4, 5}
    assert fan_in


def test_no_evaluation_query_appears_in_training(splits):
    train = {" ".join(r["input"].lower().split()) for r in splits["train"].values()}
    for split in ("validation", "test"):
        queries = [" ".join(r["input"].lower().split()) for r in splits[split].values()]
        assert not train.intersection(queries)
        assert len(set(queries)) == len(queries)


def test_a_quarter_of_templates_is_held_out_of_training(splits):
    for intent in INTENTS:
        held = [i for i in range(len(intent.templates)) if is_held_out(i, len(intent.templates))]
        assert held and len(held) / len(intent.templates) >= 0.2, intent.name


def test_draws_record_intent_and_held_out_phrasing():
    rng = random.Random(0)
    train = [draw_example("train", rng) for _ in range(300)]
    test = [draw_example("test", rng) for _ in range(300)]
    assert not any(d.held_out for d in train)
    # Half the evaluation queries come from held-out templates, plus the seen share that happens to be.
    assert 0.35 < sum(d.held_out for d in test) / len(test) < 0.65
    assert {d.intent for d in test} == {intent.name for intent in INTENTS}
    for intent in INTENTS:  # a template's position identifies it only if no intent repeats one
        assert len(set(intent.templates)) == len(intent.templates), intent.name


def test_generation_is_deterministic_for_a_seed():
    assert generate_splits(200, 20, 20, seed=3) == generate_splits(200, 20, 20, seed=3)
    assert generate_splits(200, 20, 20, seed=3)["train"] != generate_splits(200, 20, 20, seed=4)["train"]


def test_data_generate_cli_writes_three_files(tmp_path):
    out = tmp_path / "gen"
    cmd = [sys.executable, "-m", "tinyagent_ft.cli", "data", "generate", "--out", str(out), "--train", "50", "--val", "10", "--test", "10", "--seed", "1"]
    result = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1])["records"] == {"train": 50, "validation": 10, "test": 10}
    assert len(load_split(out, "test")) == 10


def test_cli_reports_bad_input_in_one_line(tmp_path):
    cmd = [sys.executable, "-m", "tinyagent_ft.cli", "data", "stats", "--data", str(tmp_path)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "no TinyAgent data files" in result.stderr


# --- another catalog, and plan JSONL files -------------------------------------------------------

HOME = read_catalog(Path(__file__).parent / "data" / "home_tools.json")
HOME_LINES = [
    {"id": "a", "query": "warm the hall", "plan": '1. find_device("hall")\n2. set_thermostat("$1", 21.5, "heat")\n3. join()<END_OF_PLAN>'},
    {"query": "lights off in the den", "plan": '1. find_device("den")\n2. set_lights(["$1"], False)\n3. join()<END_OF_PLAN>'},
    {"query": "jazz", "plan": '1. play_music("jazz", 30, True)\n2. join()'},  # 30 is not in the enum
    {"query": "mornings", "plan": '1. schedule_scene("m", [1, 2])\n2. join()'},  # a required argument missing
    {"query": "fax", "plan": '1. send_fax("Bob")\n2. join()'},  # not a tool of this catalog
    {"query": "cool", "plan": '1. set_thermostat("t1", "21")\n2. join()'},  # a str for a number
]


def write_lines(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + "\n")
    return path


def test_plan_jsonl_splits_load_checked_against_the_catalog(tmp_path):
    write_lines(tmp_path / "training_data.jsonl", HOME_LINES)
    with pytest.warns(CorruptRecordWarning, match=r"skipped 4 of 6") as caught:
        rows = load_split(tmp_path, "train", HOME)
    message = str(caught[0].message)
    assert "wrong arguments for play_music" in message and "unknown tool 'send_fax'" in message
    assert "wrong arguments for set_thermostat" in message and "wrong arguments for schedule_scene" in message
    assert rows["id"] == ["a", "2"] and rows["tools"] == [["find_device", "set_thermostat"], ["find_device", "set_lights"]]
    assert json.loads(rows["steps"][1][1]["args"]) == {"devices": ["$1"], "on": False, "brightness": 100}


def test_tinyagent_records_are_checked_for_argument_count_and_types(tmp_path, splits):
    records = dict(list(splits["train"].items())[:3])
    broken = json.loads(json.dumps(list(records.values())[0]))
    plan = next(step for step in broken["output"] if step["type"] == "plan")
    plan["raw_output"] = plan["raw_output"].replace(")", ", 7)", 1)  # one argument too many
    write_tinyagent_file({**records, "broken": broken}, tmp_path / "training_data.json")
    with pytest.warns(CorruptRecordWarning, match=r"skipped 1 of 4 records \(1 x wrong arguments for"):
        assert len(load_split(tmp_path, "train")) == 3


def test_a_file_whose_every_record_fails_the_catalog_is_an_error(tmp_path, splits):
    write_tinyagent_file(splits["test"], tmp_path / "testing_data.json")
    with pytest.raises(ValueError, match=r"none of its \d+ records is usable \(\d+ x unknown tool"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load_split(tmp_path, "test", HOME)
    write_lines(tmp_path / "testing_data.jsonl", HOME_LINES)
    with pytest.raises(ValueError, match="keep one"):
        load_split(tmp_path, "test", HOME)
