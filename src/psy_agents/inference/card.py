"""A model directory's README.md, in the layout model hubs read (YAML metadata, then Markdown): what the model is, what
it was trained and scored on, its thresholds, what it is for and what it must not be used for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from psy_agents.config import RunConfig

TASKS = {  # {evidence}: what a span agent answers with (model.span_unit)
    "criteria": ("text-classification", "Answers, for each sentence of a post, which of the nine DSM-5 "
                 "major-depression criteria (A.1-A.9) it is evidence of."),
    "evidence": ("question-answering", "Finds, for each of the nine DSM-5 major-depression criteria, {evidence} of a "
                 "post that show it, or answers that there is none."),
    "share": ("text-classification", "Answers which of the nine DSM-5 major-depression criteria a post shows and "
              "where ({evidence}): one encoder, a classification head and a span head."),
    "joint": ("text-classification", "Answers which of the nine DSM-5 major-depression criteria a post shows and "
              "where ({evidence}): a criteria encoder fused into an evidence encoder."),
}
EVIDENCE = {"sentence": "the sentences", "token": "the span"}
PRIMARY = {
    "criteria": "the mean over the nine criteria of the positive-class F1 of the (sentence, criterion) decisions, over "
                "every sentence of each test post",
    "evidence": "evidence F1: the words of predicted evidence against the annotated evidence, pooled over (post, "
                "criterion) pairs",
    "share": "the mean of the post-level macro F1 over the nine criteria and the evidence F1",
    "joint": "the mean of the post-level macro F1 over the nine criteria and the evidence F1",
}
SPAN_ONLY = ("null", "further")  # the answer-vs-null thresholds: criteria answers no spans
DATA = {
    "demo": "the bundled demo corpus (data/demo): synthetic Reddit-style posts written from phrase banks, not real "
            "people's words. Scores on it say the pipeline works, not how a model does on real posts.",
    "redsm5": "ReDSM5 (Reddit posts annotated sentence by sentence for the nine DSM-5 major-depression criteria by "
              "licensed psychologists), under its data use agreement.",
}


def _value(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def model_card(run: RunConfig, data_source: str, posts: Mapping[str, int], selection: Mapping[str, Any],
               test: Mapping[str, float], thresholds: Mapping[str, Any]) -> str:
    """`posts`: posts per split; `selection`: stage C's winner (trial, cv_mean, cv_std, params) and the refit's
    epochs; `test`: primary, low, high, vs_tfidf, vs_low, vs_high, ece, level."""
    agent = run.agent
    task, what = TASKS[agent]
    what = what.format(evidence=EVIDENCE[run.model.span_unit])
    meta = {"library_name": "psy-agents", "pipeline_tag": task, "language": ["en"], "base_model": run.model.backbone,
            "tags": ["depression", "dsm-5", "mental-health", data_source, agent],
            "model-index": [{"name": f"psy-agents-{agent}", "results": [{
                "task": {"type": task}, "dataset": {"name": data_source, "type": data_source, "split": "test"},
                "metrics": [{"type": "primary", "value": test["primary"], "name": f"test primary ({agent})"}]}]}]}
    level = round(100 * test["level"])
    layers = "all" if run.model.num_layers is None else f"the bottom {run.model.num_layers}"
    shown = {k: v for k, v in thresholds.items() if agent != "criteria" or k not in SPAN_ONLY}
    rows = "\n".join(f"| `{k}` | {_value(v)} |" for k, v in sorted(shown.items()))
    inputs = (f"sentences cut at {run.model.max_length} tokens" if agent == "criteria" else
              f"posts read in windows of {run.model.max_length} tokens (stride {run.model.doc_stride})")
    params = "\n".join(f"| `{k}` | {_value(v)} |" for k, v in sorted(selection["params"].items()))
    return f"""---
{yaml.safe_dump(meta, sort_keys=False).strip()}
---

# psy-agents `{agent}` model

{what}

- **Backbone:** `{run.model.backbone}`, {layers} of its layers, `{run.model.criterion_input}` input, {inputs},
  precision `{run.train.precision}`.
- **Data:** {DATA.get(data_source, data_source)}
- **Split:** by post group (`split.group_by`; no group in two splits): {posts.get("train", 0)} train, {posts.get("val", 0)} validation and
  {posts.get("test", 0)} test posts. This model trained on train + validation for {selection["epochs"]} epochs with the
  configuration stage C chose (trial {selection["trial"]}, cross-validated primary {selection["cv_mean"]:.4f} ±
  {selection["cv_std"]:.4f}); the test posts were scored once.

## Test results

`primary`: {PRIMARY[agent]}. Intervals: {level}% cluster bootstrap over test posts.

| metric | value | {level}% interval |
|---|---|---|
| primary | {test["primary"]:.4f} | [{test["low"]:.4f}, {test["high"]:.4f}] |
| primary minus TF-IDF's (same posts) | {test["vs_tfidf"]:+.4f} | [{test["vs_low"]:+.4f}, {test["vs_high"]:+.4f}] |
| ECE | {test["ece"]:.4f} | |

## Thresholds (`thresholds.json`)

Fitted on predictions the model did not train on (stage C's out-of-fold predictions); edit the file to move one.

| name | value |
|---|---|
{rows}

## The configuration stage C chose (`run_config.json` holds all of it)

| param | value |
|---|---|
{params}

## Use

```bash
psy-agents predict --model models/{agent} --input posts.csv --out predictions.jsonl --html report.html
```

or in Python: `from psy_agents.inference import load_model, predict_posts`.

**Intended use:** research on detecting DSM-5 depression criteria in social-media text: comparing models and
configurations, error analysis, and surfacing sentences for a human to read.

**Limits, and what it must not be used for:** it is not a diagnostic or screening tool. A post that shows criteria is
not a diagnosis, and one that shows none is not evidence of wellbeing; never use it to make or support decisions about
a person (care, risk, employment, insurance, moderation of an individual) or to monitor people. It reads English
Reddit-style text only, sees one post at a time without context or history, misses irony and quoted or hypothetical
speech, and its errors are not spread evenly across writers. Scores hold for the data and split above; a new
population needs its own evaluation.
"""
