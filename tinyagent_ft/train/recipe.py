"""What a `tinyagent train` run is: its settings, and the defaults that depend on the model."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tinyagent_ft.models import SMOLLM2, TINY, TinyShape
from tinyagent_ft.prompts import PromptConfig
from tinyagent_ft.train.device_defaults import (
    DeviceSettings,
    device_settings,
    low_rank_backward_default,
    micro_batch_cap,
    resolve_device,
)

OPTIMIZERS = ("natural_galore", "galore", "adamw", "lora")
GALORE_OPTIMIZERS = ("natural_galore", "galore")
REPORT_TO = ("none", "tensorboard", "wandb")

# Real models follow TinyAgent's fine-tuning recipe for TinyLlama-1.1B (lr 7e-5, 3 epochs, batch 32)
# with GaLore's fine-tuning projection (rank 128, refreshed every 200 steps). LoRA trains far fewer
# weights and conventionally takes a larger step.
PRETRAINED_DEFAULTS = {
    "lr": 7e-5, "lora_lr": 2e-4, "rank": 128, "update_proj_gap": 200, "scale": 0.25, "warmup_ratio": 0.03,
    "prompt": PromptConfig(style="full", negatives=2, examples=3, max_length=2048),
}
# The tiny model (width 384) trains from scratch on a CPU. Its values come from a short sweep
# (benchmarks/train_sweep.py: 30 steps of batch 16 on 3,000 records, one seed, mean loss of the last
# five steps): lr 1e-3 / 3e-3 / 1e-2 at rank 128 gave 3.05 / 2.23 / 2.19, and rank 64 at 3e-3 gave 2.09
# with 58% of rank 128's optimizer state, so rank 64 (below the width) and the smaller of the two
# good rates (1e-2 led 3e-3 by 2%, within one seed's noise). A refresh every 50 steps moves the subspace 6-18 times in a 1-3 epoch run of 10,000
# records; a history of 4 because 4, 20 and 40 train alike (README) and 20 held 327 MB of optimizer
# state at rank 128, 7.5 times the model's own 44 MB. Prompts are compact and without examples, which cost about ten times the step time on a CPU
# (DESIGN.md, "What is already known").
TINY_DEFAULTS = {
    "lr": 3e-3, "lora_lr": 3e-3, "adamw_lr": 1e-3, "rank": 64, "update_proj_gap": 50, "scale": 0.25,
    "natural_history": 4, "warmup_ratio": 0.03,
    "prompt": PromptConfig(style="compact", negatives=2, examples=0, max_length=512),
}


# SmolLM2-135M-Instruct is pretrained, so a smaller step than the tiny model's; at 5-9 s per step of
# batch 16 on 2 cores it gets the demo's short `names` prompts. The rate is one run's (README, "A
# pretrained model": loss 1.17 at step 10, 0.08 at step 100, no spike); the other optimizers share it untuned.
# Micro-batches of at most 8: a 49,152-token vocabulary makes a batch of 16's logits 630 MB per copy, and
# halves took peak RSS from 9.4 to 6.0 GB with the same losses and 15% more tokens/s.
# Scale 1.0, not GaLore's 0.25: at the shared rate a quarter-size projected update left Natural GaLore
# behind; 250 steps of batch 16 gave test success 0.63 / 0.68 against 0.57 / 0.60 in the same two seeds
# (benchmarks/RESULTS.md, "SmolLM2-135M: four optimizers, 250 steps").
# Query noise 0.15: two hours with AdamW reached test success 0.932 and 0.950 in two seeds against 0.896
# without it, held-out phrasings 0.886 and 0.919 against 0.827 (RESULTS, "Two hours of training").
SMOLLM2_DEFAULTS = {
    "lr": 5e-4, "rank": 64, "update_proj_gap": 50, "scale": 1.0, "natural_history": 4, "warmup_ratio": 0.03,
    "max_micro_batch": 8, "query_noise": 0.15,
    "prompt": PromptConfig(style="names", negatives=2, examples=0, max_length=512),
}


def model_defaults(model: str) -> dict:
    return {TINY: TINY_DEFAULTS, SMOLLM2: SMOLLM2_DEFAULTS}.get(model, PRETRAINED_DEFAULTS)


def query_noise_rate(model: str, requested: float | None = None) -> float:
    """The query noise a run of ``model`` trains with: ``requested``, else the model's default."""
    return model_defaults(model).get("query_noise", 0.0) if requested is None else requested


