"""Resuming: a run goes on from a checkpoint only with the settings that checkpoint trained with.

A torch optimizer's `load_state_dict` restores the saved param groups' hyperparameters, so a run
resumed with another learning rate or GaLore scale would silently keep the old ones while
planner.json recorded the new. Each checkpoint therefore carries the settings that shape its
training, and a resume that asks for different ones stops with a one-line error. The step count is
left out on purpose: resuming with a larger --max-steps is how a run is extended.
"""

from __future__ import annotations

import json
from pathlib import Path

from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint

from tinyagent_ft.train.recipe import TrainConfig

CHECKPOINTS_DIR = "checkpoints"
RUN_SETTINGS_FILE = "run_settings.json"


def resume_checkpoint(config: TrainConfig) -> str | None:
    """The checkpoint ``config.resume`` names ("auto": the latest under OUT/checkpoints, if any),
    after checking that it trained with ``config``'s settings."""
    if config.resume is None:
        return None
    if config.resume == "auto":
        checkpoints = config.out / CHECKPOINTS_DIR
        checkpoint = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    elif Path(config.resume).is_dir():
        checkpoint = str(config.resume)
    else:
        raise OSError(f"{config.resume}: no such checkpoint directory")
    if checkpoint is not None:
        check_resume_settings(Path(checkpoint), config.resume_settings())
    return checkpoint


def check_resume_settings(checkpoint: Path, settings: dict) -> None:
    """ValueError naming each setting that differs from the checkpoint's. A checkpoint written before
    checkpoints recorded their settings is taken as it is."""
    path = checkpoint / RUN_SETTINGS_FILE
    if not path.is_file():
        return
    saved = json.loads(path.read_text())
    asked = json.loads(json.dumps(settings))  # compare as stored: tuples become lists
    differ = [f"{key} {saved.get(key)!r} (now {asked.get(key)!r})"
              for key in sorted(set(saved) | set(asked)) if saved.get(key) != asked.get(key)]
    if differ:
        raise ValueError(f"{checkpoint} trained with other settings: {', '.join(differ)}; resume with the same "
                         "settings, or train into a new --out")


class RunSettingsRecorder(TrainerCallback):
    """Writes the run's settings into each checkpoint the Trainer saves (process 0 only)."""

    def __init__(self, settings: dict):
        self.settings = settings

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            checkpoint = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
            (checkpoint / RUN_SETTINGS_FILE).write_text(json.dumps(self.settings, indent=1) + "\n")
