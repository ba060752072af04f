"""Typed configuration objects built from params.yaml sections.

Configuration flows one way: params.yaml -> stage script -> these dataclasses -> core. Every field has the same
default as params.yaml so a config built in a test matches what the pipeline runs; unknown keys are rejected so a
typo in params.yaml or in `--set` fails loudly instead of being ignored.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from psy_agents.errors import InputError

AGENTS = ("criteria", "evidence", "share", "joint")


@dataclass(frozen=True)
class MatchConfig:
    fuzzy_threshold: float = 85.0  # rapidfuzz ratio (0-100) against the best post window a fuzzy match must reach


@dataclass(frozen=True)
class DataConfig:
    source: str = "demo"  # demo | redsm5: the release files are read from data/<source>/
    label_map: dict[str, str] = field(default_factory=lambda: {"LEEP_ISSUES": "SLEEP_ISSUES"})
    drop_labels: tuple[str, ...] = ("SPECIAL_CASE",)
    unknown_labels: str = "fail"  # fail | drop
    unknown_posts: str = "drop"  # drop | fail: annotation rows whose post_id is not in the posts file
    match: MatchConfig = field(default_factory=MatchConfig)

    @property
    def input_dir(self) -> Path:
        return Path("data") / self.source


@dataclass(frozen=True)
class SplitConfig:
    seed: int = 42
    test_size: float = 0.15
    val_size: float = 0.15
    folds: int = 2
    # Per data.source: `post` (every post its own group) or a regex whose first capture group names a post's group
    # (its writer); a post id it does not match is its own group. No group spans two splits or two folds' val parts.
    group_by: dict[str, str] = field(default_factory=lambda: {"demo": "post", "redsm5": r"^(s_\d+)_"})


@dataclass(frozen=True)
class ModelConfig:
    backbone: str = "all-MiniLM-L6-v2"  # HF id, local path, or the offline alias all-MiniLM-L6-v2
    num_layers: int | None = 2  # keep the backbone's bottom N pretrained transformer layers; None = all
    max_length: int = 256
    doc_stride: int = 64  # tokens of overlap between consecutive windows of a long post
    pooling: str = "cls"  # cls | mean | max | attention
    head_layers: int = 1  # 1 = linear head; n > 1 adds n-1 hidden layers
    head_hidden: int = 256
    head_activation: str = "gelu"  # gelu | relu | silu
    head_dropout: float = 0.1
    fusion: str = "add"  # joint only: add | gate, how the projected criteria vector enters each evidence token
    # heads: each text encoded once, all nine criteria answered from it; pair: (criterion description, text) encoded
    # once per criterion (a cross-encoder: nine encoder passes per text)
    criterion_input: str = "heads"


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 42
    epochs: int = 3
    batch_size: int = 16
    eval_batch_size: int = 64
    optimizer: str = "adamw"  # adamw | adam | adafactor | lion | sgd
    lr: float = 1e-4
    head_lr_mult: float = 10.0  # heads learn faster than the pretrained encoder
    weight_decay: float = 0.01
    scheduler: str = "linear"  # linear | cosine | cosine_with_restarts | polynomial | constant_with_warmup
    warmup_ratio: float = 0.1
    restarts: int = 2  # cosine_with_restarts only: number of hard restarts (1 would equal plain cosine)
    grad_accum: int = 1
    max_grad_norm: float = 1.0  # 0 disables clipping
    loss: str = "ce"  # ce | focal
    label_smoothing: float = 0.0
    focal_gamma: float = 2.0
    focal_alpha: float | None = None  # weight of the positive class in focal loss; None = unweighted
    class_weights: str = "none"  # none | balanced | effective_num
    effective_num_beta: float = 0.999
    freeze_layers: int = 0  # bottom N encoder layers (and embeddings when N > 0) get no gradient
    layer_decay: float = 1.0  # layer-wise lr decay: layer l gets lr * decay^(L - l); 1.0 = off
    span_loss_weight: float = 0.8  # share/joint: loss = w * span + (1 - w) * cls; the span task is the slower learner
    # At most this many negatives (label-0 pairs, no-answer windows) per positive, redrawn each epoch; <= 0: all.
    neg_ratio: float = 2.0
    n_best: int = 20
    max_answer_tokens: int | None = None  # None: the longest gold span of the training examples, in tokens
    patience: int = 2  # early stopping on the validation primary metric; 0 = off
    min_delta: float = 0.0
    precision: str = "auto"  # auto | fp32 | bf16
    threads: int = 0  # torch intra-op threads; 0 = leave torch's default
    # Decision threshold on P(label=1); None = fitted after each epoch on the validation records (the best primary),
    # with the span agents' answer-vs-null threshold and, where needed, the calibration (training.tasks).
    threshold: float | None = None


@dataclass(frozen=True)
class AugmentConfig:
    enabled: bool = False
    p_apply: float = 0.0  # probability that a training example is augmented in an epoch
    ops_per_sample: int = 1
    max_replace: float = 0.1  # fraction of words one operation may change
    methods: dict[str, float] = field(  # method name -> sampling weight
        default_factory=lambda: {
            "keyboard": 1.0, "ocr": 0.5, "random_char": 0.5, "random_swap": 1.0, "random_delete": 0.5, "split": 0.25,
            "spelling": 1.0, "tfidf_substitute": 1.0, "tfidf_insert": 0.5, "synonym": 1.0, "antonym": 0.0,
        }
    )
    antonym_guard: bool = True  # never use antonym replacement unless explicitly weighted in methods
    reserved_words: tuple[str, ...] = ("not", "no", "never", "nor", "URL")  # never changed: negations, <URL>
    # method name -> keyword arguments for its nlpaug augmenter, overriding the registry defaults
    method_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    tfidf_dir: str = "data/tfidf"
    wordnet_dir: str = "/usr/share/wordnet"


@dataclass(frozen=True)
class RunConfig:
    """Everything one training run needs: what `psy-agents train` and every HPO trial build."""

    agent: str
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        if self.agent not in AGENTS:
            raise InputError(f"unknown agent {self.agent!r}; choose one of {', '.join(AGENTS)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """Convert a YAML value to the annotated field type, with a clear error when it cannot be."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return build(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{where}: expected a list, got {value!r}")
        item = typing.get_args(tp)[0]
        return tuple(_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise InputError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
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
    """Build dataclass `cls` from a mapping, rejecting unknown keys and converting types."""
    values = values or {}
    if not isinstance(values, dict):
        raise InputError(f"{where}: expected a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    return cls(**{k: _coerce(hints[k], v, f"{where}.{k}") for k, v in values.items()})


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
    import copy

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


def run_config(agent: str, sections: dict[str, Any]) -> RunConfig:
    """Build a RunConfig from params-like sections `model`, `train`, `augment` (missing ones use defaults)."""
    return RunConfig(
        agent=agent,
        model=build(ModelConfig, sections.get("model"), "model"),
        train=build(TrainConfig, sections.get("train"), "train"),
        augment=build(AugmentConfig, sections.get("augment"), "augment"),
    )


@dataclass(frozen=True)
class BaselineConfig:
    max_features: int = 20000  # TF-IDF vocabulary cap (most frequent terms of the train split)
    ngram_max: int = 2  # word n-grams 1..ngram_max
    min_df: int = 1
    C: float = 1.0  # inverse L2 strength of the logistic regression


@dataclass(frozen=True)
class TfidfConfig:
    """scikit-learn TfidfVectorizer settings of the `tfidf` stage (fitted on the train split only).

    Unigrams only: nlpaug's model files hold one word per line and TfIdfAug swaps single words.
    """

    min_df: int = 2  # a word must occur in this many train documents; drops one-off typos and names
    max_features: int | None = None  # keep the most frequent N terms; None = all
    lowercase: bool = True


@dataclass(frozen=True)
class SearchConfig:
    """What the search stages A and B share (hpo.a | hpo.b)."""

    # Finished (complete or pruned) trials the study must hold, all processes together: a rerun continues up to
    # this; with N workers besides the stage up to N more may finish (hpo/workers.py).
    n_trials: int = 3
    timeout: float | None = None  # seconds; None = no limit
    seed: int = 42  # sampler seed, and the seed of the train_fraction subset
    objectives: tuple[str, ...] = ("primary",)  # metric names: primary | ece | any reported validation metric
    directions: tuple[str, ...] = ("maximize",)  # one per objective: maximize | minimize
    # Multi-fidelity: trials train on this seeded, stratified share of the train posts (validation stays whole);
    # stage C's cross-validation and refit train on every post.
    train_fraction: float = 1.0

    def check(self, where: str) -> None:
        if len(self.objectives) != len(self.directions):
            raise InputError(f"{where}: objectives and directions differ in length; give one direction each")
        if bad := sorted(set(self.directions) - {"maximize", "minimize"}):
            raise InputError(f"{where}.directions: {', '.join(bad)} unknown; use maximize | minimize")
        if not 0 < self.train_fraction <= 1:
            raise InputError(f"{where}.train_fraction={self.train_fraction}: use a share of the train posts in (0, 1]")


@dataclass(frozen=True)
class StageAConfig(SearchConfig):
    """hpo.a: TPE + Hyperband over epochs, one objective, on half the train posts; the top-K seed stage B."""

    train_fraction: float = 0.3
    tpe_startup: int = 2  # random trials before TPE models the space
    multivariate: bool = True  # TPE models parameters jointly (lr and batch size interact)
    group: bool = True  # with conditional parameters, model each co-occurring group separately
    constant_liar: bool = True  # parallel workers avoid proposing what a running trial already tries
    pruner: str = "hyperband"  # hyperband | none
    min_resource: int = 1  # Hyperband resources are epochs (trials report once per epoch)
    max_resource: int = 3  # the epochs of every trial (train.epochs, one LR-schedule horizon) unless pruned
    reduction_factor: int = 3
    top_k: int = 2  # configs exported to topk.json (and enqueued into stage B)

    def check(self, where: str) -> None:
        super().check(where)
        if self.pruner not in ("hyperband", "none"):
            raise InputError(f"{where}.pruner: {self.pruner!r} unknown; use hyperband | none")
        if self.pruner != "none" and len(self.objectives) > 1:
            raise InputError(f"{where}.pruner: Optuna cannot prune multi-objective trials; set pruner: none")
        if not 1 <= self.min_resource <= self.max_resource:
            raise InputError(f"{where}: min_resource={self.min_resource}, max_resource={self.max_resource}: both "
                             "are epochs; use 1 <= min_resource <= max_resource")


@dataclass(frozen=True)
class StageBConfig(SearchConfig):
    """hpo.b: NSGA-II over several objectives (no pruning: Optuna cannot prune multi-objective trials)."""

    objectives: tuple[str, ...] = ("primary", "ece")
    directions: tuple[str, ...] = ("maximize", "minimize")
    population_size: int = 3
    train_fraction: float = 0.3  # NSGA-II generation size


@dataclass(frozen=True)
class StageCConfig:
    """hpo.c: K-fold cross-validation of the best Pareto configs."""

    candidates: int = 2  # Pareto configs cross-validated
    folds: int | None = None  # None = split.folds


@dataclass(frozen=True)
class HpoConfig:
    # "" = the project's local study store (.studies/optuna.db, no DVC out); a database URL (e.g.
    # postgresql://user@host/db) shares the study between machines. The password never goes in params: PGPASSWORD.
    storage: str = ""
    heartbeat_interval: int = 20  # seconds between a running trial's heartbeats
    grace_period: int = 60  # a RUNNING trial silent this long belongs to a dead process and is failed
    max_retry: int = 1  # times a trial failed that way is re-queued with the same parameters
    a: StageAConfig = field(default_factory=StageAConfig)
    b: StageBConfig = field(default_factory=StageBConfig)
    c: StageCConfig = field(default_factory=StageCConfig)

    def __post_init__(self) -> None:
        self.a.check("params.yaml hpo.a")
        self.b.check("params.yaml hpo.b")


@dataclass(frozen=True)
class RefitConfig:
    epochs: int | None = None  # None: the mean best epoch of the CV winner's folds (hpo_c best.yaml)
