"""`tinyagent compare`'s report as one self-contained HTML page beside report.md: the table, the
plots (the PNGs embedded as data URIs) and, per run, links to its evaluation report. Links are
relative, so the output directory can be moved or served as it is."""

from __future__ import annotations

import base64
import os
from html import escape
from pathlib import Path

# Each run's evaluation, in the order they are linked; a file that is not there is not linked.
EVALUATION_FILES = ("test/report.html", "test/report.json", "test/predictions.jsonl")

_CSS = """
body { margin: 0; padding: 16px 28px 40px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2a3a; background: #f6f8fa; }
h1 { font-size: 20px; margin: 4px 0; }
h2 { font-size: 16px; margin: 22px 0 8px; }
p.note { color: #5b6b7f; margin: 4px 0 12px; }
section { background: #fff; border: 1px solid #d8dee6; border-radius: 8px; padding: 4px 16px 14px; margin-top: 14px; }
table { border-collapse: collapse; }
th, td { padding: 4px 10px; border-bottom: 1px solid #eef1f4; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
.plots img { max-width: 100%; height: auto; border: 1px solid #eef1f4; border-radius: 6px; }
ul.runs { margin: 0; padding-left: 18px; }
code { font-size: 13px; }
"""


def _data_uri(png: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def _table(header: list[str], body: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(cell)}</th>" for cell in header)
    rows = "".join(
        "<tr>" + "".join(f"<td{' class=num' if k else ''}>{escape(cell)}</td>" for k, cell in enumerate(row)) + "</tr>"
        for row in body
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _run_links(out: Path, runs: dict[str, list[Path]]) -> str:
    items = []
    for optimizer, dirs in runs.items():
        for run in dirs:
            links = [
                f'<a href="{escape(Path(os.path.relpath(run / name, out)).as_posix())}">{escape(name)}</a>'
                for name in EVALUATION_FILES if (run / name).is_file()
            ]
            found = " · ".join(links) if links else "no evaluation found"
            items.append(f"<li><code>{escape(run.name)}</code> ({escape(optimizer)}): {found}</li>")
    return f'<ul class="runs">{"".join(items)}</ul>'


def write_html(
    out: Path, title: str, note: str, header: list[str], body: list[list[str]],
    plots: list[tuple[str, Path]], runs: dict[str, list[Path]],
) -> Path:
    """Write OUT/report.html: `header` and `body` are the table's cells as text, `plots` (caption,
    PNG file) pairs, `runs` the run directories per optimizer."""
    images = "".join(
        f'<figure><img alt="{escape(caption)}" src="{_data_uri(png)}"><figcaption>{escape(caption)}</figcaption></figure>'
        for caption, png in plots
    )
    page = "".join([
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">",
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>',
        f"<style>{_CSS}</style></head><body>",
        f'<h1>{escape(title)}</h1><p class="note">{escape(note)}</p>',
        f"<section><h2>Per optimizer</h2>{_table(header, body)}</section>",
        f'<section><h2>Curves</h2><div class="plots">{images}</div></section>',
        f"<section><h2>Each run's evaluation</h2>{_run_links(out, runs)}</section>",
        "</body></html>\n",
    ])
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
