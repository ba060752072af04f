"""The four agents' models. Each exposes `.encoders` and `.heads` so the optimiser can give them different rates.

All take forward(input_ids, attention_mask, token_type_ids=None) and return a dict of tensors:
  criteria -> logits [B, 2]
  evidence -> start_logits, end_logits [B, L]   (no answer = position 0, the CLS token, as in SQuAD v2)
  share    -> logits, start_logits, end_logits  (one encoder, two heads)
  joint    -> logits, start_logits, end_logits  (both read from evidence tokens the criteria encoder conditions)
With model.criterion_input = heads the input is the text alone and every output gains a criterion axis after the
batch (logits [B, 9, 2], start/end [B, 9, L]): one encoder pass answers all nine criteria.
With model.span_unit = sentence the span agents answer with whole sentences of the post: start/end give way to
sentence_logits [B, (9,) 1 + S], the no-answer score at 0 and one score per candidate sentence of the window
(forward then takes the features' sentence_index).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from transformers import PretrainedConfig, PreTrainedModel

from psy_agents.config import AGENTS, Fusion, ModelConfig
from psy_agents.data.criteria_text import SYMPTOMS, description
from psy_agents.errors import InputError
from psy_agents.models.backbone import load_encoder
from psy_agents.models.heads import CriterionPooler, MLPHead, Pooler, SentenceHead, SpanHead


def criteria_axis(cfg: ModelConfig) -> int | None:
    """How many criteria one forward pass answers: None for pair (one per input), nine for heads."""
    return len(SYMPTOMS) if cfg.criterion_input == "heads" else None


def _token_states(encoder: PreTrainedModel, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None):
    kwargs = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
    return encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state


def _span_head(cfg: ModelConfig, hidden: int, n: int | None) -> SpanHead | SentenceHead:
    return SentenceHead(hidden, n) if cfg.span_unit == "sentence" else SpanHead(hidden, n)


def _spans(head: SpanHead | SentenceHead, states: Tensor, attention_mask: Tensor, sentence_index: Tensor | None):
    if isinstance(head, SentenceHead):
        if sentence_index is None:
            raise InputError("model.span_unit sentence needs the features' sentence_index (training.tasks encodes it)")
        return {"sentence_logits": head(states, sentence_index)}
    start, end = head(states, attention_mask)
    return {"start_logits": start, "end_logits": end}


class ClsHead(nn.Module):
    """Pooler + MLP: token states -> 2-way logits ([B, 2], or [B, n, 2] for n criteria). `per_criterion`: one
    attention-pooled vector per criterion (share and joint, heads), each read by the same MLP; otherwise one pooled
    vector and an MLP with n x 2 outputs."""

    def __init__(self, cfg: ModelConfig, hidden: int, n: int | None = None, per_criterion: bool = False) -> None:
        super().__init__()
        self.n = n
        self.pooler = CriterionPooler(n, hidden) if per_criterion else Pooler(cfg.pooling, hidden)
        out = 2 if per_criterion or n is None else 2 * n
        self.mlp = MLPHead(hidden, out, cfg.head_layers, cfg.head_hidden, cfg.head_activation, cfg.head_dropout)

    def forward(self, hidden_states: Tensor, attention_mask: Tensor) -> Tensor:
        logits = self.mlp(self.pooler(hidden_states, attention_mask))
        if self.n is not None and logits.dim() == 2:
            logits = logits.unflatten(-1, (self.n, 2))
        return logits


class AgentModel(nn.Module):
    """Base of the four agents: `encoders` are the transformer children (optimizers give them layer-wise lr decay
    and freezing), `heads` every other child, both in registration order."""

    @property
    def encoders(self) -> list[nn.Module]:
        return [m for m in self.children() if isinstance(m, PreTrainedModel)]

    @property
    def heads(self) -> list[nn.Module]:
        return [m for m in self.children() if not isinstance(m, PreTrainedModel)]


class CriteriaModel(AgentModel):
    def __init__(self, cfg: ModelConfig, encoder: PreTrainedModel) -> None:
        super().__init__()
        self.encoder = encoder
        self.cls_head = ClsHead(cfg, encoder.config.hidden_size, criteria_axis(cfg))

    def forward(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None = None):
        states = _token_states(self.encoder, input_ids, attention_mask, token_type_ids)
        logits = self.cls_head(states, attention_mask)
        return {"logits": logits}


class EvidenceModel(AgentModel):
    def __init__(self, cfg: ModelConfig, encoder: PreTrainedModel) -> None:
        super().__init__()
        self.encoder = encoder
        self.span_head = _span_head(cfg, encoder.config.hidden_size, criteria_axis(cfg))

    def forward(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None = None,
                sentence_index: Tensor | None = None):
        states = _token_states(self.encoder, input_ids, attention_mask, token_type_ids)
        return _spans(self.span_head, states, attention_mask, sentence_index)


class ShareModel(AgentModel):
    def __init__(self, cfg: ModelConfig, encoder: PreTrainedModel) -> None:
        super().__init__()
        self.encoder = encoder
        n = criteria_axis(cfg)
        # heads: each criterion attends to its own tokens (as joint's); pair: model.pooling
        self.cls_head = ClsHead(cfg, encoder.config.hidden_size, n, per_criterion=n is not None)
        self.span_head = _span_head(cfg, encoder.config.hidden_size, n)

    def forward(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None = None,
                sentence_index: Tensor | None = None):
        states = _token_states(self.encoder, input_ids, attention_mask, token_type_ids)
        logits = self.cls_head(states, attention_mask)
        return {"logits": logits, **_spans(self.span_head, states, attention_mask, sentence_index)}


class CriteriaFusion(nn.Module):
    """Inject the pooled criteria vector v into every evidence token state t.

    add:  LayerNorm(t + proj(v))                       (shifts every token by what the criteria encoder saw)
    gate: LayerNorm(t * sigmoid(gate(v)) + proj(v))    (also lets v switch evidence features on or off)

    The LayerNorm is what makes `add` do anything: the span head is linear, so a shift shared by every token of a
    window would only add a constant to all its start (end) logits, which the softmax over positions and the
    span-vs-null comparison ignore. Normalising each token after the shift makes its effect token-dependent.
    """

    def __init__(self, kind: Fusion, hidden: int) -> None:
        super().__init__()
        self.proj = nn.Linear(hidden, hidden)
        self.gate = nn.Linear(hidden, hidden) if kind == "gate" else None
        self.norm = nn.LayerNorm(hidden)

    def forward(self, tokens: Tensor, pooled: Tensor) -> Tensor:
        """tokens [B, L, H]; pooled [B, H] -> [B, L, H], or one vector per criterion [B, n, H] -> [B, n, L, H]."""
        if pooled.dim() == 3:
            tokens = tokens.unsqueeze(1)
        shift = self.proj(pooled).unsqueeze(-2)
        if self.gate is not None:
            tokens = tokens * torch.sigmoid(self.gate(pooled)).unsqueeze(-2)
        return self.norm(tokens + shift)


class JointModel(AgentModel):
    """Two independent encoders read the same window: the criteria encoder's vector (heads: one per criterion,
    attention-pooled) conditions the evidence encoder's tokens, and both the decisions and the spans are read from
    the conditioned tokens. Decisions read from the criteria encoder alone learned slower: val primary 0.52 against
    0.63 after 2 epochs (heads, sentence spans)."""

    def __init__(self, cfg: ModelConfig, criteria_encoder: PreTrainedModel, evidence_encoder: PreTrainedModel) -> None:
        super().__init__()
        hidden = evidence_encoder.config.hidden_size
        n = criteria_axis(cfg)
        self.criteria_encoder = criteria_encoder
        self.evidence_encoder = evidence_encoder
        self.criteria_pooler = CriterionPooler(n, hidden) if n is not None else Pooler(cfg.pooling, hidden)
        self.fusion = CriteriaFusion(cfg.fusion, hidden)
        self.cls_head = ClsHead(cfg, hidden, n, per_criterion=n is not None)
        # token spans: one head reads every criterion's tokens; sentence spans: each criterion's scorer its own
        self.span_head = _span_head(cfg, hidden, n if cfg.span_unit == "sentence" else None)

    def forward(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None = None,
                sentence_index: Tensor | None = None):
        criteria_states = _token_states(self.criteria_encoder, input_ids, attention_mask, token_type_ids)
        evidence_states = _token_states(self.evidence_encoder, input_ids, attention_mask, token_type_ids)
        fused = self.fusion(evidence_states, self.criteria_pooler(criteria_states, attention_mask))
        logits = self.cls_head(fused, attention_mask)
        return {"logits": logits, **_spans(self.span_head, fused, attention_mask, sentence_index)}


@torch.no_grad()
def _description_embeddings(encoder: PreTrainedModel, tokenizer) -> Tensor:
    """The nine criterion descriptions [9, H], each the mean of its token states (as a sentence is pooled)."""
    device = next(encoder.parameters()).device
    enc = tokenizer([description(s) for s in SYMPTOMS], padding=True, return_tensors="pt").to(device)
    was_training = encoder.training
    states = encoder.eval()(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    encoder.train(was_training)
    mask = enc["attention_mask"].unsqueeze(-1).to(states.dtype)
    return ((states * mask).sum(dim=1) / mask.sum(dim=1)).float()


def start_from_descriptions(model: nn.Module, tokenizer) -> None:
    """model.criterion_init descriptions: a heads model's per-criterion parts start from the criterion descriptions
    embedded by the encoder each reads, so the text of each criterion shapes them from the first step: the nine
    attention queries of the classification head (share, joint) and the nine sentence scorers (span_unit
    sentence). Share, 2 epochs: val primary 0.668 against 0.555 from random queries. Other parts are left alone."""
    # each part starts from the encoder whose states it reads: joint's criteria pooler the criteria encoder, every
    # head the (conditioned) evidence encoder, share's its one encoder; each encoder embeds the descriptions once
    embedded: dict[int, Tensor] = {}

    def embeddings(encoder: PreTrainedModel) -> Tensor:
        if id(encoder) not in embedded:
            embedded[id(encoder)] = _description_embeddings(encoder, tokenizer)
        return embedded[id(encoder)]

    for pooler, encoder in ((getattr(model, "criteria_pooler", None), model.encoders[0]),
                            (getattr(getattr(model, "cls_head", None), "pooler", None), model.encoders[-1])):
        if isinstance(pooler, CriterionPooler):
            pooler.start_from(embeddings(encoder))
    head = getattr(model, "span_head", None)
    if isinstance(head, SentenceHead) and head.n is not None:
        head.start_from(embeddings(model.encoders[-1]))


def build_model(agent: str, model_cfg: ModelConfig, backbone: str | PretrainedConfig | None = None) -> nn.Module:
    """The agent's model; `backbone` overrides model_cfg.backbone (tests pass a tiny PretrainedConfig)."""
    source = model_cfg.backbone if backbone is None else backbone
    if agent == "criteria":
        return CriteriaModel(model_cfg, load_encoder(source, model_cfg.num_layers))
    if agent == "evidence":
        return EvidenceModel(model_cfg, load_encoder(source, model_cfg.num_layers))
    if agent == "share":
        return ShareModel(model_cfg, load_encoder(source, model_cfg.num_layers))
    if agent == "joint":
        return JointModel(model_cfg, *(load_encoder(source, model_cfg.num_layers) for _ in range(2)))
    raise InputError(f"unknown agent {agent!r}; choose one of {', '.join(AGENTS)}")
