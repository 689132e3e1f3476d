"""`tinyagent train`: build the data, the model and the optimizer, and hand them to the Trainer."""

from __future__ import annotations

import json
import math
import random
import statistics
import sys
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path

import torch
from transformers import TrainerCallback, TrainingArguments

from planner_eval.catalog import Catalog
from planner_eval.catalog_io import resolve_catalog
from tinyagent_ft.checkpoint import save_planner
from tinyagent_ft.copying import copied_arguments
from tinyagent_ft.moments import derived_arguments
from tinyagent_ft.data.source import split_rows
from tinyagent_ft.grammar import catalog_reserve, check_catalog_grammar
from tinyagent_ft.models import TINY, build_tiny, load_pretrained
from tinyagent_ft.optim import make_optimizer_and_scheduler
from tinyagent_ft.optim.low_rank_backward import low_rank_backward
from tinyagent_ft.prompts import DEFAULT_PLAN_TOKENS, PromptBuilder, PromptConfig, record_rng, system_text, training_tools
from tinyagent_ft.train.callbacks import MetricsLogger
from tinyagent_ft.train.collator import CompletionCollator, slices_logits_by_mask
from tinyagent_ft.train.dataset import build_training_set, pair_lengths, training_pairs
from tinyagent_ft.train.device_defaults import DeviceSettings, data_max_length, plan_budget, training_attention
from tinyagent_ft.train.recipe import GALORE_OPTIMIZERS, TrainConfig
from tinyagent_ft.train.resume import CHECKPOINTS_DIR, RunSettingsRecorder, resume_checkpoint
from tinyagent_ft.train.trainer import BEST_METRIC, PlannerTrainer
from tinyagent_ft.train.validation import PlanValidation, validation_sample

METRICS_FILE = "metrics.jsonl"
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def train(config: TrainConfig, callbacks: Sequence[TrainerCallback] = ()) -> dict:
    """Train, save the kept evaluation's weights (`selection`) in ``config.out`` and return the run's facts."""
    from retriever import Retriever

    catalog = training_catalog(config)
    retriever = Retriever.load(config.retriever)
    rows = split_rows(config.data, "train", catalog)
    validation_rows = split_rows(config.data, "validation", catalog)
    prompt_config = config.prompt_config()
    settings = config.device_settings()
    resume = resume_checkpoint(config)
    model, tokenizer = make_model(config, rows, prompt_config, resume, settings, catalog)
    tokenizer.padding_side = "right"  # see CompletionCollator
    builder = PromptBuilder(tokenizer, prompt_config, catalog)

    pairs, skipped = training_pairs(rows, builder, retriever, config.seed, config.noise_rate())
    if not pairs:
        raise ValueError(f"no training record fits --max-length {prompt_config.max_length}")
    train_set = build_training_set(pairs, tokenizer)
    copied = copied_arguments(zip(rows["query"], rows["plan"]), catalog)
    derived = derived_arguments(zip(rows["query"], rows["plan"]), catalog)
    prompt_config = token_budgets(builder, pair_lengths(train_set), rows["query"], copied, derived,
                                  cut=config.max_length is None)
    builder = PromptBuilder(tokenizer, prompt_config, catalog)
    attention = training_attention(settings, statistics.median(train_set["length"]))
    announce(settings, prompt_config, config.noise_rate(), copied, derived, attention)
    sample = validation_sample(validation_rows, config.eval_samples, config.seed)
    evaluate = config.eval_samples != 0 and len(sample) > 0
    eval_set, validation = None, None
    if evaluate:  # the loss on the sample's training prompts, and plan success on its inference prompts
        eval_set = build_training_set(training_pairs(sample, builder, retriever, config.seed)[0], tokenizer)
        validation = PlanValidation(sample, builder, retriever, config.eval_constrain, copied_arguments=copied,
                                    derived_arguments=derived)

    args = training_arguments(config, len(train_set), evaluate, settings)
    if config.optimizer == "lora":
        model = with_lora(model, config.lora_rank)
    optimizers = make_optimizers(config, model, args)
    trainer = PlannerTrainer(
        model=model, args=args, train_dataset=train_set, eval_dataset=eval_set,
        data_collator=collator(tokenizer, model, args, settings), processing_class=tokenizer,
        optimizers=optimizers, plan_validation=validation,
        callbacks=[MetricsLogger(config.out / METRICS_FILE), RunSettingsRecorder(config.resume_settings()), *callbacks],
    )
    started = time.perf_counter()
    with weight_gradients(model, optimizers[0], settings), attention_for_training(model, attention) as used:
        result = trainer.train(resume_from_checkpoint=resume)
    facts = run_facts(config, trainer, args, result, time.perf_counter() - started, len(train_set), skipped)
    facts["effective"] = {**settings.as_dict(), "max_length": prompt_config.max_length,
                          "max_new_tokens": prompt_config.max_new_tokens, "attention": used}
    if trainer.is_world_process_zero():
        final = trainer.model.merge_and_unload() if config.optimizer == "lora" else trainer.model
        save_planner(config.out, final, tokenizer, prompt_config, facts, catalog, copied, derived)
        announce_kept(facts)
    return facts


