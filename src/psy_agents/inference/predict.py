"""Answer new posts with a loaded model.

New posts become the examples the agent trained on, with placeholder labels (0, no answers): the criteria agent's
(sentence, criterion) pairs over the post's sentences as pysbd splits them, the span agents' (post, criterion) pairs.
They go through the training code's task (features, batched inference on the model's device with the run's
precision, records) and `evaluation.scoring.score`, so a probability, a decision and an evidence span mean exactly
what they mean in the test evaluation, under the thresholds saved with the model.
"""

from __future__ import annotations

from functools import partial

import torch
from tqdm.auto import tqdm

from psy_agents.data.sentences import sentence_spans
from psy_agents.data.criteria_text import SYMPTOMS, criterion_id, description
from psy_agents.evaluation.scoring import score
from psy_agents.inference.model_dir import TrainedModel
from psy_agents.inference.posts import Post
from psy_agents.training.loop import autocast_dtype
from psy_agents.training.tasks import make_task, predict

CHUNK_POSTS = 64  # posts tokenised and predicted together: the progress bar's step, and what bounds memory


def predict_examples(trained: TrainedModel, examples: list[dict]) -> list[dict]:
    """The prediction records of examples in the training data's shape (data/processed), each with `prob`, and for
    the span agents `answer` (the answered spans as [start, end, text], none for no answer), as the test evaluation
    has them."""
    run, model, tokenizer = trained.run, trained.model, trained.tokenizer
    device = next(model.parameters()).device
    dtype = autocast_dtype(run.train.precision, device)
    predict_fn = partial(predict, batch_size=run.train.eval_batch_size, pad_id=tokenizer.pad_token_id or 0,
                         device=device, autocast=partial(torch.autocast, device.type, dtype=dtype,
                                                         enabled=dtype is not None))
    task = make_task(run, tokenizer)
    records = task.records(model, task.features(examples, cache=False), examples, predict_fn, trained.readout)
    # The metrics score() also returns are of placeholder labels when the posts are new: only its predictions count.
    return score(run.agent, records, trained.thresholds)[1]


def predict_posts(trained: TrainedModel, posts: list[Post], progress: bool = False) -> list[dict]:
    """One answer per post, in input order: {"id", "symptoms": {SYMPTOM: {"criterion", "prob", "decision"}}}, plus
    per symptom the evidence spans of a span agent, or the criteria agent's sentences with their decisions."""
    rows: list[dict] = []
    answer = _criteria_answers if trained.run.agent == "criteria" else _span_answers
    with tqdm(total=len(posts), unit="post", desc=f"predict {trained.run.agent}", disable=not progress) as bar:
        for first in range(0, len(posts), CHUNK_POSTS):
            chunk = posts[first:first + CHUNK_POSTS]
            rows += answer(trained, chunk)
            bar.update(len(chunk))
    return rows


def _decided(prob: float, threshold: float) -> dict:
    return {"prob": prob, "decision": bool(prob >= threshold)}


def _criterion(symptom: str) -> dict:
    return {"symptom": symptom, "criterion": criterion_id(symptom), "criterion_text": description(symptom)}


def _criteria_answers(trained: TrainedModel, posts: list[Post]) -> list[dict]:
    """A decision per (sentence, criterion); a post shows a symptom if one of its sentences does (its probability:
    the highest sentence probability), as the post-level metrics count it."""
    threshold = trained.thresholds.decision
    spans = [sentence_spans(post.text) for post in posts]
    examples = [  # post ids are positions, so repeated input ids stay apart
        {"post_id": str(i), "sentence_id": f"{i}_{j}", "sentence": post.text[start:end], "label": 0, **_criterion(s)}
        for i, post in enumerate(posts) for j, (start, end) in enumerate(spans[i]) for s in SYMPTOMS
    ]
    probs = iter(p["prob"] for p in predict_examples(trained, examples))  # in example order
    rows = []
    for post, post_spans in zip(posts, spans, strict=True):
        sentences = [{"start": start, "end": end, "text": post.text[start:end],
                      "symptoms": {s: _decided(next(probs), threshold) for s in SYMPTOMS}}
                     for start, end in post_spans]
        symptoms = {s: {"criterion": criterion_id(s),
                        **_decided(max(sentence["symptoms"][s]["prob"] for sentence in sentences), threshold)}
                    for s in SYMPTOMS}
        rows.append({"id": post.id, "symptoms": symptoms, "sentences": sentences})
    return rows


def _span_answers(trained: TrainedModel, posts: list[Post]) -> list[dict]:
    """Per (post, symptom): the probability and decision, and the evidence spans the model answers (its
    answer-vs-null thresholds), as the evidence F1 scores them: reported whatever the symptom decision."""
    threshold = trained.thresholds.decision
    examples = [{"post_id": str(i), "post": post.text, "answers": [], "label": 0, **_criterion(s)}
                for i, post in enumerate(posts) for s in SYMPTOMS]
    predictions = iter(predict_examples(trained, examples))  # in example order
    rows = []
    for post in posts:
        symptoms = {}
        for s in SYMPTOMS:
            prediction = next(predictions)
            symptoms[s] = {"criterion": criterion_id(s), **_decided(prediction["prob"], threshold),
                           "evidence": [{"start": start, "end": end, "text": text}
                                        for start, end, text in prediction["answer"]]}
        rows.append({"id": post.id, "symptoms": symptoms})
    return rows
