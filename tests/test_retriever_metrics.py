"""Tool-set metrics, threshold tuning, and strict reading of labelled query files (also through the CLI)."""

from __future__ import annotations

import json

import pytest
import torch

from planner_eval.catalog import TOOL_NAMES
from retriever.classifier import select
from retriever.labels import decode, encode
from retriever.metrics import tool_set_metrics
from retriever.queryfile import read_queries
from retriever.threshold import tune_threshold
from tinyagent_ft.cli import main


def test_metrics_average_per_query_and_empty_prediction_has_zero_precision():
    report = tool_set_metrics(
        predicted=[["send_sms", "get_phone_number"], [], ["create_note", "open_note"]],
        gold=[["get_phone_number", "send_sms"], ["create_reminder"], ["create_note"]],
    )
    assert report["n"] == 3
    assert report["tool_recall"] == pytest.approx((1 + 0 + 1) / 3)
    assert report["tool_precision"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert report["exact_set_accuracy"] == pytest.approx(1 / 3)
    assert report["mean_tools_selected"] == pytest.approx(4 / 3)


def test_metrics_reject_mismatched_lengths():
    with pytest.raises(ValueError):
        tool_set_metrics([["send_sms"]], [])


def test_labels_round_trip_in_catalog_order():
    hot = encode([["send_sms", "get_phone_number"], []])
    assert hot.shape == (2, len(TOOL_NAMES))
    assert decode(hot) == [["get_phone_number", "send_sms"], []]


def test_select_always_keeps_the_most_likely_tool():
    probabilities = torch.full((1, len(TOOL_NAMES)), 0.01)
    probabilities[0, 3] = 0.2
    assert decode(select(probabilities, 0.5)) == [[TOOL_NAMES[3]]]


def test_threshold_maximizes_recall_without_dropping_below_the_precision_floor():
    gold = encode([["get_phone_number", "send_sms"]] * 4)
    probabilities = torch.zeros(4, len(TOOL_NAMES))
    probabilities[:, 0] = 0.9  # get_phone_number: confidently right
    probabilities[:, TOOL_NAMES.index("send_sms")] = torch.tensor([0.6, 0.4, 0.3, 0.2])  # right, but unsure
    probabilities[0, TOOL_NAMES.index("create_note")] = 0.15  # wrong, and below every send_sms score
    tuned = tune_threshold(probabilities, gold, min_precision=0.9)
    # Every send_sms is caught from 0.20 down; the highest such threshold keeps create_note out.
    assert tuned["threshold"] == pytest.approx(0.2)
    assert tuned["recall"] == pytest.approx(1.0) and tuned["precision"] == pytest.approx(1.0)
    # With a floor nothing can reach, precision wins over recall.
    strict = tune_threshold(probabilities, gold, min_precision=1.01)
    assert strict["precision"] == pytest.approx(1.0)


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_read_queries_accepts_extra_fields_and_blank_lines(tmp_path):
    path = write_lines(tmp_path / "q.jsonl", [
        json.dumps({"id": "x", "query": "text mom", "tools": ["get_phone_number", "send_sms"]}), "",
        json.dumps({"query": "remind me", "tools": ["create_reminder"]}),
    ])
    assert read_queries(path) == (["text mom", "remind me"], [["get_phone_number", "send_sms"], ["create_reminder"]])


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"query": "text mom", "tools": ["send_sms"]', "not valid JSON"),
        ('{"query": "text mom"}', 'missing field "tools"'),
        ('{"tools": ["send_sms"]}', 'missing field "query"'),
        ('{"query": "fax it", "tools": ["send_fax"]}', "unknown tool 'send_fax'"),
        ('{"query": "", "tools": ["send_sms"]}', "non-empty string"),
        ('{"query": "text mom", "tools": "send_sms"}', "list of tool names"),
        ('["text mom"]', "JSON object"),
    ],
)
def test_read_queries_names_the_bad_line(tmp_path, bad_line, message):
    good = json.dumps({"query": "remind me", "tools": ["create_reminder"]})
    path = write_lines(tmp_path / "q.jsonl", [good, good, bad_line])
    with pytest.raises(ValueError, match=rf"q\.jsonl:3: .*{message}"):
        read_queries(path)


def test_cli_eval_reports_a_malformed_query_file_in_one_line(tmp_path, capsys):
    queries = write_lines(tmp_path / "q.jsonl", ['{"query": "text mom", "tools": ["send_sms"]}', '{"query": "x", "tools": ["nope"]}'])
    code = main(["retriever", "eval", "--index", str(tmp_path / "no-index"), "--queries", str(queries), "--out", str(tmp_path / "r.json")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "q.jsonl:2" in err and "unknown tool 'nope'" in err
    assert not (tmp_path / "r.json").exists()


def test_cli_eval_reports_a_missing_index_in_one_line(tmp_path, capsys):
    queries = write_lines(tmp_path / "q.jsonl", ['{"query": "text mom", "tools": ["send_sms"]}'])
    code = main(["retriever", "eval", "--index", str(tmp_path / "no-index"), "--queries", str(queries), "--out", str(tmp_path / "r.json")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "retriever.json missing" in err
