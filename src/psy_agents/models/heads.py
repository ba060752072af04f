"""Task heads on top of encoder token states: pooling, the classification MLP, and the span heads (token start/end,
or candidate sentences).

Every masked operation fills with the minimum of the tensor's own dtype, so the same code is safe in fp32 and
under bf16 autocast (a hard-coded -1e9 overflows bf16/fp16 to -inf and can turn a softmax into NaN).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from psy_agents.config import Activation, Pooling
from psy_agents.errors import InputError

ACTIVATIONS: dict[Activation, type[nn.Module]] = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU}


def mask_padding(values: Tensor, attention_mask: Tensor) -> Tensor:
    """Set positions where attention_mask == 0 to the dtype's minimum; works for [B, L] and [B, L, H] values (and
    [B, n, L] with a [B, 1, L] mask)."""
    pad = attention_mask == 0
    if values.dim() == 3 and pad.dim() == 2:
        pad = pad.unsqueeze(-1)
    return values.masked_fill(pad, torch.finfo(values.dtype).min)


class Pooler(nn.Module):
    """Token states [B, L, H] -> one vector [B, H]; padding never contributes."""

    def __init__(self, kind: Pooling, hidden: int) -> None:
        super().__init__()
        self.kind = kind
        # A learned scorer: attention pooling weighs tokens by how relevant they look for the task.
        self.score = nn.Linear(hidden, 1) if kind == "attention" else None

    def forward(self, hidden_states: Tensor, attention_mask: Tensor) -> Tensor:
        if self.kind == "cls":
            return hidden_states[:, 0]
        if self.kind == "max":
            return mask_padding(hidden_states, attention_mask).max(dim=1).values
        if self.kind == "mean":
            weights = attention_mask.to(hidden_states.dtype).unsqueeze(-1)
            return (hidden_states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        scores = mask_padding(self.score(hidden_states).squeeze(-1), attention_mask)
        # Softmax in fp32: bf16's coarse mantissa makes attention weights over long windows visibly lossy.
        weights = torch.softmax(scores.float(), dim=-1).to(hidden_states.dtype)
        return torch.einsum("bl,blh->bh", weights, hidden_states)


class CriterionPooler(nn.Module):
    """Token states [B, L, H], or states conditioned per criterion [B, n, L, H], -> one vector per criterion
    [B, n, H]: attention pooling with a learned query per criterion, so each criterion reads the tokens that matter
    for it (share and joint, heads formulation)."""

    def __init__(self, n: int, hidden: int) -> None:
        super().__init__()
        self.queries = nn.Linear(hidden, n, bias=False)

    @torch.no_grad()
    def start_from(self, queries: Tensor) -> None:
        """Start each criterion's query [n, H] as the unit vector of an embedding of that criterion."""
        self.queries.weight.copy_(queries / queries.norm(dim=-1, keepdim=True))

    def forward(self, hidden_states: Tensor, attention_mask: Tensor) -> Tensor:
        if hidden_states.dim() == 4:  # [B, n, L, H] conditioned per criterion: query c reads the states of c
            scores = mask_padding(torch.einsum("bnlh,nh->bnl", hidden_states, self.queries.weight),
                                  attention_mask.unsqueeze(1))
            weights = torch.softmax(scores.float(), dim=-1).to(hidden_states.dtype)
            return torch.einsum("bnl,bnlh->bnh", weights, hidden_states)
        scores = mask_padding(self.queries(hidden_states), attention_mask)  # [B, L, n]
        weights = torch.softmax(scores.float(), dim=1).to(hidden_states.dtype)
        return torch.einsum("bln,blh->bnh", weights, hidden_states)


class MLPHead(nn.Sequential):
    """layers=1: dropout + linear; layers=n>1: n-1 hidden blocks (Linear, activation, dropout) + output Linear."""

    def __init__(self, in_dim: int, out_dim: int, layers: int, hidden: int, activation: Activation,
                 dropout: float) -> None:
        if layers < 1:
            raise InputError(f"head_layers must be >= 1, got {layers}")
        if layers == 1:
            super().__init__(nn.Dropout(dropout), nn.Linear(in_dim, out_dim))
            return
        blocks: list[nn.Module] = []
        for i in range(layers - 1):
            blocks += [nn.Linear(in_dim if i == 0 else hidden, hidden), ACTIVATIONS[activation](), nn.Dropout(dropout)]
        super().__init__(*blocks, nn.Linear(hidden, out_dim))


