"""Typed configuration objects built from params.yaml sections.

Configuration flows one way: params.yaml -> stage script -> these dataclasses -> core. params.yaml holds every
default, once: the dataclasses have none. `build` requires every key (naming a missing one) and refuses unknown ones,
so a typo in params.yaml or in `--set` fails loudly instead of being ignored. Every choice field is a Literal: its
choices are written here once, checked when params load (`build`) and when a search space loads (hpo/space.py), and
read with typing.get_args wherever code lists them.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from psy_agents.errors import InputError

Agent = Literal["criteria", "evidence", "share", "joint"]
AGENTS: tuple[str, ...] = typing.get_args(Agent)
Pooling = Literal["cls", "mean", "max", "attention"]
Activation = Literal["gelu", "relu", "silu"]
Fusion = Literal["add", "gate"]  # joint: how the criteria vector enters each evidence token (models/agents.py)
CriterionInput = Literal["heads", "pair"]
SpanUnit = Literal["sentence", "token"]
CriterionInit = Literal["descriptions", "random"]
Optimizer = Literal["adamw", "adam", "adafactor", "lion", "sgd"]
Scheduler = Literal["linear", "cosine", "cosine_with_restarts", "polynomial", "constant_with_warmup"]
Loss = Literal["ce", "focal"]
ClassWeights = Literal["none", "balanced", "effective_num"]
Precision = Literal["auto", "fp32", "bf16"]
Pruner = Literal["hyperband", "none"]
Direction = Literal["maximize", "minimize"]


@dataclass(frozen=True)
class MatchConfig:
    fuzzy_threshold: float  # rapidfuzz ratio (0-100) against the best post window a fuzzy match must reach


@dataclass(frozen=True)
class DataConfig:
    source: Literal["demo", "redsm5"]  # the release files are read from data/<source>/
    label_map: dict[str, str]
    drop_labels: tuple[str, ...]
    unknown_labels: Literal["fail", "drop"]
    unknown_posts: Literal["drop", "fail"]  # annotation rows whose post_id is not in the posts file
    match: MatchConfig

    @property
    def input_dir(self) -> Path:
        return Path("data") / self.source


@dataclass(frozen=True)
class SplitConfig:
    seed: int
    test_size: float
    val_size: float
    folds: int
    # Per data.source: `post` (every post its own group) or a regex whose first capture group names a post's group
    # (its writer); a post id it does not match is its own group. No group spans two splits or two folds' val parts.
    group_by: dict[str, str]


@dataclass(frozen=True)
class ModelConfig:
    backbone: str  # HF id, local path, or the offline alias all-MiniLM-L6-v2
    num_layers: int | None  # keep the backbone's bottom N pretrained transformer layers; None = all
    max_length: int
    doc_stride: int  # tokens of overlap between consecutive windows of a long post
    pooling: Pooling
    head_layers: int  # 1 = linear head; n > 1 adds n-1 hidden layers
    head_hidden: int
    head_activation: Activation
    head_dropout: float
    fusion: Fusion
    # heads: each text encoded once, all nine criteria answered from it; pair: (criterion description, text) encoded
    # once per criterion (a cross-encoder: nine encoder passes per text)
    criterion_input: CriterionInput
    # span agents' answers: sentence, one of the post's sentences (the unit ReDSM5 is annotated in); token, any
    # start/end token pair (SQuAD-style extraction)
    span_unit: SpanUnit
    # heads: the per-criterion attention queries and sentence scorers start from the criterion descriptions, or random
    criterion_init: CriterionInit


@dataclass(frozen=True)
class TrainConfig:
    seed: int
    epochs: int
    batch_size: int
    eval_batch_size: int
    optimizer: Optimizer
    lr: float
    head_lr_mult: float  # heads learn faster than the pretrained encoder
    weight_decay: float
    scheduler: Scheduler
    warmup_ratio: float
    restarts: int  # cosine_with_restarts only: number of hard restarts (1 would equal plain cosine)
    grad_accum: int
    max_grad_norm: float  # 0 disables clipping
    loss: Loss
    label_smoothing: float
    focal_gamma: float
    focal_alpha: float | None  # weight of the positive class in focal loss; None = unweighted
    class_weights: ClassWeights
    effective_num_beta: float
    freeze_layers: int  # bottom N encoder layers (and embeddings when N > 0) get no gradient
    layer_decay: float  # layer-wise lr decay: layer l gets lr * decay^(L - l); 1.0 = off
    span_loss_weight: float  # share/joint: loss = w * span + (1 - w) * cls; the span task is the slower learner
    # At most this many negatives (label-0 pairs, no-answer windows) per positive, redrawn each epoch; <= 0: all.
    neg_ratio: float
    n_best: int
    max_answer_tokens: int | None  # None: the longest gold span of the training examples, in tokens
    patience: int  # early stopping on the validation primary metric; 0 = off
    min_delta: float
    precision: Precision  # auto: bf16 autocast where the CPU/GPU has it natively
    threads: int  # torch intra-op threads; 0 = leave torch's default
    # Decision threshold on P(label=1); None = fitted after each epoch on the validation records (the best primary),
    # with the span agents' answer-vs-null thresholds and, where needed, the calibration (training.tasks).
    threshold: float | None


@dataclass(frozen=True)
class AugmentConfig:
    enabled: bool
    p_apply: float  # probability that a training example is augmented in an epoch
    ops_per_sample: int
    max_replace: float  # fraction of words one operation may change
    methods: dict[str, float]  # method name -> sampling weight; antonym's 0 keeps it off (it can flip a meaning)
    reserved_words: tuple[str, ...]  # never changed: negations, <URL>
    # method name -> keyword arguments for its nlpaug augmenter, overriding the registry defaults
    method_params: dict[str, dict[str, Any]]
    tfidf_dir: str
    wordnet_dir: str


@dataclass(frozen=True)
class RunConfig:
    """Everything one training run needs: what `psy-agents train`, every HPO trial, CV fold and refit build
    (run_config)."""

    agent: Agent
    model: ModelConfig
    train: TrainConfig
    augment: AugmentConfig | None  # None: the run's params have no augment section (stage A never augments)

    @property
    def augments(self) -> bool:
        return self.augment is not None and self.augment.enabled and self.augment.p_apply > 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def coerce(tp: Any, value: Any, where: str) -> Any:
    """Convert a YAML value to the annotated field type, with a one-line error naming `where` when it cannot be."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where)
    if origin is Literal:
        choices = typing.get_args(tp)
        if isinstance(value, str) and value in choices:
            return value
        raise InputError(f"{where}: {value!r} is not a choice; use one of {' | '.join(choices)}")
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return coerce(args[0], value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{where}: expected a list, got {value!r}")
        item = typing.get_args(tp)[0]
        return tuple(coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise InputError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if value is None:  # only the `X | None` fields above take null
        raise InputError(f"{where}: expected {getattr(tp, '__name__', tp)}, got null")
    try:
        if tp is bool:
            if isinstance(value, bool):
                return value
            raise ValueError
        if tp is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        if tp is str and isinstance(value, bool):  # a YAML 1.1 `no` / `off` read as a boolean
            raise InputError(f"{where}: expected a string, got {value!r}; quote it, e.g. \"no\"")
        return tp(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {value!r}") from None


def build(cls: type, values: dict[str, Any] | None, where: str = "params") -> Any:
    """Build dataclass `cls` from a params mapping that holds every field: no unknown key, none missing, each
    converted to its type."""
    if values is None:
        raise InputError(f"{where}: missing; params.yaml holds every setting, add the section there")
    if not isinstance(values, dict):
        raise InputError(f"{where}: expected a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    if unknown := sorted(set(values) - set(names)):
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    if missing := [name for name in names if name not in values]:
        raise InputError(f"{where}: missing key(s) {', '.join(missing)}; params.yaml holds every setting, add it "
                         "there")
    return cls(**{k: coerce(hints[k], v, f"{where}.{k}") for k, v in values.items()})


def load_yaml(text: str) -> Any:
    """YAML 1.2, as DVC reads and writes params.yaml.

    `dvc exp run -S` rewrites params.yaml with YAML 1.2 rules, which leave the word no unquoted; a YAML 1.1 reader
    (PyYAML) would turn it into False and, e.g., drop the negation from augment.reserved_words.
    """
    return YAML(typ="safe", pure=True).load(text)


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    path = Path(path)
    try:
        params = load_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: not found; run from the project root (where params.yaml lives)") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: byte {exc.start} is not UTF-8; save the file as UTF-8") from None
    except YAMLError as exc:
        raise InputError(f"{path}: invalid YAML ({str(exc).splitlines()[0]}); fix the file") from None
    if not isinstance(params, dict):
        raise InputError(f"{path}: expected a mapping at the top level")
    return params


def parse_override(text: str) -> tuple[str, Any]:
    """`train.lr=1e-4` -> ("train.lr", 1e-4); the value is parsed as YAML, as `dvc exp run -S` does."""
    if "=" not in text:
        raise InputError(f"--set {text!r}: expected key=value, e.g. train.lr=1e-4")
    key, raw = text.split("=", 1)
    try:
        return key.strip(), load_yaml(raw)
    except YAMLError:
        raise InputError(f"--set {text!r}: the value is not valid YAML; quote it, e.g. {key.strip()}='...'") from None


def apply_overrides(tree: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a nested mapping with dotted keys set (`model.pooling` -> tree['model']['pooling'])."""
    out = copy.deepcopy(tree)
    for dotted, value in overrides.items():
        node = out
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise InputError(f"override {dotted}: {part} is not a section")
        node[leaf] = value
    return out


RUN_SECTIONS = ("model", "train", "augment")
DEFAULT_SECTIONS = {"model": ModelConfig, "train": TrainConfig}  # what params.yaml agent_defaults may set


def agent_defaults(params: dict[str, Any], agent: str) -> dict[str, Any]:
    """params' `agent_defaults.<agent>` as flat dotted values, e.g. {"train.batch_size": 16}: what run_config sets
    over model and train for that agent before any override, and keys its search space takes out of search.common
    (hpo/space.py). Params without the section (a saved model's run_config.json) have none."""
    section = params.get("agent_defaults")
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise InputError(f"params.yaml agent_defaults: expected a mapping of agents, got {section!r}")
    if unknown := sorted(set(section) - set(AGENTS)):
        raise InputError(f"params.yaml agent_defaults: unknown agent(s) {', '.join(unknown)}; "
                         f"known: {', '.join(AGENTS)}")
    entry = section.get(agent) or {}
    if not isinstance(entry, dict):
        raise InputError(f"params.yaml agent_defaults.{agent}: expected model: {{...}} and/or train: {{...}}, "
                         f"got {entry!r}")
    flat: dict[str, Any] = {}
    for name, values in entry.items():
        where = f"params.yaml agent_defaults.{agent}.{name}"
        if name not in DEFAULT_SECTIONS or not isinstance(values, dict):
            raise InputError(f"{where}: expected model: {{...}} or train: {{...}} with the fields they set")
        fields = [f.name for f in dataclasses.fields(DEFAULT_SECTIONS[name])]
        if unknown := sorted(set(values) - set(fields)):
            raise InputError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}")
        flat.update({f"{name}.{key}": value for key, value in values.items()})
    return flat


def run_config(agent: str, params: dict[str, Any], overrides: dict[str, Any] | None = None) -> RunConfig:
    """The one way a run config is made: params' model, train and augment sections, the agent's agent_defaults set
    over them, then flat dotted overrides (`psy-agents train --set`, a trial's sampled values, a CV candidate,
    refit's winner and epochs).

    Any augment.* override switches augmentation on unless it sets augment.enabled itself: params.yaml leaves it off
    and stage B samples search.augment, so `--set augment.p_apply=0.3` augments exactly as a trial with that value
    does. Params without an augment section (stage A reads none) give a run that never augments.
    """
    overrides = dict(overrides or {})
    if any(key.startswith("augment.") for key in overrides):
        overrides.setdefault("augment.enabled", True)
    sections = apply_overrides({k: params[k] for k in RUN_SECTIONS if k in params},
                               {**agent_defaults(params, agent), **overrides})
    return RunConfig(
        agent=coerce(Agent, agent, "agent"),
        model=build(ModelConfig, sections.get("model"), "model"),
        train=build(TrainConfig, sections.get("train"), "train"),
        augment=None if sections.get("augment") is None else build(AugmentConfig, sections["augment"], "augment"),
    )


@dataclass(frozen=True)
class BaselineConfig:
    max_features: int  # TF-IDF vocabulary cap (most frequent terms of the train split)
    ngram_max: int  # word n-grams 1..ngram_max
    min_df: int
    C: float  # inverse L2 strength of the logistic regression


@dataclass(frozen=True)
class TfidfConfig:
    """scikit-learn TfidfVectorizer settings of the `tfidf` stage (fitted on the train split only).

    Unigrams only: nlpaug's model files hold one word per line and TfIdfAug swaps single words.
    """

    min_df: int  # a word must occur in this many train documents; drops one-off typos and names
    max_features: int | None  # keep the most frequent N terms; None = all
    lowercase: bool


@dataclass(frozen=True)
class SearchConfig:
    """What the search stages A and B share (hpo.a | hpo.b)."""

    # Finished (complete or pruned) trials the study must hold, all processes together: a rerun continues up to
    # this; with N workers besides the stage up to N more may finish (hpo/workers.py).
    n_trials: int
    timeout: float | None  # seconds; None = no limit
    seed: int  # sampler seed, and the seed of the train_fraction subset
    objectives: tuple[str, ...]  # metric names: primary | ece | any reported validation metric
    directions: tuple[Direction, ...]  # one per objective
    # Multi-fidelity: trials train on this seeded, stratified share of the train posts (validation stays whole);
    # stage C's cross-validation and refit train on every post.
    train_fraction: float

    @property
    def horizon(self) -> int | None:
        """The epochs every trial of the stage trains (train.epochs, early stopping off), or None: each trial's own
        train.epochs, searched or from params, with early stopping."""
        return None

    def check(self, where: str) -> None:
        if len(self.objectives) != len(self.directions):
            raise InputError(f"{where}: objectives and directions differ in length; give one direction each")
        if not 0 < self.train_fraction <= 1:
            raise InputError(f"{where}.train_fraction={self.train_fraction}: use a share of the train posts in (0, 1]")
        if self.horizon is not None and self.horizon < 1:
            raise InputError(f"{where}: trials train {self.horizon} epochs; use 1 or more")


@dataclass(frozen=True)
class StageAConfig(SearchConfig):
    """hpo.a: TPE + Hyperband over epochs, one objective, on a share of the train posts; the top-K seed stage B."""

    tpe_startup: int  # random trials before TPE models the space
    multivariate: bool  # TPE models parameters jointly (lr and batch size interact)
    group: bool  # with conditional parameters, model each co-occurring group separately
    constant_liar: bool  # parallel workers avoid proposing what a running trial already tries
    pruner: Pruner
    min_resource: int  # Hyperband resources are epochs (trials report once per epoch)
    max_resource: int  # the epochs of every trial (train.epochs, one LR-schedule horizon) unless pruned
    reduction_factor: int
    top_k: int  # configs exported to topk.json (and enqueued into stage B)

    @property
    def horizon(self) -> int:
        return self.max_resource

    def check(self, where: str) -> None:
        super().check(where)
        if self.pruner != "none" and len(self.objectives) > 1:
            raise InputError(f"{where}.pruner: Optuna cannot prune multi-objective trials; set pruner: none")
        if not 1 <= self.min_resource <= self.max_resource:
            raise InputError(f"{where}: min_resource={self.min_resource}, max_resource={self.max_resource}: both "
                             "are epochs; use 1 <= min_resource <= max_resource")


@dataclass(frozen=True)
class StageBConfig(SearchConfig):
    """hpo.b: NSGA-II over several objectives (no pruning: Optuna cannot prune multi-objective trials)."""

    population_size: int  # NSGA-II generation size
    # Every trial trains this many epochs with early stopping off, as stage A's do; None: each trial's train.epochs
    # (searched or from params) with early stopping. Stage C trains the winner's train.epochs either way.
    epochs: int | None

    @property
    def horizon(self) -> int | None:
        return self.epochs


@dataclass(frozen=True)
class StageCConfig:
    """hpo.c: K-fold cross-validation of the best Pareto configs."""

    candidates: int  # Pareto configs cross-validated, each on every fold of splits.json (split.folds)


@dataclass(frozen=True)
class HpoConfig:
    # "" = the project's local study store (.studies/optuna.db, no DVC out); a database URL (e.g.
    # postgresql://user@host/db) shares the study between machines. The password never goes in params: PGPASSWORD.
    storage: str
    heartbeat_interval: int  # seconds between a running trial's heartbeats
    grace_period: int  # a RUNNING trial silent this long belongs to a dead process and is failed
    max_retry: int  # times a trial failed that way is re-queued with the same parameters
    a: StageAConfig
    b: StageBConfig
    c: StageCConfig

    def __post_init__(self) -> None:
        self.a.check("params.yaml hpo.a")
        self.b.check("params.yaml hpo.b")


@dataclass(frozen=True)
class RefitConfig:
    epochs: int | None  # None: the mean best epoch of the CV winner's folds (hpo_c best.yaml)


@dataclass(frozen=True)
class BootstrapConfig:
    """The cluster bootstrap over test posts (evaluation/bootstrap.py) of the baseline's and refit's test primary."""

    draws: int  # resamples of the test posts; the percentile interval's ends need >= 1000
    seed: int  # one seed for every stage, so refit's paired difference redraws the baseline's resamples
    level: float  # the interval's coverage, e.g. 0.95

    def __post_init__(self) -> None:
        if self.draws < 1 or not 0 < self.level < 1:
            raise InputError(f"bootstrap: draws={self.draws}, level={self.level}: use draws >= 1 (1000 or more "
                             "for a 95% interval) and 0 < level < 1")
