"""Causal-LM fine-tuning of the planner on transformers' Trainer: completion-only training data,
per-evaluation plan scoring, metrics.jsonl, and the `tinyagent train` recipe."""

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
