"""The `tinyagent compare` report: a Markdown table of mean and spread over seeds per optimizer, PNG
plots of the loss curves and success rates, and all of it as one HTML page (`compare_html`). Every
figure is read from the runs' own files (`metrics.jsonl`, `planner.json`, `test/report.json`), never
from the comparing process's memory."""

from __future__ import annotations

import json
import platform
import statistics
from datetime import date
from pathlib import Path

from tinyagent_ft.compare_html import write_html
from tinyagent_ft.runs import read_metrics, run_figures, training_lines, validation_lines


def run_row(run: Path) -> dict:
    """One run's figures: training curve summary, validation, test, cost."""
    figures = run_figures(run)
    test = json.loads((run / "test" / "report.json").read_text())["summary"]
    figures.update(test_success_rate=test["success_rate"], test_tool_set_accuracy=test["tool_set_accuracy"])
    return figures


def mean_spread(values: list[float | None]) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "–"
    if len(present) == 1:
        return f"{present[0]:.3f}"
    return f"{statistics.mean(present):.3f} ± {statistics.stdev(present):.3f}"


def _mib(values: list[float]) -> str:
    return f"{statistics.mean(values) / 2**20:.1f}" if values else "–"


COLUMNS = (
    ("final train loss", "final_loss"),
    ("best val success", "best_eval_success_rate"),
    ("test success", "test_success_rate"),
    ("test tool-set acc.", "test_tool_set_accuracy"),
    ("s / step", "seconds_per_step"),
)


def table_cells(rows: dict[str, list[dict]]) -> tuple[list[str], list[list[str]]]:
    """The table as text cells: (header, one row per optimizer), for report.md and report.html."""
    header = ["optimizer", "seeds", *(name for name, _ in COLUMNS), "optimizer state (MiB)", "peak RSS (MiB)"]
    body = []
    for optimizer, runs in rows.items():
        cells = [optimizer, str(len(runs))]
        cells += [mean_spread([run[key] for run in runs]) for _, key in COLUMNS]
        cells += [_mib([run["optimizer_state_bytes"] for run in runs]), _mib([run["peak_rss_bytes"] for run in runs])]
        body.append(cells)
    return header, body


def table(rows: dict[str, list[dict]]) -> str:
    header, body = table_cells(rows)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def plot_curves(runs: dict[str, list[Path]], out: Path) -> tuple[Path, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    loss_png, success_png = out / "loss.png", out / "success.png"
    fig, ax = plt.subplots(figsize=(7, 4.5))
    fig2, ax2 = plt.subplots(figsize=(7, 4.5))
    for color, (optimizer, dirs) in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"], runs.items()):
        for index, run in enumerate(dirs):
            lines = read_metrics(run / "metrics.jsonl")
            label = optimizer if index == 0 else None
            train, valid = training_lines(lines), validation_lines(lines)
            ax.plot([t["step"] for t in train], [t["loss"] for t in train], color=color, alpha=0.8, lw=1, label=label)
            ax2.plot([v["step"] for v in valid], [v["eval_success_rate"] for v in valid], "o-", color=color, label=label)
    ax.set(xlabel="step", ylabel="training loss (completion tokens)", yscale="log", title="Training loss")
    ax2.set(xlabel="step", ylabel="validation plan success", ylim=(0, 1), title="Validation plan success")
    for axes, figure, path in ((ax, fig, loss_png), (ax2, fig2, success_png)):
        axes.grid(alpha=0.3)
        axes.legend()
        figure.tight_layout()
        figure.savefig(path, dpi=120)
        plt.close(figure)
    return loss_png, success_png


def write_report(out: Path, runs: dict[str, list[Path]]) -> Path:
    rows = {optimizer: [run_row(run) for run in dirs] for optimizer, dirs in runs.items()}
    loss_png, success_png = plot_curves(runs, out)
    (out / "report.json").write_text(json.dumps(rows, indent=2))
    note = (f"Measured {date.today().isoformat()} on {platform.machine()} ({platform.processor() or 'cpu'}); "
            "mean ± standard deviation over seeds; test success with constrained decoding.")
    write_html(out, "Optimizer comparison", note, *table_cells(rows),
               [("training loss", loss_png), ("validation success", success_png)], runs)
    text = "\n".join([
        "# Optimizer comparison",
        "",
        note,
        "",
        table(rows),
        "",
        f"![training loss]({loss_png.name})",
        "",
        f"![validation success]({success_png.name})",
        "",
    ])
    path = out / "report.md"
    path.write_text(text)
    return path