def announce_kept(facts: dict) -> None:
    """A line on stderr where the kept checkpoint is not the best-scoring evaluation, which a user
    reading the validation log would otherwise take for a mistake."""
    if facts["peak_step"] is None or facts["peak_step"] == facts["best_step"]:
        return
    print(f"tinyagent train: kept step {facts['best_step']} (validation success {facts['best_eval_success_rate']}); "
          f"step {facts['peak_step']} scored higher, but not clearly on the same validation records "
          "(docs/fine-tuning.md, \"Validation and the checkpoint kept\")", file=sys.stderr, flush=True)


def token_budgets(builder: PromptBuilder, lengths: tuple[list[int], list[int]], queries: Sequence[str],
                  copied: dict, derived: dict, cut: bool) -> PromptConfig:
    """The builder's prompt settings with the plans' token budget (`plan_budget`) and, where ``cut``, the
    prompt budget cut from the model's ceiling to what the data needs: the widest prompt plus that budget.
    ``lengths``: the training pairs' prompt and plan lengths in tokens (`pair_lengths`)."""
    config = builder.config
    prompt_lengths, plan_lengths = lengths
    plan_tokens = plan_budget(plan_lengths, catalog_reserve(builder.catalog, copied, derived, queries))
    widest = widest_prompt(builder, queries)
    max_length = config.max_length
    if cut:
        max_length = data_max_length([*prompt_lengths, widest], plan_tokens, max_length)
    # Where the ceiling binds, the widest inference prompt keeps its room and plans get the rest, never
    # less than the former fixed budget.
    plan_tokens = min(plan_tokens, max(DEFAULT_PLAN_TOKENS, max_length - widest))
    return replace(config, max_length=max_length, max_new_tokens=plan_tokens)


def training_catalog(config: TrainConfig) -> Catalog:
    """``config.tools`` when given, else the retriever's stored catalog; they must agree, and every
    argument must have a decoding grammar. Raises ValueError (one line) before anything is loaded."""
    catalog = resolve_catalog(config.tools, [config.retriever])
    check_catalog_grammar(catalog)
    return catalog


def make_model(config: TrainConfig, rows, prompt_config: PromptConfig, resume: str | None, settings: DeviceSettings,
               catalog: Catalog | None = None):
    """(model, tokenizer). The tiny model's weights stay float32 (`--bf16` autocasts its compute), which
    AdamW's small updates need from scratch; a pretrained model takes the device's weight dtype."""
    if config.model != TINY:
        return load_pretrained(config.model, dtype=getattr(torch, settings.weights_dtype))
    if resume is not None and config.optimizer != "lora":
        # The checkpoint holds the tokenizer trained for this run; the Trainer reloads the weights.
        return load_pretrained(resume, dtype=torch.float32)
    return build_tiny(tokenizer_corpus(rows, prompt_config, config.seed, catalog), config.tiny_shape, seed=config.seed)


