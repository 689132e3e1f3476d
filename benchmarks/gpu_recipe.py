"""TinyAgent's fine-tuning recipe on one GPU, end to end. Prints JSON.

A TinyLlama-1.1B-shaped ``LlamaForCausalLM`` (random weights from the shape in DESIGN.md, or real
weights with ``--model PATH``) goes through `tinyagent train`'s own code path (``TrainConfig`` and
``train``: the Trainer, the prompt builder, Natural GaLore, the device's defaults: bf16 weights,
gradient checkpointing, micro-batches of 4), then `tinyagent eval` with the plan grammar and
`tinyagent serve` (a child process, one ``/v1/plan``, then concurrent requests).

Reports tokens/s, the step split (forward + backward against the optimizer), peak memory against
`tinyagent train --dry-run`'s estimate, plans/s in eval and under load, and the extrapolated time of
TinyAgent's recipe (40,000 records, 3 epochs, batch 32). Without a TinyLlama tokenizer offline, the
tokenizer is the tiny model's, trained on the generated data; the retriever is a random 2-layer BERT
with a WordPiece vocabulary trained here, so nothing has to travel but the code.

    python benchmarks/gpu_recipe.py               # a GPU: full prompts with 3 examples, 20 steps of batch 32
    python benchmarks/gpu_recipe.py --smoke       # this CPU: 2 steps at micro-batch 1, compact 512-token prompts

``--smoke`` checks the 1B code path without a GPU (float32 weights on the CPU: peak RSS 13.8 GiB, 25 minutes
on a loaded 2-core CPU, benchmarks/results/gpu_recipe_smoke_cpu.json);
it refreshes the subspace with the randomized range finder, since a full SVD of TinyLlama's 154
matrices takes hours on a 2-core CPU. Writes the JSON to ``$OUT/gpu_recipe.json`` when OUT is set.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before benchmarks/: benchmarks/retriever.py would shadow the package

from tinyagent_ft.data import SPLIT_FILES, generate_splits, load_split, write_tinyagent_file  # noqa: E402
from tinyagent_ft.models import train_tokenizer  # noqa: E402
from tinyagent_ft.train import TrainConfig, train  # noqa: E402
from tinyagent_ft.train.callbacks import current_rss_bytes  # noqa: E402

# TinyLlama-1.1B's shape (DESIGN.md); the vocabulary stays 32,000 so the logits cost what they will.
TINYLLAMA = dict(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                 num_key_value_heads=4, max_position_embeddings=2048, rms_norm_eps=1e-5, rope_theta=10000.0,
                 tie_word_embeddings=False)
# TinyAgent's recipe, for the extrapolation.
RECIPE = {"records": 40000, "epochs": 3, "batch": 32}
SETTINGS = {
    "gpu": dict(device="cuda", steps=20, batch=32, micro_batch=None, style="full", examples=3, max_length=2048,
                train=800, eval_queries=64, load_requests=64, svd_method=None, max_new_tokens=256),
    "smoke": dict(device="cpu", steps=2, batch=1, micro_batch=1, style="compact", examples=1, max_length=512,
                  train=16, eval_queries=1, load_requests=0, svd_method="randomized", max_new_tokens=128),
}
GIB = 1024**3


class StepClock:
    """Per optimizer step: forward + backward (all micro-batches) and the optimizer step, in seconds,
    and the tokens seen. Synchronises the GPU at each boundary so that queued work is counted."""

    def __init__(self, cuda: bool) -> None:
        from transformers import TrainerCallback

        clock = self

        class Callback(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                clock.mark("begin")

            def on_pre_optimizer_step(self, args, state, control, **kwargs):
                clock.mark("pre")

            def on_optimizer_step(self, args, state, control, **kwargs):
                clock.mark("post")

            def on_step_end(self, args, state, control, **kwargs):
                clock.steps.append({"forward_backward_s": clock.t["pre"] - clock.t["begin"],
                                    "optimizer_s": clock.t["post"] - clock.t["pre"],
                                    "tokens_seen": state.num_input_tokens_seen})

        self.cuda, self.t, self.steps, self.callback = cuda, {}, [], Callback()

    def mark(self, name: str) -> None:
        if self.cuda:
            torch.cuda.synchronize()
        self.t[name] = time.perf_counter()


def write_data(directory: Path, train_records: int, seed: int = 0) -> Path:
    for split, records in generate_splits(train_records, 8, 64, seed=seed).items():
        write_tinyagent_file(records, directory / SPLIT_FILES[split])
    return directory


def planner_tokenizer(data: Path, config: TrainConfig):
    """The tiny model's tokenizer, trained on what the prompts will hold, as `--model tiny` does."""
    from tinyagent_ft.train.run import tokenizer_corpus

    rows = load_split(data, "train")
    return train_tokenizer(tokenizer_corpus(rows, config.prompt_config(), config.seed), 3000)


