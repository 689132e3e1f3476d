"""Optional int8 inference: dynamic quantization of the linear layers of both encoders.

On a CPU without bf16 support this is the cheapest way to roughly double throughput. PyTorch has
deprecated the eager-mode quantization API, so this degrades to a no-op (with the reason) where it is gone.
"""

from __future__ import annotations

import warnings

import torch


def quantize_linear_int8(model: torch.nn.Module) -> tuple[torch.nn.Module, str | None]:
    """(quantized model, None), or (the model unchanged, why not) when this PyTorch cannot do it."""
    try:
        from torch.ao.quantization import quantize_dynamic
    except ImportError as error:
        return model, f"int8 quantization unavailable: {error}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecation notice, once per layer
        try:
            return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8), None
        except (RuntimeError, AssertionError) as error:
            return model, f"int8 quantization failed: {error}"