@dataclass
class TrainConfig:
    data: Path  # a data directory (str or Path), or a DatasetDict with train and validation splits
    retriever: Path
    out: Path
    model: str = TINY
    optimizer: str = "natural_galore"
    epochs: float = 3.0
    batch_size: int = 32  # effective global batch: per device x accumulation x processes
    per_device_batch_size: int | None = None  # default: the per-process share, within the device and model cap
    lr: float | None = None
    max_steps: int | None = None
    warmup_steps: int | None = None
    # Prompt settings; None takes the model's default.
    prompt_style: str | None = None
    negatives: int | None = None
    examples: int | None = None
    max_length: int | None = None
    query_noise: float | None = None  # phrasing-word noise on training queries (augment.py); None: the model's default
    seed: int = 0
    eval_samples: int | None = 200
    eval_constrain: bool = True  # validation decodes inside the plan grammar, as `tinyagent eval` does
    eval_steps: int | None = None  # evaluate every N steps instead of every epoch
    # Checkpoint every N steps (default: at each evaluation). An evaluation's checkpoint is the one
    # kept (`selection`), so while evaluating this is a multiple of eval_steps.
    save_steps: int | None = None
    logging_steps: int = 10
    gradient_checkpointing: bool | None = None  # None: on for a pretrained model on a GPU (device_defaults.py)
    bf16: bool | None = None  # None: bf16 weights for a pretrained model on a GPU with bf16, else float32
    pad_to_multiple_of: int | None = None  # None: 16 where a CPU computes in bf16, else 1 (device_defaults.py)
    low_rank_backward: bool | None = None  # None: on for GaLore on a CPU in one process (device_defaults.py)
    resume: str | None = None  # a checkpoint directory, or "auto" for the latest under OUT/checkpoints
    rank: int | None = None
    update_proj_gap: int | None = None
    scale: float | None = None
    natural_history: int | None = None  # None: the optimizer's default
    svd_method: str | None = None  # subspace refresh, "full", "gram" or "randomized"; None: the optimizer's default (by device)
    lora_rank: int = 16
    tiny_shape: TinyShape = field(default_factory=TinyShape)  # the architecture `--model tiny` builds
    tools: Path | None = None  # a catalog file; None: the retriever's stored catalog (else the built-in one)
    report_to: str = "none"  # TrainingArguments.report_to: "tensorboard", "wandb" or "none"
    device: str = "auto"  # cuda, then mps, then cpu; "cpu" keeps a machine's GPU out of it
    extra: dict = field(default_factory=dict)  # Trainer arguments that override ours (tests, experiments)

    def __post_init__(self) -> None:
        # Scripts pass strings; everything downstream joins paths.
        self.retriever, self.out = Path(self.retriever), Path(self.out)
        if isinstance(self.data, str):
            self.data = Path(self.data)
        if self.report_to not in REPORT_TO:
            raise ValueError(f"report_to must be one of {', '.join(REPORT_TO)}, got {self.report_to!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.batch_size < 1 or (self.max_steps is not None and self.max_steps < 1) or self.epochs <= 0:
            raise ValueError("batch size, epochs and max steps must be positive")
        if not 0.0 <= self.noise_rate() <= 1.0:
            raise ValueError(f"query noise must be a rate in [0, 1], got {self.query_noise}")
        if self.save_steps is not None and self.eval_samples != 0 and (
                self.eval_steps is None or self.save_steps % self.eval_steps):
            raise ValueError("--save-steps must be a multiple of --eval-steps (an evaluation's checkpoint is the one kept)")
        resolve_device(self.device)  # an unknown device name is an error before any loading
        self.batch_layout()  # a batch size the processes cannot split is an error before any loading

    @property
    def defaults(self) -> dict:
        return model_defaults(self.model)

    def prompt_config(self) -> PromptConfig:
        base = self.defaults["prompt"]
        return PromptConfig(
            style=self.prompt_style or base.style,
            negatives=base.negatives if self.negatives is None else self.negatives,
            examples=base.examples if self.examples is None else self.examples,
            max_length=self.max_length or base.max_length,
        )

    def noise_rate(self) -> float:
        return query_noise_rate(self.model, self.query_noise)

    def learning_rate(self) -> float:
        if self.lr is not None:
            return self.lr
        key = {"lora": "lora_lr", "adamw": "adamw_lr"}.get(self.optimizer, "lr")
        return self.defaults.get(key, self.defaults["lr"])

    def galore_options(self) -> dict:
        """rank, update_proj_gap, scale (and natural_history) for make_optimizer_and_scheduler."""
        options = {
            "rank": self.rank or self.defaults["rank"],
            "update_proj_gap": self.update_proj_gap or self.defaults["update_proj_gap"],
            "scale": self.defaults["scale"] if self.scale is None else self.scale,
        }
        history = self.defaults.get("natural_history") if self.natural_history is None else self.natural_history
        if self.optimizer == "galore":
            history = 0
        if history is not None:  # None keeps the optimizer's own default
            options["natural_history"] = history
        if self.svd_method is not None:
            options["svd_method"] = self.svd_method
        return options

    def resume_settings(self) -> dict:
        """What shapes the training itself, which a resumed run must share with its checkpoint."""
        prompt = self.prompt_config()
        settings = {"optimizer": self.optimizer, "lr": self.learning_rate(), "batch_size": self.batch_size,
                    "seed": self.seed, "query_noise": self.noise_rate(), "prompt_style": prompt.style,
                    "negatives": prompt.negatives, "examples": prompt.examples}
        if self.optimizer in GALORE_OPTIMIZERS:
            settings.update(self.galore_options())
        if self.optimizer == "lora":
            settings["lora_rank"] = self.lora_rank
        return settings

    def batch_layout(self) -> tuple[int, int, int]:
        """(per-device batch, gradient accumulation steps, processes) whose product is batch_size."""
        # torchrun and `accelerate launch` announce the process count here, before any process group exists.
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        per_device = self.per_device_batch_size or self._default_micro_batch(max(1, self.batch_size // world_size))
        accumulation, remainder = divmod(self.batch_size, per_device * world_size)
        if remainder or accumulation < 1:
            raise ValueError(
                f"--batch-size {self.batch_size} is not a multiple of per-device batch {per_device} x {world_size} processes")
        return per_device, accumulation, world_size

    def device_settings(self) -> DeviceSettings:
        """Precision, checkpointing and batch layout on the device this run trains on."""
        device, layout = resolve_device(self.device), self.batch_layout()
        low_rank = low_rank_backward_default(self.optimizer in GALORE_OPTIMIZERS, device, layout[2], self.low_rank_backward)
        return device_settings(self.model, device, self.bf16, self.gradient_checkpointing, layout,
                               self.pad_to_multiple_of, low_rank)

    def _default_micro_batch(self, per_process: int) -> int:
        """The process's whole share, or its largest divisor within the device's micro-batch cap."""
        cap = micro_batch_cap(self.model, resolve_device(self.device), self.defaults.get("max_micro_batch")) or per_process
        return max(d for d in range(1, min(cap, per_process) + 1) if per_process % d == 0)
