"""`--device auto`: the best accelerator torch can see, resolved once where a model is placed."""

from __future__ import annotations

DEVICES = ("auto", "cuda", "mps", "cpu")


def resolve_device(device: str | None = "auto") -> str:
    """cuda when available, then mps, then cpu for "auto" (or None); any other name as given."""
    if device not in (None, "auto"):
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"
