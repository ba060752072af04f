"""The evidence report: one self-contained HTML page (inline CSS and script, no network) to look at predictions.

Refit writes it for the test posts (`refit_report`): gold and predicted evidence highlighted per symptom, the posts
with errors first, per-symptom scores at the top. `psy-agents predict --html` writes the same view of new posts,
predictions only (`prediction_report`). The criteria agent decides per sentence, so its evidence is the sentences
(the annotated sentences of a test post, one per line; pysbd's sentences of a new post) it decides show a symptom.
"""

from __future__ import annotations

import html
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from psy_agents.data.criteria_text import SYMPTOMS, criterion_id
from psy_agents.evaluation.scoring import SCALAR_METRICS
from psy_agents.evaluation.spans import evidence_f1
from psy_agents.inference.posts import Post


@dataclass
class SymptomView:
    symptom: str
    prob: float
    decision: bool
    gold: bool | None = None  # None: a new post, nothing to compare with
    predicted: list[tuple[int, int]] = field(default_factory=list)  # character spans of the post's text
    gold_spans: list[tuple[int, int]] = field(default_factory=list)
    errors: int = 0  # wrong decisions (per sentence for criteria) and wrong evidence
    problem: str = ""  # what is wrong, in words

    @property
    def shown(self) -> bool:
        return bool(self.decision or self.gold or self.predicted or self.gold_spans or self.errors)


@dataclass
class PostView:
    id: str
    text: str
    symptoms: list[SymptomView]

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.symptoms)


def refit_report(agent: str, examples: list[dict], predictions: list[dict], metrics: dict) -> str:
    """The page of refit's test evaluation: `predictions` are `evaluate`'s for `examples`, `metrics` its metrics."""
    decision = metrics["thresholds"]["decision"]
    build = _criteria_views if agent == "criteria" else _span_views
    posts = build(examples, predictions, decision)
    headline = {k: metrics[k] for k in SCALAR_METRICS[agent] if isinstance(metrics.get(k), float)}
    return _page(f"{agent}: test posts", agent, posts, _test_scores(agent, predictions, decision), headline,
                 metrics["thresholds"])


def prediction_report(agent: str, posts: list[Post], rows: list[dict], thresholds: dict) -> str:
    """The page of `psy-agents predict`: `posts` and their `predict_posts` rows."""
    views = []
    for post, row in zip(posts, rows, strict=True):
        symptoms = []
        for s in SYMPTOMS:
            answer = row["symptoms"][s]
            if agent == "criteria":
                spans = [(x["start"], x["end"]) for x in row["sentences"] if x["symptoms"][s]["decision"]]
            else:
                spans = [(x["start"], x["end"]) for x in answer["evidence"]]
            symptoms.append(SymptomView(s, answer["prob"], answer["decision"], predicted=spans))
        views.append(PostView(str(post.id), post.text, symptoms))
    scores = [{"symptom": s, "posts with the symptom": sum(v.symptoms[i].decision for v in views),
               **({} if agent == "criteria" else {"posts with evidence": sum(bool(v.symptoms[i].predicted)
                                                                             for v in views)})}
              for i, s in enumerate(SYMPTOMS)]
    return _page(f"{agent}: predictions on {len(views)} posts", agent, views, scores, {}, thresholds)


def _criteria_views(examples: list[dict], predictions: list[dict], decision: float) -> list[PostView]:
    """A test post as its annotated sentences, one per line; a symptom's spans are its sentences."""
    sentences: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)  # post -> sentence id -> span in the text
    texts: dict[str, str] = defaultdict(str)
    rows: dict[tuple[str, str], list[tuple[tuple[int, int], dict]]] = defaultdict(list)
    for ex, pred in zip(examples, predictions, strict=True):
        post, sentence = ex["post_id"], ex["sentence_id"]
        if sentence not in sentences[post]:
            start = len(texts[post]) + (1 if texts[post] else 0)
            texts[post] += ("\n" if texts[post] else "") + ex["sentence"]
            sentences[post][sentence] = (start, start + len(ex["sentence"]))
        rows[post, ex["symptom"]].append((sentences[post][sentence], pred))
    views = []
    for post, text in texts.items():
        symptoms = []
        for s in SYMPTOMS:
            scored = rows.get((post, s), [])
            predicted = [span for span, p in scored if p["prob"] >= decision]
            gold = [span for span, p in scored if p["label"]]
            wrong = sum(int(p["prob"] >= decision) != p["label"] for _, p in scored)
            symptoms.append(SymptomView(
                s, max((p["prob"] for _, p in scored), default=0.0), bool(predicted), bool(gold), predicted, gold,
                errors=wrong, problem=f"{wrong} sentence{'s' * (wrong != 1)} wrong" if wrong else "",
            ))
        views.append(PostView(post, text, symptoms))
    return views


