"""Backbone resolution: offline, the default falls back to the packaged MiniLM at once; explicit choices never do."""

from __future__ import annotations

import time

import pytest

from retriever import backbones


@pytest.fixture()
def offline(monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)


def test_unreachable_default_falls_back_to_the_packaged_minilm_quickly(offline):
    started = time.perf_counter()
    chosen = backbones.resolve(None, "nobody/no-such-model")
    assert time.perf_counter() - started < 5
    assert chosen.name == backbones.PACKAGED_MINILM and chosen.source == "packaged"
    assert "nobody/no-such-model" in chosen.note
    assert (backbones.packaged_minilm_dir() / "model.safetensors").is_file()


def test_explicit_unreachable_backbone_is_an_error(offline):
    with pytest.raises(OSError, match="nobody/no-such-model"):
        backbones.resolve("nobody/no-such-model", backbones.DEFAULT_CLASSIFIER_BACKBONE)


def test_local_directory_is_used_as_given(tmp_path, offline):
    chosen = backbones.resolve(str(tmp_path), backbones.DEFAULT_CLASSIFIER_BACKBONE)
    assert chosen.source == "local" and chosen.path == str(tmp_path.resolve()) and not chosen.note