def random_tinyllama(directory: Path, tokenizer) -> Path:
    """A TinyLlama-shaped checkpoint with random bf16 weights and ``tokenizer``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**TINYLLAMA, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)  # built in bf16: half the memory of building in float32
    try:
        model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(default)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    del model
    gc.collect()
    return directory


def travelling_retriever(data: Path, directory: Path) -> Path:
    """A tool classifier with a random 2-layer BERT over a WordPiece vocabulary trained on the data,
    whose encoder also embeds the example index: built in seconds, no download."""
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    from retriever import Retriever
    from retriever.classifier import ToolClassifier, label_maps
    from retriever.embedder import CLASSIFIER_EMBEDDER, ClassifierEmbedder
    from retriever.index import ExampleIndex

    rows = load_split(data, "train")
    words = BertWordPieceTokenizer(lowercase=True)
    words.train_from_iterator(list(rows["query"]), vocab_size=2000)
    vocab = directory.parent / "wordpiece"
    vocab.mkdir(exist_ok=True)
    words.save_model(str(vocab))
    tokenizer = BertTokenizerFast(vocab_file=str(vocab / "vocab.txt"), do_lower_case=True)
    id2label, label2id = label_maps()
    torch.manual_seed(0)
    bert = BertForSequenceClassification(BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
        max_position_embeddings=128, num_labels=len(id2label), id2label=id2label, label2id=label2id,
        problem_type="multi_label_classification"))
    classifier = ToolClassifier(bert, tokenizer)
    embedder = ClassifierEmbedder(classifier)
    index = ExampleIndex.build(rows["id"], rows["query"], rows["tools"], rows["plan"], embedder.encode, CLASSIFIER_EMBEDDER)
    Retriever(classifier, index, embedder).save(directory)
    return directory


def current_rss_gib() -> float:
    """This process's resident memory now: what training leaves behind before eval and serve start."""
    return round(current_rss_bytes() / GIB, 2)