def tokenizer_corpus(rows, prompt_config: PromptConfig, seed: int, catalog: Catalog | None = None):
    """Queries, plans and the tool listing each training prompt shows, so the tiny tokenizer learns
    merges for the catalog's signatures that every prompt repeats, not only for the data."""
    for record_id, query, plan, tools in zip(rows["id"], rows["query"], rows["plan"], rows["tools"]):
        yield query
        yield plan
        shown = training_tools(tools, prompt_config.negatives, record_rng(seed, record_id), catalog)
        yield system_text(shown, (), prompt_config.style, catalog)


def with_lora(model, rank: int):
    from peft import LoraConfig, get_peft_model

    targets = [name for name in LORA_TARGETS if any(n.endswith(name) for n, _ in model.named_modules())]
    return get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=targets,
                                            task_type="CAUSAL_LM"))


def training_steps(config: TrainConfig, n_examples: int, per_device: int, accumulation: int, world_size: int) -> int:
    """Optimizer steps for --epochs, counted as the Trainer does (accelerate shards whole per-device
    batches): set explicitly so the GaLore schedule and the Trainer agree on the run's length."""
    if config.max_steps:
        return config.max_steps
    batches = math.ceil(math.ceil(n_examples / per_device) / world_size)
    return math.ceil(config.epochs * max(1, math.ceil(batches / accumulation)))


def widest_prompt(builder: PromptBuilder, queries: Sequence[str]) -> int:
    """Tokens of the longest query's prompt listing every tool of the catalog (``training_tools`` with
    decoys without limit): the longest inference prompt without examples, whatever tools the
    retriever predicts, so that the cut budget never refuses a query the model's budget took."""
    every_tool = training_tools((), sys.maxsize, random.Random(0), builder.catalog)
    return builder.count(builder.render(max(queries, key=len), every_tool))


def announce(settings: DeviceSettings, prompt_config: PromptConfig, query_noise: float, copied: dict,
             derived: dict, attention: str | None) -> None:
    """The effective settings, on stderr before any step, so a run that will not fit is stopped early."""
    print("tinyagent train: " + json.dumps({**settings.as_dict(), "max_length": prompt_config.max_length,
                                                "max_new_tokens": prompt_config.max_new_tokens,
                                                "query_noise": query_noise, "attention": attention or "the model's own"}),
          file=sys.stderr, flush=True)
    slots = ", ".join(f"{tool}.{arg}" for tool, args in copied.items() for arg in args) or "none"
    print(f"tinyagent train: arguments copied from the question: {slots}", file=sys.stderr, flush=True)
    slots = ", ".join(f"{tool}.{arg} ({'/'.join(kinds)})" for tool, args in derived.items()
                      for arg, kinds in args.items()) or "none"
    print(f"tinyagent train: dates and durations derived from the question: {slots}", file=sys.stderr, flush=True)


def collator(tokenizer, model, args: TrainingArguments, settings: DeviceSettings) -> CompletionCollator:
    # DataParallel (several GPUs in one process) splits every tensor of a batch along its first axis,
    # which would cut the flat `shift_labels` apart from their rows.
    label_logits_only = slices_logits_by_mask(model) and args.n_gpu <= 1
    return CompletionCollator(tokenizer.pad_token_id, settings.pad_to_multiple_of, label_logits_only)


