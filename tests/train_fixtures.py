"""A generated data directory, an untrained but loadable retriever and a very small Llama shape,
so that `tinyagent train` runs end to end in seconds."""

from __future__ import annotations

from pathlib import Path

from tinyagent_ft.data import SPLIT_FILES, generate_splits, load_split, write_tinyagent_file
from tinyagent_ft.models import TinyShape

# Small enough for 30 steps in a few seconds on a shared CPU, large enough to fit the data a little.
TEST_SHAPE = TinyShape(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=2,
                       num_key_value_heads=1, max_position_embeddings=512, vocab_size=400)


def write_data(directory: Path, train: int = 64, val: int = 8, test: int = 8, seed: int = 3) -> Path:
    for split, records in generate_splits(train, val, test, seed=seed).items():
        write_tinyagent_file(records, directory / SPLIT_FILES[split])
    return directory


def write_retriever(data_dir: Path, directory: Path) -> Path:
    """A retriever with a random 2-layer BERT whose own encoder embeds the index: loadable from disk
    like a trained one, with no training and no sentence-transformers model."""
    from retriever import Retriever
    from retriever.embedder import ClassifierEmbedder
    from retriever.index import ExampleIndex
    from retriever_fixtures import minilm_tokenizer, tiny_bert_classifier

    classifier = tiny_bert_classifier(minilm_tokenizer())
    embedder = ClassifierEmbedder(classifier)
    rows = load_split(data_dir, "train")
    index = ExampleIndex.build(rows["id"], rows["query"], rows["tools"], rows["plan"], embedder.encode, embedder.name)
    Retriever(classifier, index, embedder).save(directory)
    return directory
