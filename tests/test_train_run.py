"""`tinyagent train` end to end on a very small Llama: learning, metrics, checkpoints, resume, LoRA."""

import json

import pytest
from transformers import LlamaForCausalLM, TrainerCallback, TrainingArguments

from tinyagent_ft.checkpoint import load_planner
from tinyagent_ft.copying import copied_arguments
from tinyagent_ft.data import load_split
from tinyagent_ft.train import TrainConfig, train
from tinyagent_ft.train.selection import CheckpointSelection, Evaluation
from tinyagent_ft.train.trainer import BEST_METRIC, PlannerTrainer
from train_fixtures import TEST_SHAPE, write_data, write_retriever


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_run")
    data = write_data(root / "data")
    return data, write_retriever(data, root / "retriever")


def config(workspace, out, **overrides) -> TrainConfig:
    data, retriever = workspace
    settings = dict(data=data, retriever=retriever, out=out, batch_size=8, max_steps=30, logging_steps=1,
                    eval_samples=0, tiny_shape=TEST_SHAPE, extra={"disable_tqdm": True})
    settings.update(overrides)
    return TrainConfig(**settings)


def read_metrics(out) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


class StopAt(TrainerCallback):
    """Ends training after a given step, as an interruption would (after that step's checkpoint)."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


class CollatorSeen(TrainerCallback):
    """Keeps the collator the Trainer's training batches come from."""

    collator = None

    def on_train_begin(self, args, state, control, train_dataloader=None, **kwargs):
        self.collator = train_dataloader.collate_fn


class WeightGradientsSeen(TrainerCallback):
    """Before each optimizer step: whether a projected weight holds a full-size gradient, and how many
    projected gradients the optimizer holds instead."""

    def __init__(self):
        self.full, self.projected = [], []

    def on_pre_optimizer_step(self, args, state, control, model=None, optimizer=None, **kwargs):
        self.full.append(model.model.layers[0].mlp.down_proj.weight.grad is not None)
        self.projected.append(len(getattr(optimizer, "optimizer", optimizer).low_rank_gradients()))


def test_loss_falls_and_the_best_evaluation_is_saved_with_its_metrics(workspace, tmp_path):
    out = tmp_path / "ckpt"
    facts = train(config(workspace, out, eval_samples=4, eval_steps=15))
    lines = read_metrics(out)
    losses = [line["loss"] for line in lines if "loss" in line]
    assert [line["step"] for line in lines if "loss" in line] == list(range(1, 31))
    assert sum(losses[-5:]) / 5 < 0.75 * sum(losses[:5]) / 5
    first = next(line for line in lines if "loss" in line)
    assert first["optimizer_state_bytes"] > 0 and first["peak_rss_bytes"] > 0 and first["tokens_per_s"] > 0
    assert "natural_cos" in first and first["lr"] > 0
    evals = [line for line in lines if "eval_loss" in line]
    assert [e["step"] for e in evals] == [15, 30]
    assert all(0.0 <= e["eval_success_rate"] <= e["eval_tool_set_accuracy"] + 1.0 for e in evals)
    assert facts["optimizer"] == "natural_galore" and facts["train_seconds"] > 0
    assert facts["best_step"] in (15, 30)
    selection = CheckpointSelection.load(out / "checkpoints" / "checkpoint-30")
    assert selection.peak.step == facts["peak_step"] in (15, 30) and len(selection.peak.successes) == 4
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["checkpoint-15", "checkpoint-30"]
    assert (out / "checkpoints" / "checkpoint-15" / "model.safetensors").is_file()
    planner = load_planner(out)
    assert planner.prompt_config.style == "compact" and planner.info["best_step"] == facts["best_step"]
    assert planner.tokenizer.chat_template and (out / "model.safetensors").is_file()
    rows = load_split(workspace[0], "train")  # the copied arguments are the training split's
    assert planner.copied_arguments == copied_arguments(zip(rows["query"], rows["plan"]))
    assert planner.copied_arguments["get_email_address"] == ["name"]


