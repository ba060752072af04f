"""Tiny random BERT encoders for tests: a config, a matching tokenizer, or both saved as a backbone directory
(usable anywhere a backbone name is, ModelConfig.backbone)."""

from __future__ import annotations

import string
from collections.abc import Iterable
from pathlib import Path

import torch
from transformers import AutoModel, BertConfig, BertTokenizer, PreTrainedTokenizerFast

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


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
    """A matching (config, tokenizer) pair: a WordPiece vocab of single characters plus `words`.

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