class SpanHead(nn.Module):
    """Token states -> start and end logits; padding masked to the dtype minimum (never a valid answer).

    `n` = None: [B, L] each (one question per window, the pair formulation); n criteria: [B, n, L] each (the heads
    formulation), or token states already conditioned per criterion [B, n, L, H] (joint) read by one shared head.
    span_loss relies on the masking value to spread label smoothing over real tokens only.
    """

    def __init__(self, hidden: int, n: int | None = None) -> None:
        super().__init__()
        self.n = n
        self.qa = nn.Linear(hidden, 2 * (n or 1))

    def forward(self, hidden_states: Tensor, attention_mask: Tensor) -> tuple[Tensor, Tensor]:
        logits = self.qa(hidden_states)
        if self.n is None or hidden_states.dim() == 4:  # [B, L, 2] or [B, n, L, 2]
            start, end = logits.unbind(dim=-1)
        else:  # [B, L, 2n] -> [B, n, L] each
            start, end = logits.unflatten(-1, (self.n, 2)).permute(3, 0, 2, 1)
        if start.dim() == 3:
            attention_mask = attention_mask.unsqueeze(1)
        return mask_padding(start, attention_mask), mask_padding(end, attention_mask)


class SentenceHead(nn.Module):
    """Candidate sentences -> one score each, with the no-answer score (read from the CLS token) at index 0.

    A sentence is the mean of its token states (the pooling all-MiniLM-L6-v2 was trained with), so one linear layer
    scores every sentence as evidence. `sentence_index` [B, L] maps each token to its 1-based candidate (0: none).
    `n` = None: [B, 1 + S] (pair); n criteria: [B, n, 1 + S] (heads), also from token states already conditioned
    per criterion [B, n, L, H] (joint), where criterion c's scorer reads the states conditioned on c. Candidates a window lacks (batch padding) get the dtype
    minimum, as SpanHead's padding does.
    """

    # the scale of the description start: 5, 10 and 20 gave val evidence F1 0.744, 0.754, 0.750 after 2 epochs
    DESCRIPTION_SCALE = 10.0

    def __init__(self, hidden: int, n: int | None = None) -> None:
        super().__init__()
        self.n = n
        self.score = nn.Linear(hidden, n or 1)
        self.null = nn.Linear(hidden, n or 1)

    @torch.no_grad()
    def start_from(self, queries: Tensor) -> None:
        """Start the n criterion scorers from one embedding per criterion [n, H]: each scores a sentence by how
        much more it points toward its own criterion than toward the average criterion."""
        unit = queries / queries.norm(dim=-1, keepdim=True)
        self.score.weight.copy_(self.DESCRIPTION_SCALE * (unit - unit.mean(dim=0, keepdim=True)))
        self.score.bias.zero_()

    def forward(self, hidden_states: Tensor, sentence_index: Tensor) -> Tensor:
        members = nn.functional.one_hot(sentence_index, int(sentence_index.max()) + 1)[..., 1:]  # [B, L, S]
        sizes = members.sum(dim=1)  # [B, S]
        weights = (members.transpose(1, 2) / sizes.clamp(min=1).unsqueeze(-1)).to(hidden_states.dtype)  # [B, S, L]
        if hidden_states.dim() == 4:  # [B, n, L, H]
            weights = weights.unsqueeze(1)
        pooled = weights @ hidden_states  # the mean token state of each sentence
        logits = torch.cat([self.null(hidden_states[..., 0, :]).unsqueeze(-2), self.score(pooled)], dim=-2)
        if self.n is None:  # [B, (n,) 1 + S, 1]
            logits = logits.squeeze(-1)
        elif hidden_states.dim() == 4:  # [B, n, 1 + S, n]: criterion c's scorer reads the states conditioned on c
            logits = torch.diagonal(logits, dim1=1, dim2=3).transpose(1, 2)
        else:  # [B, 1 + S, n] -> [B, n, 1 + S]
            logits = logits.transpose(1, 2)
        present = torch.cat([torch.ones_like(sizes[:, :1]), sizes], dim=1) > 0  # [B, 1 + S]
        if logits.dim() == 3:
            present = present.unsqueeze(1)
        return logits.masked_fill(~present, torch.finfo(logits.dtype).min)
