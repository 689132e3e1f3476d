"""Trainer whose evaluation also generates and scores plans, so that plan success is one of the
metrics the Trainer logs, and the checkpoint it keeps is chosen on the plans (`selection`)."""

from __future__ import annotations

from pathlib import Path

from transformers import Trainer
from transformers.trainer_pt_utils import LengthGroupedSampler
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, EvalLoopOutput

from tinyagent_ft.optim.low_rank_backward import clip_grad_norm_with
from tinyagent_ft.train.selection import CheckpointSelection, Evaluation
from tinyagent_ft.train.validation import PlanValidation

# Short runs often tie at a success rate of 0 (the arguments are learnt last); the score that ranks
# evaluations breaks ties by tool-set accuracy, then loss. Success rates are multiples of 1/n with
# n <= 1000 samples, so the tie-breakers never reorder them.
BEST_METRIC = "eval_plan_score"


def plan_score(success_rate: float, tool_set_accuracy: float, eval_loss: float | None) -> float:
    loss_term = 0.0 if eval_loss is None else 1.0 / (1.0 + eval_loss)
    return success_rate + 1e-4 * tool_set_accuracy + 1e-6 * loss_term


class PlannerTrainer(Trainer):
    def __init__(self, *args, plan_validation: PlanValidation | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.plan_validation = plan_validation
        self.selection = CheckpointSelection()
        self._validated: Evaluation | None = None

    def train(self, resume_from_checkpoint: str | None = None, **kwargs):
        if isinstance(resume_from_checkpoint, str):
            self.selection = CheckpointSelection.load(Path(resume_from_checkpoint))
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    def _clip_grad_norm(self, model):
        low_rank = self._low_rank_gradients()
        if not low_rank:
            return super()._clip_grad_norm(model)
        return clip_grad_norm_with(model.parameters(), low_rank, self.args.max_grad_norm)

    def _get_grad_norm(self, model, grad_norm=None):
        low_rank = self._low_rank_gradients() if grad_norm is None else []
        if low_rank:
            grad_norm = clip_grad_norm_with(model.parameters(), low_rank, float("inf"))
        return super()._get_grad_norm(model, grad_norm)

    def _low_rank_gradients(self) -> list:
        """Gradients the optimizer received already projected (`low_rank_backward`): they count in the
        norm that is clipped and logged, as the full-size gradients of the other parameters do."""
        optimizer = getattr(self.optimizer, "optimizer", self.optimizer)  # accelerate's wrapper holds ours
        held = getattr(optimizer, "low_rank_gradients", None)
        return held() if held is not None else []

    def _get_train_sampler(self, train_dataset=None):
        # transformers sizes the length groups by the per-device batch, so with a dataset size that
        # does not divide evenly the order of examples changed with the process count. Grouping by the
        # global batch gives every process count the same order; accelerate then deals each global
        # batch out to the processes, and N processes train on the batches one process would.
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        lengths_known = self.args.length_column_name in getattr(dataset, "column_names", ())
        if self.args.train_sampling_strategy != "group_by_length" or not lengths_known:
            return super()._get_train_sampler(train_dataset)
        global_batch = self.args.train_batch_size * self.args.gradient_accumulation_steps * max(1, self.args.world_size)
        return LengthGroupedSampler(global_batch, dataset=dataset, lengths=dataset[self.args.length_column_name])

    def evaluation_loop(self, dataloader, description, prediction_loss_only=None, ignore_keys=None,
                        metric_key_prefix: str = "eval") -> EvalLoopOutput:
        output = super().evaluation_loop(dataloader, description, prediction_loss_only, ignore_keys, metric_key_prefix)
        if self.plan_validation is not None and len(self.plan_validation):
            # Every rank generates the same sample with the same weights, so the metric (and with it
            # the choice of the checkpoint kept) agrees across DDP processes without a gather.
            scores = self.plan_validation.score(self.model, self.processing_class)
            output.metrics.update({f"{metric_key_prefix}_{name}": value for name, value in scores.rates.items()})
            score = plan_score(scores.rates["success_rate"], scores.rates["tool_set_accuracy"],
                               output.metrics.get(f"{metric_key_prefix}_loss"))
            output.metrics[f"{metric_key_prefix}_plan_score"] = score
            self._validated = Evaluation(self.state.global_step, score, scores.successes,
                                         self.plan_validation.fingerprint)
        return output

    def _determine_best_metric(self, metrics: dict[str, float], trial) -> bool:
        """Keep this evaluation's checkpoint as `CheckpointSelection` says, in the Trainer's own fields
        (best_metric, best_global_step), so its checkpoint rotation and load at the end follow."""
        evaluation, self._validated = self._validated, None
        if evaluation is None or self.args.metric_for_best_model != BEST_METRIC:
            return super()._determine_best_metric(metrics, trial)
        if not self._saves_this_step():
            # No checkpoint will hold these weights (--save-steps a multiple of --eval-steps), so this
            # evaluation can be neither kept nor the peak that saved checkpoints must not trail.
            return False
        if self.selection.peak is None and self.state.best_metric is not None:
            # Resumed from a checkpoint saved without its selection: its best is known by score only.
            self.selection.peak = Evaluation(self.state.best_global_step, self.state.best_metric, None)
        if not self.selection.keeps(evaluation):
            return False
        self.state.best_metric, self.state.best_global_step = evaluation.score, evaluation.step
        return True

    def _saves_this_step(self) -> bool:
        """Whether the Trainer checkpoints the current step: every `save_steps` steps, and the last step."""
        step = self.state.global_step
        return self.args.save_strategy != "steps" or step % self.args.save_steps == 0 or step >= self.state.max_steps

    def _save_checkpoint(self, model, trial) -> None:
        super()._save_checkpoint(model, trial)
        if self.args.should_save and self.selection.peak is not None:
            checkpoint = Path(self._get_output_dir(trial)) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            self.selection.save(checkpoint)
