"""Causal-LM fine-tuning of the planner on transformers' Trainer: completion-only training data,
per-evaluation plan scoring, metrics.jsonl, and the `tinyagent train` recipe."""

import sys
import types

from tinyagent_ft.train.callbacks import MetricsLogger
from tinyagent_ft.train.dataset import IGNORE_INDEX, TrainingPair, build_training_set, tokenize_pair, training_pairs
from tinyagent_ft.train.recipe import OPTIMIZERS, TrainConfig, model_defaults
from tinyagent_ft.train.run import train
from tinyagent_ft.train.trainer import PlannerTrainer
from tinyagent_ft.train.validation import PlanValidation

__all__ = [
    "IGNORE_INDEX",
    "OPTIMIZERS",
    "MetricsLogger",
    "PlanValidation",
    "PlannerTrainer",
    "TrainConfig",
    "TrainingPair",
    "build_training_set",
    "model_defaults",
    "tokenize_pair",
    "train",
    "training_pairs",
]


class _CallableTrainPackage(types.ModuleType):
    """Importing this package binds it as `tinyagent_ft.train`, where the package's API exports the
    `train` function; calling the package calls the function, so `from tinyagent_ft import train`
    works whichever of the two it finds."""

    def __call__(self, *args, **kwargs):
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableTrainPackage
