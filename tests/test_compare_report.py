"""`tinyagent compare`'s report: figures read from each run's own files, aggregated per optimizer."""

import json

import pytest

from tinyagent_ft.cli import main as tinyagent
from tinyagent_ft.compare_report import mean_spread, write_report


def fake_run(directory, losses, successes, test_success, peak):
    directory.mkdir(parents=True)
    lines = [{"step": 10 * (i + 1), "loss": loss, "optimizer_state_bytes": 1000, "peak_rss_bytes": peak}
             for i, loss in enumerate(losses)]
    lines += [{"step": 10 * (i + 1), "eval_loss": 1.0, "eval_success_rate": s} for i, s in enumerate(successes)]
    (directory / "metrics.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n{truncated")
    info = {"steps": 10 * len(losses), "train_seconds": 2.0 * len(losses)}
    (directory / "planner.json").write_text(json.dumps({"format": "tinyagent-planner", "version": 1, "info": info}))
    (directory / "test").mkdir()
    summary = {"n": 10, "success_rate": test_success, "tool_set_accuracy": 0.9}
    (directory / "test" / "report.json").write_text(json.dumps({"summary": summary, "results": []}))
    return directory


def test_report_aggregates_seeds_from_the_runs_files(tmp_path):
    runs = {
        "natural_galore": [fake_run(tmp_path / "a0", [3.0, 1.0], [0.2, 0.5], 0.4, 2**30),
                           fake_run(tmp_path / "a1", [3.0, 2.0], [0.1, 0.3], 0.6, 2**30)],
        "adamw": [fake_run(tmp_path / "b0", [3.0, 1.5], [0.4, 0.2], 0.1, 2**31)],
    }
    text = write_report(tmp_path, runs).read_text()
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    # final loss 1.0 and 2.0 -> 1.5 ± 0.707; best validation per run 0.5 and 0.3; test 0.4 and 0.6
    assert "1.500 ± 0.707" in rows["natural_galore"] and "0.400 ± 0.141" in rows["natural_galore"]
    assert "0.500 ± 0.141" in rows["natural_galore"]
    assert "| adamw | 1 | 1.500 | 0.400 | 0.100 |" in rows["adamw"]  # best validation, not last
    assert "| 2048.0 |" in rows["adamw"] and "0.200" in rows["adamw"]  # peak MiB; 4 s / 20 steps
    for png in ("loss.png", "success.png"):
        assert (tmp_path / png).stat().st_size > 1000


def test_mean_spread_handles_missing_and_single_values():
    assert mean_spread([None]) == "–" and mean_spread([0.5]) == "0.500"
    assert mean_spread([0.0, 1.0, None]) == "0.500 ± 0.707"


@pytest.mark.parametrize("optimizers", ["sgd", "", "adamw,sgd"])
def test_compare_rejects_unknown_optimizers(tmp_path, capsys, optimizers):
    with pytest.raises(SystemExit) as exit_info:
        tinyagent(["compare", "--out", str(tmp_path), "--optimizers", optimizers])
    assert exit_info.value.code == 2 and "unknown optimizer" in capsys.readouterr().err


def test_compare_needs_both_data_and_retriever_or_neither(tmp_path, capsys):
    assert tinyagent(["compare", "--out", str(tmp_path), "--data", str(tmp_path)]) == 2
    assert "give both --data and --retriever" in capsys.readouterr().err


def test_report_html_holds_the_table_the_plots_and_relative_links_to_each_evaluation(tmp_path):
    import base64
    import re

    runs = {"galore": [fake_run(tmp_path / "runs" / "galore-seed0", [3.0, 1.0], [0.2, 0.5], 0.4, 2**30),
                       fake_run(tmp_path / "runs" / "galore-seed1", [3.0, 2.0], [0.1, 0.3], 0.6, 2**30)]}
    (tmp_path / "runs" / "galore-seed0" / "test" / "report.html").write_text("<!doctype html>")
    markdown = write_report(tmp_path, runs).read_text()
    page = (tmp_path / "report.html").read_text()
    assert "<td>galore</td>" in page and "1.500 ± 0.707" in page and "1.500 ± 0.707" in markdown
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 2 and all(base64.b64decode(image).startswith(b"\x89PNG") for image in images)
    links = re.findall(r'href="([^"]+)"', page)
    assert links == ["runs/galore-seed0/test/report.html", "runs/galore-seed0/test/report.json",
                     "runs/galore-seed1/test/report.json"]
    assert all((tmp_path / link).is_file() for link in links)
    assert not re.search(r'src="(?!data:)', page)  # nothing fetched from outside the page