def _wrong_evidence(pred: dict) -> bool:
    """Whether the answered words differ from the gold evidence words (`answer_counts`: predicted, gold, both); a
    pair without a located gold span is not scored."""
    predicted, gold, both = pred["answer_counts"]
    return pred["scored"] and not predicted == gold == both


def _span_views(examples: list[dict], predictions: list[dict], decision: float) -> list[PostView]:
    texts = {ex["post_id"]: ex["post"] for ex in examples}
    by_post: dict[str, dict[str, dict]] = defaultdict(dict)
    for pred in predictions:
        by_post[pred["post_id"]][pred["symptom"]] = pred
    views = []
    for post, text in texts.items():
        symptoms = []
        for pred in (by_post[post][s] for s in SYMPTOMS if s in by_post[post]):
            decided = pred["prob"] >= decision
            problems = [name for name, wrong in (("decision wrong", decided != bool(pred["label"])),
                                                 ("evidence wrong", _wrong_evidence(pred))) if wrong]
            symptoms.append(SymptomView(
                pred["symptom"], pred["prob"], decided, bool(pred["label"]), [(a[0], a[1]) for a in pred["answer"]],
                [(g[0], g[1]) for g in pred["gold"]], errors=len(problems), problem=" · ".join(problems),
            ))
        views.append(PostView(post, text, symptoms))
    return views


def _f1(y: np.ndarray, yhat: np.ndarray) -> dict[str, float | None]:
    tp = int((y & yhat).sum())
    return {"precision": tp / yhat.sum() if yhat.sum() else None, "recall": tp / y.sum() if y.sum() else None,
            "F1": 2 * tp / (y.sum() + yhat.sum()) if y.sum() + yhat.sum() else None}


def _test_scores(agent: str, predictions: list[dict], decision: float) -> list[dict]:
    """Per symptom: gold and predicted positives and the decisions' positive-class scores (per sentence for
    criteria, per post for the span agents), and the span agents' evidence F1 (as `score` pools it)."""
    table = []
    for s in SYMPTOMS:
        rows = [p for p in predictions if p["symptom"] == s]
        y = np.array([bool(p["label"]) for p in rows], dtype=bool)
        yhat = np.array([p["prob"] >= decision for p in rows], dtype=bool)
        row = {"symptom": s, "gold": int(y.sum()), "predicted": int(yhat.sum()), **_f1(y, yhat)}
        if agent != "criteria":
            counts = [p["answer_counts"] for p in rows if p["scored"]]
            words = sum(c[0] + c[1] for c in counts)  # none predicted and none gold: nothing to score
            row["evidence F1"] = evidence_f1(counts)["evidence_f1"] if words else None
        table.append(row)
    return table


def _marked(text: str, predicted: list[tuple[int, int]], gold: list[tuple[int, int]]) -> str:
    """The text, escaped, with every run inside a gold (g) and/or predicted (p) span in a <mark>."""
    cuts = sorted({0, len(text), *(i for span in (*predicted, *gold) for i in span)})
    parts = []
    for start, end in zip(cuts, cuts[1:]):
        classes = " ".join(name for name, spans in (("g", gold), ("p", predicted))
                           if any(s <= start and end <= e for s, e in spans))
        chunk = html.escape(text[start:end])
        parts.append(f'<mark class="{classes}">{chunk}</mark>' if classes else chunk)
    return "".join(parts)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "–" if value is None else html.escape(str(value))


def _table(rows: list[dict]) -> str:
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row.values()) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _symptom_block(view: SymptomView, text: str) -> str:
    """The symptom's verdict, and the text with its evidence highlighted when there is any."""
    verdict = f"predicted {'yes' if view.decision else 'no'} (p={view.prob:.2f})"
    if view.gold is not None:
        verdict = f"gold {'yes' if view.gold else 'no'} · {verdict}"
    error = f' <span class="err">{view.problem}</span>' if view.errors else ""
    marked = (f'<p class="text">{_marked(text, view.predicted, view.gold_spans)}</p>'
              if view.predicted or view.gold_spans else "")
    return (f'<div class="symptom" data-symptom="{view.symptom}"><h3>{criterion_id(view.symptom)} {view.symptom} '
            f"<small>{verdict}</small>{error}</h3>{marked}</div>")


