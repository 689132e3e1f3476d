"""One `tinyagent train` process for the multi-process test: `torchrun ... train_worker.py DATA RETRIEVER OUT`."""

import sys
from pathlib import Path

import torch

from tinyagent_ft.train import TrainConfig, train
from train_fixtures import TEST_SHAPE

if __name__ == "__main__":
    torch.set_num_threads(1)
    data, retriever, out = (Path(arg) for arg in sys.argv[1:4])
    train(TrainConfig(data=data, retriever=retriever, out=out, optimizer="adamw", batch_size=8, max_steps=6,
                      logging_steps=1, eval_samples=4, eval_steps=3, tiny_shape=TEST_SHAPE,
                      extra={"disable_tqdm": True}))