def peak_memory(cuda: bool) -> dict:
    rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    out = {"peak_rss_gib": round(rss * 1024 / GIB, 2)}  # ru_maxrss is in KiB on Linux
    if cuda:
        out["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / GIB, 3)
    return out


def train_part(config: TrainConfig, cuda: bool) -> dict:
    from tinyagent_ft.train.dry_run import estimate

    n_records = len(load_split(config.data, "train"))
    dry = estimate(config, n_records)
    clock = StepClock(cuda)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    facts = train(config, callbacks=[clock.callback])
    seconds = time.perf_counter() - started
    steps = clock.steps
    tokens = [b["tokens_seen"] - a["tokens_seen"] for a, b in zip([{"tokens_seen": 0}, *steps], steps)]
    steady = steps[1:] or steps  # the first step refreshes the subspace (and warms up)
    step_s = statistics.mean(s["forward_backward_s"] + s["optimizer_s"] for s in steady)
    optimizer_s = statistics.mean(s["optimizer_s"] for s in steady)
    refresh_s = max(0.0, steps[0]["optimizer_s"] - optimizer_s)
    memory = peak_memory(cuda)
    measured = memory.get("peak_gpu_gib")
    return {
        "train_loss": facts["train_loss"], "loss_finite": math.isfinite(facts["train_loss"]), "effective": facts["effective"],
        "steps": len(steps), "train_seconds": round(seconds, 1),
        "tokens_per_s": round(sum(tokens[1:] or tokens) / sum(s["forward_backward_s"] + s["optimizer_s"] for s in steady), 1),
        "step_s": round(step_s, 3), "forward_backward_s": round(step_s - optimizer_s, 3), "optimizer_s": round(optimizer_s, 4),
        "optimizer_share": round(optimizer_s / step_s, 3), "first_step_refresh_s": round(refresh_s, 2),
        "steps_detail": [{k: round(v, 4) if isinstance(v, float) else v for k, v in s.items()} for s in steps],
        **memory,
        "dry_run_peak_gib": round(dry["peak_bytes"] / GIB, 3),
        "dry_run": {k: dry[k] for k in ("micro_batch", "accumulation", "max_length", "weights_bytes", "gradients_bytes",
                                        "optimizer_state_bytes", "activations_bytes", "peak_bytes")},
        "measured_over_estimate": round(measured / (dry["peak_bytes"] / GIB), 3) if measured else None,
    }


def extrapolate(train_facts: dict, config: TrainConfig) -> dict:
    """TinyAgent's recipe at the measured step time, plus a refresh every update_proj_gap steps. The
    measured steps ran this run's prompts; the recipe's are of the same kind (full, 3 examples)."""
    steps = math.ceil(RECIPE["records"] / RECIPE["batch"]) * RECIPE["epochs"]
    per_step = train_facts["step_s"] * RECIPE["batch"] / config.batch_size
    refreshes = math.ceil(steps / config.galore_options()["update_proj_gap"])
    seconds = steps * per_step + refreshes * train_facts["first_step_refresh_s"]
    return {"recipe": RECIPE, "steps": steps, "refreshes": refreshes, "hours": round(seconds / 3600, 2)}


def eval_part(out: Path, retriever: Path, data: Path, work: Path, args) -> dict:
    from tinyagent_ft.cli import main

    started = time.perf_counter()
    code = main(["eval", "--model", str(out), "--retriever", str(retriever), "--data", str(data), "--split", "test",
                 "--limit", str(args.eval_queries), "--device", args.device, "--generation-batch-size", str(args.eval_batch),
                 "--max-new-tokens", str(args.max_new_tokens), "--out", str(work / "eval")])
    if code:
        raise RuntimeError(f"tinyagent eval exited with {code}")
    report = json.loads((work / "eval" / "report.json").read_text())
    generation = report["summary"].get("generation", {})
    n = report["summary"]["n"]
    return {"queries": n, "valid_rate": report["summary"].get("valid_rate"), "seconds_with_load": round(time.perf_counter() - started, 1),
            "generation_seconds": generation.get("seconds"),
            "plans_per_s": round(n / generation["seconds"], 2) if generation.get("seconds") else None}


def serve_part(out: Path, retriever: Path, args) -> dict:
    import httpx

    from serve.process import served

    queries = [q for q in load_split(args.data_dir, "test")["query"]]
    with served(out, retriever, "--device", args.device, "--max-new-tokens", str(args.max_new_tokens),
                "--max-batch", str(args.serve_batch), "--timeout", "600") as url:
        started = time.perf_counter()
        first = httpx.post(f"{url}/v1/plan", json={"query": queries[0]}, timeout=600)
        first.raise_for_status()
        single_s = time.perf_counter() - started
        result = {"single_plan_s": round(single_s, 2), "single_plan_valid": first.json()["valid"],
                  "single_plan_tools": first.json()["tools"]}
        if args.load_requests:
            result.update(load(url, [queries[i % len(queries)] for i in range(args.load_requests)]))
    return result


def load(url: str, queries: list[str], workers: int = 16) -> dict:
    """Plans/s with ``workers`` clients posting at once."""
    import httpx

    answers: list[bool] = []
    lock = threading.Lock()
    pending = list(queries)

    def client() -> None:
        with httpx.Client(timeout=600) as http:
            while True:
                with lock:
                    if not pending:
                        return
                    query = pending.pop()
                valid = http.post(f"{url}/v1/plan", json={"query": query}).json().get("valid", False)
                with lock:
                    answers.append(bool(valid))

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    return {"load_requests": len(queries), "load_clients": workers, "load_seconds": round(seconds, 1),
            "load_plans_per_s": round(len(queries) / seconds, 2), "load_valid_rate": round(sum(answers) / len(answers), 3)}


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="this CPU: " + json.dumps(SETTINGS["smoke"]))
    ap.add_argument("--model", default=None, help="a TinyLlama-1.1B checkpoint directory (default: random weights of its shape)")
    ap.add_argument("--optimizer", default="natural_galore")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--low-rank-backward", action=argparse.BooleanOptionalAction, default=None,
                    help="GaLore's weight gradients computed in the subspace during backward (default: tinyagent train's, "
                    "on a CPU only)")
    ap.add_argument("--work", type=Path, default=None, help="keep the data, model and checkpoints here (default: a temporary directory)")
    ap.add_argument("--max-new-tokens", type=int, default=None, help="per plan (default 256; --smoke 128)")
    ap.add_argument("--eval-batch", type=int, default=32)
    ap.add_argument("--serve-batch", type=int, default=16)
    ap.add_argument("--out", default=None, help="JSON path (default: $OUT/gpu_recipe.json if OUT is set)")
    args = ap.parse_args()
    for key, value in SETTINGS["smoke" if args.smoke else "gpu"].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.smoke:
        args.eval_batch = 1
    return args