def training_arguments(config: TrainConfig, n_examples: int, evaluate: bool,
                       settings: DeviceSettings | None = None) -> TrainingArguments:
    settings = settings or config.device_settings()
    per_device, accumulation, world_size = settings.micro_batch, settings.accumulation, settings.processes
    steps = training_steps(config, n_examples, per_device, accumulation, world_size)
    warmup = config.warmup_steps if config.warmup_steps is not None else math.ceil(config.defaults["warmup_ratio"] * steps)
    strategy = "steps" if config.eval_steps else "epoch"
    save_steps = config.save_steps or config.eval_steps
    options = dict(
        output_dir=str(config.out / CHECKPOINTS_DIR),
        per_device_train_batch_size=per_device, per_device_eval_batch_size=per_device,
        gradient_accumulation_steps=accumulation, max_steps=steps,
        learning_rate=config.learning_rate(), lr_scheduler_type="linear", warmup_steps=warmup, weight_decay=0.0,
        eval_strategy=strategy if evaluate else "no", save_strategy="steps" if save_steps else "epoch",
        eval_steps=config.eval_steps, save_steps=save_steps, save_total_limit=2,
        load_best_model_at_end=evaluate, metric_for_best_model=BEST_METRIC if evaluate else None, greater_is_better=True,
        # Batches of similar lengths waste less compute on padding; `length` must survive to the sampler.
        train_sampling_strategy="group_by_length", length_column_name="length", remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding", logging_steps=config.logging_steps, report_to=config.report_to,
        seed=config.seed, bf16=settings.autocast_bf16, use_cpu=settings.device == "cpu",
        activation_checkpointing=settings.gradient_checkpointing, ddp_find_unused_parameters=False,
    )
    options.update(config.extra)
    return TrainingArguments(**options)


@contextmanager
def attention_for_training(model, implementation: str | None):
    """Within the block the model attends with ``implementation`` (None: its own); yields the one used.
    The planner is saved, and so served, with the model's own."""
    own = model.config._attn_implementation
    if implementation is not None:
        model.set_attn_implementation(implementation)
    try:
        yield model.config._attn_implementation
    finally:
        model.set_attn_implementation(own)


def weight_gradients(model, optimizer, settings: DeviceSettings) -> AbstractContextManager:
    """Where the projected layers' weight gradients are computed: in GaLore's subspace during backward
    (`low_rank_backward`) when the settings say so, else at full size as torch computes them."""
    return low_rank_backward(model, optimizer) if settings.low_rank_backward else nullcontext()


def make_optimizers(config: TrainConfig, model, args: TrainingArguments) -> tuple:
    """(optimizer, scheduler) for the GaLore variants; (None, None) lets the Trainer build torch AdamW
    (adamw, and lora over the adapter weights) with the same linear schedule."""
    if config.optimizer not in GALORE_OPTIMIZERS:
        return None, None
    return make_optimizer_and_scheduler(model, lr=args.learning_rate, num_training_steps=args.max_steps,
                                        warmup_steps=int(args.warmup_steps), **config.galore_options())


def run_facts(config: TrainConfig, trainer, args: TrainingArguments, result, seconds: float, n_examples: int,
              skipped: int) -> dict:
    """planner.json's `info`: enough to reproduce the run and to know which evaluation was kept."""
    state = trainer.state
    best_step = int(Path(state.best_model_checkpoint).name.rsplit("-", 1)[-1]) if state.best_model_checkpoint else state.global_step
    best_eval = next((h for h in state.log_history if h.get("step") == best_step and BEST_METRIC in h), {})
    facts = {
        "base_model": config.model,
        "optimizer": config.optimizer,
        "hyperparameters": {
            "lr": args.learning_rate, "batch_size": config.batch_size, "per_device_batch_size": args.per_device_train_batch_size,
            "gradient_accumulation_steps": args.gradient_accumulation_steps, "warmup_steps": args.warmup_steps,
            "max_steps": args.max_steps, "seed": config.seed, "query_noise": config.noise_rate(),
            **(config.galore_options() if config.optimizer in GALORE_OPTIMIZERS else {}),
            **({"lora_rank": config.lora_rank} if config.optimizer == "lora" else {}),
        },
        "train_records": n_examples,
        "skipped_records": skipped,
        "steps": state.global_step,
        "best_step": best_step,
        # The best-scoring validation, which the kept checkpoint differs from where its lead was noise.
        "peak_step": trainer.selection.peak.step if trainer.selection.peak is not None else None,
        "best_epoch": best_eval.get("epoch"),
        "best_eval_success_rate": best_eval.get("eval_success_rate"),
        "train_loss": result.training_loss,
        "train_seconds": round(seconds, 1),
    }
    return facts
