"""The code blocks of README.md and docs/*.md, run as a reader would run them, so they cannot rot.

Each file's ```python and ```bash blocks run in order in a directory of their own, which starts
with what a tiny demo leaves in runs/demo (generated data, a random 2-layer BERT retriever, a
random tiny planner). A block whose previous line is `<!-- not run: REASON -->` is skipped with
that reason (`pytest -rs` lists them; so does test_blocks_not_run_are_listed). Python blocks run in
this interpreter; shell blocks in bash, with `tinyagent` bound to this checkout. Before a block
runs, SUBSTITUTIONS below are applied to its text: the only differences from what the reader sees.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN_LANGUAGES = {"python": "python", "bash": "shell", "shell": "shell", "sh": "shell"}
MARKER = re.compile(r"^<!--\s*not run:\s*(?P<reason>.+?)\s*-->\s*$")
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\s*$")
BLOCK_TIMEOUT_S = 180
REPOSITORY_FILES = ("tests", "benchmarks", "examples")  # read by blocks, never written

# (what it changes and why, language, pattern, replacement); {tiny_bert} is the random backbone's path.
SUBSTITUTIONS = [
    ("train_retriever() uses a random 2-layer BERT (its encoder also embeds the index), not the packaged MiniLM",
     "python", re.compile(r"\btrain_retriever\(([^()]*)\)"), r'train_retriever(\1, backbone="{tiny_bert}", embedder="classifier")'),
    ("the tiny planner at the tests' smaller shape (tests/train_fixtures.py: TEST_SHAPE)",
     "python", re.compile(r'model="tiny"'), 'model="tiny", tiny_shape=__import__("train_fixtures").TEST_SHAPE'),
]


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    language: str  # "python" or "shell"
    code: str
    not_run: str | None  # the marker's reason

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks_of(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").split("\n")
    found, i = [], 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        language = RUN_LANGUAGES.get(fence["lang"])
        if language is not None:
            marker = MARKER.match(lines[i - 1]) if i else None
            found.append(Block(path, i + 1, language, "\n".join(lines[i + 1:end]) + "\n",
                               marker["reason"] if marker else None))
        i = end + 1
    return found


ALL_BLOCKS = [block for path in DOCUMENTS for block in blocks_of(path)]


def substituted(block: Block, tiny_bert: Path) -> str:
    code = block.code
    for _, language, pattern, replacement in SUBSTITUTIONS:
        if language == block.language:
            code = pattern.sub(replacement.replace("{tiny_bert}", str(tiny_bert)), code)
    return code


@pytest.fixture(scope="module")
def demo_layout(tmp_path_factory) -> Path:
    """What `tinyagent demo --budget tiny --out runs/demo` leaves that later blocks read, made in
    seconds, and docs/retriever.md's runs/docs/retriever (its training block is not run)."""
    from retriever_fixtures import minilm_tokenizer, tiny_bert_classifier
    from serve_fixtures import save_tiny_checkpoint
    from train_fixtures import write_data, write_retriever

    base = tmp_path_factory.mktemp("doc_blocks_base")
    data = write_data(base / "runs" / "demo" / "data")
    write_retriever(data, base / "runs" / "demo" / "retriever")
    save_tiny_checkpoint(base / "runs" / "demo" / "planner")
    shutil.copytree(base / "runs" / "demo" / "retriever", base / "runs" / "docs" / "retriever")  # docs/retriever.md's
    classifier = tiny_bert_classifier(minilm_tokenizer())
    classifier.model.save_pretrained(base / "tiny-bert")
    classifier.tokenizer.save_pretrained(base / "tiny-bert")
    return base


@pytest.fixture(scope="module")
def workspaces(demo_layout, tmp_path_factory) -> dict[Path, Path]:
    """One working directory per document, made on its first block: a document's blocks build on
    one another, documents do not."""
    class Lazy(dict):
        def __missing__(self, document: Path) -> Path:
            directory = tmp_path_factory.mktemp(document.stem)
            shutil.copytree(demo_layout / "runs", directory / "runs")
            for name in REPOSITORY_FILES:  # blocks read them as a clone has them (tests/data/...)
                (directory / name).symlink_to(ROOT / name)
            self[document] = directory
            return directory

    return Lazy()


def run_python(code: str, name: str, cwd: Path, monkeypatch) -> None:
    monkeypatch.chdir(cwd)
    exec(compile(code, name, "exec"), {"__name__": "__main__"})  # noqa: S102 - our own documentation


def run_shell(code: str, cwd: Path) -> None:
    tests = str(ROOT / "tests")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), tests, os.environ.get("PYTHONPATH")])),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    prelude = f'set -euo pipefail\ntinyagent() {{ "{sys.executable}" -m tinyagent_ft.cli "$@"; }}\n'
    result = subprocess.run(["bash", "-c", prelude + code], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=BLOCK_TIMEOUT_S)
    assert result.returncode == 0, f"exit {result.returncode}\n{code}\nstdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=[b.name for b in ALL_BLOCKS])
def test_doc_block_runs(block: Block, workspaces, demo_layout, monkeypatch):
    if block.not_run is not None:
        pytest.skip(f"not run: {block.not_run}")
    cwd = workspaces[block.path]
    code = substituted(block, demo_layout / "tiny-bert")
    if block.language == "python":
        run_python(code, block.name, cwd, monkeypatch)
    else:
        run_shell(code, cwd)


def test_blocks_not_run_are_listed(capsys):
    skipped = [b for b in ALL_BLOCKS if b.not_run is not None]
    with capsys.disabled():
        print(f"\n{len(skipped)} of {len(ALL_BLOCKS)} documentation blocks are not run:")
        for block in skipped:
            print(f"  {block.name}: {block.not_run}")
    assert all(b.not_run.strip() for b in skipped)


def test_markers_sit_on_code_blocks():
    """A marker anywhere else would silently mark nothing."""
    for path in DOCUMENTS:
        lines = path.read_text(encoding="utf-8").split("\n")
        for number, line in enumerate(lines[:-1], start=1):
            if MARKER.match(line):
                assert FENCE.match(lines[number]) and lines[number] != "```", f"{path.name}:{number}: marker not on a block"


def test_substitutions_apply_where_stated():
    applied = {description: 0 for description, *_ in SUBSTITUTIONS}
    for block in ALL_BLOCKS:
        for description, language, pattern, _ in SUBSTITUTIONS:
            if block.not_run is None and language == block.language and pattern.search(block.code):
                applied[description] += 1
    assert all(applied.values()), f"a substitution that matches no block is stale: {applied}"