def _post_block(post: PostView) -> str:
    shown = [s for s in post.symptoms if s.shown]
    blocks = "".join(_symptom_block(s, post.text) for s in shown)
    if not any(s.predicted or s.gold_spans for s in shown):  # no highlighted copy of the text above
        blocks += f'<details><summary>text</summary><p class="text">{html.escape(post.text)}</p></details>'
    error = f' <span class="err">{post.errors} error{"s" * (post.errors != 1)}</span>' if post.errors else ""
    return (f'<section class="post" data-errors="{post.errors}" data-symptoms="{" ".join(s.symptom for s in shown)}">'
            f"<h2>{html.escape(post.id)}{error}</h2>{blocks or '<p>no symptom, gold or predicted</p>'}</section>")


STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 70em; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: .2em .6em; }
td { text-align: right; } td:first-child { text-align: left; }
section.post { border: 1px solid #ddd; border-radius: 6px; margin: 1em 0; padding: .2em 1em 1em; }
h2 { font-size: 1.05em; } h3 { font-size: .95em; margin: .9em 0 .2em; } small { font-weight: normal; color: #555; }
.text { white-space: pre-wrap; margin: 0; }
.err { background: #c92a2a; color: #fff; border-radius: 3px; padding: 0 .4em; font-size: .85em; }
mark { background: none; color: inherit; }
mark.g { background: #b2f2bb; }
mark.p { text-decoration: underline 3px #e8590c; text-decoration-skip-ink: none; }
.scores { color: #444; }
.controls { position: sticky; top: 0; background: #fff; padding: .5em 0; border-bottom: 1px solid #ddd; }
"""

# Filter by symptom, and (test view) to the posts with errors; no library, nothing loaded.
SCRIPT = """
function applyFilter() {
  const symptom = document.getElementById('symptom').value;
  const errorsOnly = document.getElementById('errors').checked;
  for (const post of document.querySelectorAll('section.post')) {
    post.hidden = (errorsOnly && post.dataset.errors === '0') ||
      (symptom !== '' && !post.dataset.symptoms.split(' ').includes(symptom));
    for (const block of post.querySelectorAll('div.symptom')) {
      block.hidden = symptom !== '' && block.dataset.symptom !== symptom;
    }
  }
}
"""


def _page(title: str, agent: str, posts: list[PostView], scores: list[dict], headline: dict,
          thresholds: dict) -> str:
    tested = any(s.gold is not None for p in posts for s in p.symptoms)
    if tested:  # errors first; new posts keep their input order
        posts = sorted(posts, key=lambda p: (-p.errors, p.id))
    legend = ('<mark class="g">gold evidence</mark> · <mark class="p">predicted evidence</mark> · '
              '<mark class="g p">both</mark>' if tested else '<mark class="p">predicted evidence</mark>')
    unit = "sentence" if agent == "criteria" else "post"
    notes = (f"Decisions per {unit} at the model's threshold {thresholds['decision']:.3f}"
             + ("; evidence: the spans the model answers (answer-vs-null thresholds), whatever the decision"
                if agent != "criteria" else "; evidence: the sentences decided to show the symptom"))
    options = "".join(f'<option value="{s}">{criterion_id(s)} {s}</option>' for s in SYMPTOMS)
    errors = ('<label><input type="checkbox" id="errors" onchange="applyFilter()"> posts with errors only</label>'
              if tested else '<input type="checkbox" id="errors" hidden>')
    summary = " · ".join(f"{html.escape(k)} {v:.4f}" for k, v in headline.items())
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>{STYLE}</style>
<script>{SCRIPT}</script>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p>{legend}. {html.escape(notes)}.{' Posts with errors first.' if tested else ''}</p>
{f'<p class="scores">{summary}</p>' if summary else ""}
{_table(scores)}
<div class="controls">symptom <select id="symptom" onchange="applyFilter()"><option value="">all</option>
{options}</select> {errors}</div>
{"".join(_post_block(p) for p in posts)}
</body>
</html>
"""
