"""Settings that depend on the device a run trains on: weight precision, gradient checkpointing and
the micro-batch. A pretrained model on a GPU gets the memory-safe ones unless the user overrides them.

Why these: TinyLlama-1.1B at float32 with micro-batches of 32 and 2,048-token prompts needs several
times a 24 GB card's memory. In bf16 without a float32 master copy, with gradient checkpointing and
micro-batches of 4 x 1,024 tokens, an H100 measured peaks of 10.3 GiB (torch AdamW) and 7.8 GiB
(Natural GaLore) (benchmarks/results/optimizer_gpu_h100.json).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from tinyagent_ft.devices import DEVICES
from tinyagent_ft.devices import resolve_device as best_device
from tinyagent_ft.models import TINY
from tinyagent_ft.prompts import DEFAULT_PLAN_TOKENS

# Micro-batch cap of a pretrained model on a GPU; the rest of --batch-size is gradient accumulation.
GPU_MAX_MICRO_BATCH = 4
# Sequence-length multiple of batches computed in bf16 on a CPU. oneDNN builds and caches kernels per
# matrix shape there: with every batch padded only to its own longest example, a 2-core AMX Xeon grew
# to 8 GiB over 4,000 steps of the tiny model and lost over a third of its tokens/s, while lengths
# padded to a multiple stay a few shapes (benchmarks/RESULTS.md). float32 kernels show no such growth.
CPU_BF16_PAD_MULTIPLE = 16


@dataclass(frozen=True)
class DeviceSettings:
    """What a run does on its device; printed at start and kept in planner.json."""

    device: str
    weights_dtype: str  # "bfloat16": weights, gradients and torch AdamW's moments all bf16
    autocast_bf16: bool  # TrainingArguments(bf16=...): bf16 compute over float32 weights
    gradient_checkpointing: bool
    micro_batch: int
    accumulation: int
    processes: int
    pad_to_multiple_of: int | None = None  # batches' sequence length is a multiple of this (None: their longest)
    low_rank_backward: bool = False  # GaLore's projected weight gradients computed in backward (optim/low_rank_backward.py)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def compute_bytes(self) -> int:
        """Bytes per element of activations."""
        return 2 if self.weights_dtype == "bfloat16" or self.autocast_bf16 else 4


def resolve_device(requested: str | None) -> str:
    """``requested``, or for "auto" (or None) the best accelerator present (`tinyagent_ft.devices`)."""
    if requested not in (None, *DEVICES):
        raise ValueError(f"--device must be one of {', '.join(DEVICES)}, got {requested!r}")
    return best_device(requested)


def bf16_supported(device: str) -> bool:
    """Whether ``device`` computes bf16. A GPU named but absent (a dry run on a CPU) is assumed to."""
    if device != "cuda":
        return False
    return not torch.cuda.is_available() or torch.cuda.is_bf16_supported()


# CPU flags of native bf16 arithmetic. Without them torch emulates bf16 through float32, and autocast
# costs time instead of saving it.
NATIVE_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX), read from the kernel's CPU flags
    rather than assumed from the vendor; False where they cannot be read (not Linux)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    flags = {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[-1].split()}
    return any(flag in flags for flag in NATIVE_BF16_CPU_FLAGS)


def pretrained_on_gpu(model: str, device: str) -> bool:
    """The tiny model trains from scratch at a large learning rate, where float32 weights matter, and
    fits any device: only pretrained models get the GPU defaults."""
    return device == "cuda" and model != TINY


def micro_batch_cap(model: str, device: str, model_cap: int | None) -> int | None:
    """The largest default micro-batch: 4 for a pretrained model on a GPU, else the model's own cap."""
    return GPU_MAX_MICRO_BATCH if pretrained_on_gpu(model, device) else model_cap


def precision(model: str, device: str, bf16: bool | None) -> tuple[str, bool]:
    """(weights dtype, autocast). On a GPU with bf16, a pretrained model trains in bf16 throughout
    (``bf16`` None or True), as the H100 and H200 measurements ran; ``bf16=False`` keeps float32.
    Elsewhere ``bf16=True`` autocasts over float32 weights, which a model trained from scratch needs;
    on a CPU that computes bf16 natively that is also the default (the tiny model's forward and backward
    ran 1.55x faster on AVX-512 BF16), on other CPUs float32 is."""
    if pretrained_on_gpu(model, device) and bf16 is not False and bf16_supported(device):
        return "bfloat16", False
    if bf16 is None:
        return "float32", device == "cpu" and cpu_has_native_bf16()
    return "float32", bf16


