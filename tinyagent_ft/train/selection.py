"""Which evaluated checkpoint a run keeps: the latest one, unless the validation shows it worse.

Keeping the checkpoint with the highest validation success picks noise when the sample is small: a
two-hour SmolLM2 run kept step 500 (50 validation plans: 0.96) over step 1,000 (0.94) on one plan
that only step 500 got right, while on all 300 validation plans step 1,000 was better (0.910 against
0.883) and on the 500 test queries too (0.950 against 0.904). Both checkpoints plan the same sample,
so the comparison is paired: the later checkpoint is kept unless the best-scoring one so far has a
clear lead on the plans only one of them gets right (a one-sided sign test). Comparing with the best
so far, not with the checkpoint kept last, stops a slow decline from being accepted one small step
at a time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from math import comb
from pathlib import Path

SELECTION_FILE = "plan_selection.json"
# A lead that chance gives less than one time in four: 3 plans to 0, 4 to 1 or 5 to 2. Drawing
# validation samples from that run's outcomes (benchmarks/RESULTS.md), this level never dropped the
# better later checkpoint, and it kept the better earlier one (the pair reversed) in 96-99 % of
# 200-plan samples (the default --eval-samples) and 18-42 % of 50-plan ones; at 5 % it kept it in
# 39-88 % and 1-8 %. These runs train under one epoch with a decaying learning rate, and none measured
# got worse late, so the doubt goes to the later checkpoint.
SIGNIFICANCE = 0.25


def sign_test_p(wins: int, losses: int) -> float:
    """One-sided p-value of at least ``wins`` wins among ``wins + losses`` fair coin flips."""
    flips = wins + losses
    return sum(comb(flips, k) for k in range(wins, flips + 1)) / 2**flips if flips else 1.0


@dataclass(frozen=True)
class Evaluation:
    step: int
    score: float
    # Per validation plan, in the sample's fixed order; None for a peak restored from a checkpoint
    # saved before checkpoints kept them, which is then compared by score alone.
    successes: tuple[bool, ...] | None
    # Which records were planned (`PlanValidation.fingerprint`): a run resumed with another
    # --eval-samples or validation split plans other records, which only scores can compare.
    sample: str | None = None


class CheckpointSelection:
    """Tracks the best-scoring evaluation (the peak) and says whether each new one is kept."""

    def __init__(self, peak: Evaluation | None = None, significance: float = SIGNIFICANCE):
        self.peak, self.significance = peak, significance

    def keeps(self, evaluation: Evaluation) -> bool:
        """Whether ``evaluation``'s checkpoint replaces the kept one; a new peak always does."""
        if self.peak is None or evaluation.score >= self.peak.score:
            self.peak = evaluation
            return True
        return not self.clearly_worse(evaluation)

    def clearly_worse(self, evaluation: Evaluation) -> bool:
        """Called for an evaluation that scores below the peak; without paired outcomes that decides."""
        if self.peak.successes is None or evaluation.successes is None or self.peak.sample != evaluation.sample:
            return True
        peak_only = sum(p and not e for p, e in zip(self.peak.successes, evaluation.successes))
        new_only = sum(e and not p for p, e in zip(self.peak.successes, evaluation.successes))
        return sign_test_p(peak_only, new_only) < self.significance

    def save(self, checkpoint: Path) -> None:
        peak = self.peak
        record = None if peak is None else {
            "step": peak.step, "score": peak.score, "sample": peak.sample,
            "successes": None if peak.successes is None else [int(s) for s in peak.successes]}
        (checkpoint / SELECTION_FILE).write_text(json.dumps({"peak": record}) + "\n")

    @classmethod
    def load(cls, checkpoint: Path) -> CheckpointSelection:
        """The selection saved with ``checkpoint``; an empty one where it saved none."""
        path = checkpoint / SELECTION_FILE
        if not path.is_file():
            return cls()
        try:
            record = json.loads(path.read_text())["peak"]
            peak = None if record is None else Evaluation(int(record["step"]), float(record["score"]),
                                                          _successes(record["successes"]), record.get("sample"))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: not a checkpoint selection record ({error})") from None
        return cls(peak)


def _successes(values: Sequence[int] | None) -> tuple[bool, ...] | None:
    return None if values is None else tuple(bool(v) for v in values)