def test_a_resumed_run_continues_the_uninterrupted_loss_curve(workspace, tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    train(config(workspace, whole, max_steps=8, eval_steps=4))
    train(config(workspace, split, max_steps=8, eval_steps=4), callbacks=[StopAt(4)])
    assert [line["step"] for line in read_metrics(split)] == [1, 2, 3, 4]
    (split / "metrics.jsonl").open("a").write(json.dumps({"step": 5, "loss": 99.0}) + "\n")  # logged after the checkpoint
    train(config(workspace, split, max_steps=8, eval_steps=4, resume="auto"))
    expected, resumed = read_metrics(whole), read_metrics(split)
    assert [line["step"] for line in resumed] == list(range(1, 9))
    assert [line["loss"] for line in resumed] == pytest.approx([line["loss"] for line in expected], rel=1e-4)


def interrupted_with_an_unreachable_peak(workspace, out):
    """A run of 8 steps stopped after step 4, whose saved selection holds a peak of its 2-record
    sample that no evaluation can reach, at a step no evaluation ran: only that file knows it."""
    train(config(workspace, out, max_steps=8, eval_steps=4, eval_samples=2), callbacks=[StopAt(4)])
    checkpoint = out / "checkpoints" / "checkpoint-4"
    sample = CheckpointSelection.load(checkpoint).peak.sample
    CheckpointSelection(Evaluation(3, 9.0, (True, True), sample)).save(checkpoint)
    return out


def test_a_resumed_run_compares_its_checkpoints_with_the_peak_saved_before_the_interruption(workspace, tmp_path,
                                                                                             capfd):
    out = interrupted_with_an_unreachable_peak(workspace, tmp_path / "run")
    capfd.readouterr()
    facts = train(config(workspace, out, max_steps=8, eval_steps=4, eval_samples=2, resume="auto"))
    assert facts["peak_step"] == 3 and facts["best_step"] == 8  # 2 plans behind at most: within the noise
    assert "tinyagent train: kept step 8 (validation success " in capfd.readouterr().err


def test_a_run_resumed_with_another_validation_sample_compares_by_score(workspace, tmp_path):
    out = interrupted_with_an_unreachable_peak(workspace, tmp_path / "run")
    facts = train(config(workspace, out, max_steps=8, eval_steps=4, eval_samples=3, resume="auto"))
    # 3 records cannot be paired with 2: step 8 is below the peak's score, so step 4 stays kept.
    assert facts["peak_step"] == 3 and facts["best_step"] == 4 and facts["steps"] == 8


def test_a_resume_with_other_settings_stops_before_training_and_keeps_the_run(workspace, tmp_path):
    out = tmp_path / "run"
    train(config(workspace, out, max_steps=4, eval_steps=2), callbacks=[StopAt(2)])
    saved = json.loads((out / "checkpoints" / "checkpoint-2" / "run_settings.json").read_text())
    assert saved["scale"] == 0.25 and saved["lr"] == 3e-3 and "max_steps" not in saved  # a run may be extended
    with pytest.raises(ValueError, match=r"checkpoint-2 trained with other settings: lr 0\.003 \(now 0\.001\), "
                                         r"scale 0\.25 \(now 1\.0\); resume with the same settings"):
        train(config(workspace, out, max_steps=4, eval_steps=2, lr=1e-3, scale=1.0, resume="auto"))
    assert [line["step"] for line in read_metrics(out)] == [1, 2]


def test_an_evaluation_no_checkpoint_holds_is_neither_kept_nor_the_peak(tmp_path):
    # --eval-steps 2 --save-steps 4: steps 2 and 6 are evaluated but not saved. Had they counted,
    # step 6 (all 8 plans right) would be kept without a checkpoint, and step 8 dropped against it.
    args = TrainingArguments(output_dir=str(tmp_path), eval_strategy="steps", eval_steps=2, save_strategy="steps",
                             save_steps=4, max_steps=8, load_best_model_at_end=True, metric_for_best_model=BEST_METRIC,
                             use_cpu=True, report_to="none")
    trainer = PlannerTrainer(model=LlamaForCausalLM(TEST_SHAPE.llama_config()), args=args, eval_dataset=[{}])
    trainer.state.max_steps = 8
    kept = []
    for step, right in ((2, 8), (4, 6), (6, 8), (8, 3)):
        trainer.state.global_step = step
        trainer._validated = Evaluation(step, right / 8, tuple(i < right for i in range(8)))
        if trainer._determine_best_metric({BEST_METRIC: right / 8}, None):
            kept.append(step)
    assert kept == [4]  # step 8 trails step 4 by 3 plans to 0 (p = 1/8)
    assert trainer.selection.peak.step == trainer.state.best_global_step == 4


@pytest.mark.parametrize("optimizer", ["lora", "galore"])
def test_other_optimizers_train_and_save_a_plain_checkpoint(workspace, tmp_path, optimizer):
    out, seen, gradients = tmp_path / optimizer, CollatorSeen(), WeightGradientsSeen()
    callbacks = [seen] if optimizer == "lora" else [seen, gradients]
    facts = train(config(workspace, out, optimizer=optimizer, max_steps=3, lora_rank=4, rank=8), callbacks=callbacks)
    assert facts["steps"] == 3 and facts["optimizer"] == optimizer
    assert seen.collator.label_logits_only  # the LM head runs at labelled positions only, under LoRA too
    assert not (out / "adapter_config.json").exists()  # LoRA is merged into the weights
    assert load_planner(out).model.config.hidden_size == TEST_SHAPE.hidden_size
    if optimizer == "galore":
        assert facts["hyperparameters"]["natural_history"] == 0 and "natural_cos" in read_metrics(out)[0]
        # On a CPU the projected layers' weight gradients arrive in the subspace, except at the first
        # step, which computes the bases from full ones; the norm logged counts them.
        assert facts["effective"]["low_rank_backward"]
        assert gradients.full == [True, False, False] and gradients.projected[0] == 0 < min(gradients.projected[1:])
        assert all(line["grad_norm"] > 0 for line in read_metrics(out) if "loss" in line)
    else:
        assert not facts["effective"]["low_rank_backward"]
