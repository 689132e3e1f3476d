"""Natural GaLore's step at a git revision against the working tree's, in one process. Prints JSON.

This machine's speed drifts by a third within an hour, more than most changes to the step are
worth, so a before-and-after comparison runs both versions side by side: the optimizer package
(`tinyagent_ft/optim`) at ``--baseline`` is extracted with `git archive` and imported under another
name, each version steps its own copy of the same Llama (TinyLlama's architecture at any width, as in
`optimizer_speed.py`), and rounds alternate between them. galore-torch joins as a third column
where it is installed. Ratios are medians of per-round ratios.

By default every step sees the same gradients, as in `optimizer_speed.py`. ``--fresh-grads`` draws
new ones before each step, outside the timed region, as training does: memory freed by the old
gradients is then there for the step's own allocations, which changes what a fresh buffer costs.

    python benchmarks/optimizer_versions.py --baseline 32077d5 --hidden 512 --layers 4 --vocab 256 --rank 64
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import io
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import optimizer_speed  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

from tinyagent_ft.optim import NaturalGaLoreAdamW, galore_param_groups  # noqa: E402

BASELINE_PACKAGE = "optim_at_baseline"


def import_baseline(revision: str, into: Path) -> type:
    """``NaturalGaLoreAdamW`` as it was at ``revision`` (its package imports only itself and torch)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "tinyagent_ft/optim"],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    (into / "tinyagent_ft" / "optim").rename(into / BASELINE_PACKAGE)
    sys.path.insert(0, str(into))
    return importlib.import_module(BASELINE_PACKAGE).NaturalGaLoreAdamW


def build(kind: str, classes: dict[str, type], args: argparse.Namespace) -> torch.optim.Optimizer:
    model = optimizer_speed.with_random_grads(optimizer_speed.llama(args.hidden, args.layers, args.vocab))
    common = {"rank": args.rank, "update_proj_gap": args.gap, "scale": 0.25}
    if kind == "galore_torch":
        return optimizer_speed.galore_torch_adamw(model, common, lr=1e-3)
    return classes[kind](galore_param_groups(model, **common), lr=1e-3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", required=True, help="git revision whose optimizer is compared")
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=256)
    ap.add_argument("--rank", type=int, default=64)
    ap.add_argument("--gap", type=int, default=optimizer_speed.NO_REFRESH,
                    help="update_proj_gap (default: beyond the run, so only untimed warm-up steps refresh)")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--steps", type=int, default=5, help="steps per timed round")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fresh-grads", action="store_true", help="new random gradients before every step")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        classes = {"baseline": import_baseline(args.baseline, Path(tmp)), "working_tree": NaturalGaLoreAdamW}
        kinds = ["baseline", "working_tree"]
        if importlib.util.find_spec("galore_torch") is not None:
            kinds.insert(0, "galore_torch")
        optimizers = {kind: build(kind, classes, args) for kind in kinds}
        for opt in optimizers.values():
            optimizer_speed.warm_up(opt)
        fresh = torch.Generator().manual_seed(1) if args.fresh_grads else None
        times = optimizer_speed.time_steps(optimizers, args.rounds, args.steps, fresh)

    def paired(kind: str, reference: str) -> float:
        return round(statistics.median(a / b for a, b in zip(times[kind], times[reference])), 3)

    result = {
        "setting": {**vars(args), "torch": torch.__version__},
        "step_ms_median": {kind: round(1e3 * statistics.median(t), 2) for kind, t in times.items()},
        "working_tree_over_baseline_paired": paired("working_tree", "baseline"),
    }
    if "galore_torch" in times:
        result["over_galore_torch_paired"] = {kind: paired(kind, "galore_torch") for kind in kinds}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