def run(args: argparse.Namespace, work: Path) -> dict:
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        raise SystemExit("gpu_recipe: no GPU here; --smoke runs the same path on the CPU")
    data = args.data_dir = write_data(work / "data", args.train)
    config = TrainConfig(
        data=data, retriever=work / "retriever", out=work / "planner", model=str(args.model or work / "tinyllama"),
        optimizer=args.optimizer, batch_size=args.batch, per_device_batch_size=args.micro_batch, max_steps=args.steps,
        prompt_style=args.style, examples=args.examples, max_length=args.max_length, eval_samples=0, logging_steps=1,
        svd_method=args.svd_method, device=args.device, low_rank_backward=args.low_rank_backward, extra={"disable_tqdm": True, "save_strategy": "no"},
    )
    result = {"device": torch.cuda.get_device_name() if cuda else "cpu", "torch": torch.__version__,
              "setting": {k: v for k, v in vars(args).items() if k not in ("work", "out", "data_dir")}}
    started = time.perf_counter()
    if args.model is None:
        random_tinyllama(work / "tinyllama", planner_tokenizer(data, config))
    travelling_retriever(data, work / "retriever")
    result["prepare_seconds"] = round(time.perf_counter() - started, 1)
    log(result)
    result["train"] = train_part(config, cuda)
    result["train"]["checkpoint_bytes"] = sum(f.stat().st_size for f in config.out.glob("*.safetensors"))
    result["recipe_extrapolation"] = extrapolate(result["train"], config)
    log(result)
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    result["rss_after_train_gib"] = current_rss_gib()
    result["eval"] = eval_part(config.out, config.retriever, data, work, args)
    gc.collect()
    result["rss_after_eval_gib"] = current_rss_gib()
    log(result)
    result["serve"] = serve_part(config.out, config.retriever, args)
    result.update(peak_memory(cuda))
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    return result


def log(result: dict) -> None:
    print(json.dumps(result)[-2000:], file=sys.stderr, flush=True)


def main() -> None:
    args = parse_args()
    # The Trainer's and eval's progress lines go to stderr: stdout holds the JSON alone.
    with contextlib.redirect_stdout(sys.stderr):
        if args.work:
            args.work.mkdir(parents=True, exist_ok=True)
            result = run(args, args.work)
        else:
            with tempfile.TemporaryDirectory(prefix="gpu_recipe_") as tmp:
                result = run(args, Path(tmp))
    text = json.dumps(result, indent=1)
    out = args.out or (os.path.join(os.environ["OUT"], "gpu_recipe.json") if os.environ.get("OUT") else None)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
