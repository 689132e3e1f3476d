"""A planner checkpoint is a plain Hugging Face directory (config, safetensors, tokenizer with its chat
template) plus `planner.json`, which records how its prompts were built so that evaluation and
serving rebuild them exactly as training did, and `tools.json`, the catalog it was trained on (OpenAI
function schemas; a checkpoint without one was trained on the built-in tools). transformers and vLLM
load the directory as-is."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from planner_eval.catalog import Catalog, default_catalog
from planner_eval.catalog_io import write_catalog
from tinyagent_ft.prompts import PromptConfig

PLANNER_FILE = "planner.json"
FORMAT = "tinyagent-planner"
VERSION = 1


@dataclass
class PlannerCheckpoint:
    model: Any
    tokenizer: Any
    prompt_config: PromptConfig
    info: dict = field(default_factory=dict)  # training facts: base model, optimizer, best epoch, ...
    # tool -> arguments whose strings are spans of the question (tinyagent_ft.copying); as stored, unchecked
    copied_arguments: dict = field(default_factory=dict)
    # tool -> argument -> kinds of dates or durations the question says (tinyagent_ft.moments); unchecked
    derived_arguments: dict = field(default_factory=dict)


def save_planner(directory: str | Path, model, tokenizer, prompt_config: PromptConfig, info: dict | None = None,
                 catalog: Catalog | None = None, copied_arguments: dict | None = None,
                 derived_arguments: dict | None = None) -> None:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_catalog(default_catalog() if catalog is None else catalog, directory)
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    manifest = {"format": FORMAT, "version": VERSION, "prompt": asdict(prompt_config), "info": info or {},
                "copied_arguments": copied_arguments or {}, "derived_arguments": derived_arguments or {}}
    (directory / PLANNER_FILE).write_text(json.dumps(manifest, indent=2))


def read_manifest(directory: str | Path) -> tuple[PromptConfig, dict, dict, dict]:
    """The checkpoint's prompt settings, training facts, copied and derived arguments (as stored,
    unchecked); defaults for a plain Hugging Face model, and none of either kind of argument for a
    checkpoint older than them."""
    manifest = _manifest(directory)
    if manifest is None:
        return PromptConfig(), {}, {}, {}
    return (PromptConfig(**manifest["prompt"]), manifest.get("info", {}), manifest.get("copied_arguments", {}),
            manifest.get("derived_arguments", {}))


def _manifest(directory: str | Path) -> dict | None:
    path = Path(directory) / PLANNER_FILE
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON ({error})") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise ValueError(f"{path}: not a {FORMAT} v{VERSION} manifest")
    return manifest


def load_planner(directory: str | Path, device: str = "cpu", dtype=None) -> PlannerCheckpoint:
    from tinyagent_ft.models import load_pretrained

    if not Path(directory).is_dir():
        raise OSError(f"{directory}: no such checkpoint directory")
    prompt_config, info, copied, derived = read_manifest(directory)
    model, tokenizer = load_pretrained(str(directory), dtype=dtype, device=device)
    return PlannerCheckpoint(model, tokenizer, prompt_config, info, copied, derived)