# Median training example, in tokens, up to which a CPU computing in bf16 trains faster with eager
# attention than with torch's SDPA, whose bf16 attention backward is slow there for short sequences.
# A forward and backward pass at equal tokens per batch (benchmarks/attention_cpu.py, AMX Xeon), eager
# time over SDPA's: the demo's 256 x 4 Llama 0.72 at 96 tokens, 0.95 at 256, 1.07 at 512, 1.44 at
# 1,024; SmolLM2-135M's shape 0.79 at 110 and 1.16 at 256. In float32 the two are even up to 512.
EAGER_ATTENTION_MEDIAN_LENGTH = 160


def training_attention(settings: DeviceSettings, median_length: float) -> str | None:
    """The attention a run trains with: "eager" on a CPU computing in bf16 whose median training
    example is at most EAGER_ATTENTION_MEDIAN_LENGTH tokens, else None (the model's own: SDPA for
    transformers' models)."""
    if settings.device == "cpu" and settings.autocast_bf16 and median_length <= EAGER_ATTENTION_MEDIAN_LENGTH:
        return "eager"
    return None


def low_rank_backward_default(projects: bool, device: str, processes: int, requested: bool | None) -> bool:
    """Whether projected layers compute their weight gradients in the optimizer's subspace. The default
    is a fixed rule: on for a GaLore optimizer on a CPU in one process, where it was measured (the demo's
    training step, benchmarks/RESULTS.md); off on a GPU until measured there. Several processes cannot
    have it: the projected gradients bypass DDP's all-reduce."""
    if requested is None:
        return projects and device == "cpu" and processes == 1
    if requested and not projects:
        raise ValueError("--low-rank-backward needs a GaLore optimizer (natural_galore or galore)")
    if requested and processes > 1:
        raise ValueError("--low-rank-backward runs in one process only: its gradients bypass DDP's all-reduce")
    return requested


def device_settings(model: str, device: str, bf16: bool | None, gradient_checkpointing: bool | None,
                    layout: tuple[int, int, int], pad_to_multiple_of: int | None = None,
                    low_rank_backward: bool = False) -> DeviceSettings:
    """The effective settings; ``None`` takes the device's default. ``layout`` is (micro-batch,
    accumulation, processes) from ``TrainConfig.batch_layout``, which applies ``micro_batch_cap``.
    ``pad_to_multiple_of`` 1 pads batches to their longest example only. ``low_rank_backward`` comes
    resolved (`low_rank_backward_default`)."""
    weights_dtype, autocast = precision(model, device, bf16)
    if pad_to_multiple_of is None:
        pad_to_multiple_of = CPU_BF16_PAD_MULTIPLE if device == "cpu" and autocast else 1
    checkpointing = pretrained_on_gpu(model, device) if gradient_checkpointing is None else gradient_checkpointing
    micro_batch, accumulation, processes = layout
    return DeviceSettings(device=device, weights_dtype=weights_dtype, autocast_bf16=autocast,
                          gradient_checkpointing=checkpointing, micro_batch=micro_batch,
                          accumulation=accumulation, processes=processes,
                          pad_to_multiple_of=pad_to_multiple_of if pad_to_multiple_of > 1 else None,
                          low_rank_backward=low_rank_backward)


def plan_budget(completion_lengths: list[int], closing_reserve: int) -> int:
    """A planner's default max_new_tokens: its longest training plan plus the tokens the plan grammar
    keeps back to close a plan, and at least DEFAULT_PLAN_TOKENS. The grammar forces the shortest
    closing once the tokens left reach that reserve, so a budget without room for it rewrites the
    longest plans' last arguments: SmolLM2's Zoom meetings with a calendar entry, 170 tokens, were
    right 2 times in 12 at 256 tokens and 11 with room (benchmarks/RESULTS.md)."""
    return max(DEFAULT_PLAN_TOKENS, max(completion_lengths) + closing_reserve)


def data_max_length(prompt_lengths: list[int], plan_tokens: int, budget: int) -> int:
    """The prompt budget a run needs: its longest prompt (training prompts, and the widest inference
    prompt) plus its plans' budget (`plan_budget`, at least the longest plan), within ``budget``. Every
    training example fits it, and so does every such inference prompt."""
    return min(budget, max(prompt_lengths) + plan_tokens)
