"""The smart-home example (examples/smart_home): its catalog file and its generator, loaded from its
path as a user would run it (the examples are not a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "smart_home"
CATALOG_FILE = EXAMPLE / "tools.json"


def _load_generator():
    spec = importlib.util.spec_from_file_location("smart_home_generate", EXAMPLE / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


generate = _load_generator()
