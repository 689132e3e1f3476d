"""galore_param_groups on a real (tiny) Llama, and use through Hugging Face's Trainer."""

import torch

from tinyagent_ft.optim import NaturalGaLoreAdamW, galore_param_groups, make_optimizer_and_scheduler


def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=32)
    return LlamaForCausalLM(config)


def test_param_groups_split_targets_plain_matrices_and_vectors():
    model = tiny_llama()
    groups = galore_param_groups(model, rank=4, weight_decay=0.1, damping=0.5, proj_type="left")
    names = {id(p): n for n, p in model.named_parameters()}
    projected, decayed, undecayed = ([names[id(p)] for p in g["params"]] for g in groups)
    assert len(projected) == 2 * 7 and all(n.endswith("_proj.weight") for n in projected)
    assert groups[0]["rank"] == 4 and groups[0]["damping"] == 0.5 and groups[0]["proj_type"] == "left"
    assert set(decayed) == {"model.embed_tokens.weight", "lm_head.weight"} and groups[1]["weight_decay"] == 0.1
    assert all("norm" in n for n in undecayed) and groups[2]["weight_decay"] == 0.0
    assert "rank" not in groups[1] and "rank" not in groups[2]
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_trainer_runs_two_steps_with_natural_galore(tmp_path):
    from transformers import Trainer, TrainingArguments

    model = tiny_llama()
    gen = torch.Generator().manual_seed(0)
    data = [{"input_ids": ids, "labels": ids} for ids in torch.randint(0, 64, (8, 16), generator=gen)]
    opt, sched = make_optimizer_and_scheduler(model, lr=1e-2, num_training_steps=2, rank=4,
                                              update_proj_gap=1, natural_history=3, damping=0.01)
    before = model.model.layers[0].self_attn.q_proj.weight.detach().clone()
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4,
                             report_to=[], save_strategy="no", use_cpu=True, logging_steps=1,
                             disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=data, optimizers=(opt, sched))
    result = trainer.train()
    assert torch.isfinite(torch.tensor(result.training_loss))
    q = model.model.layers[0].self_attn.q_proj.weight
    assert isinstance(trainer.optimizer, NaturalGaLoreAdamW) or trainer.optimizer.optimizer is opt
    assert opt.state[q]["step"] == 2 and opt.state[q]["hist_count"] == 1  # refreshed (reset) each step
    assert not torch.equal(before, q.detach())
