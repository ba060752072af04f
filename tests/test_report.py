"""The evidence report: highlights, errors first, per-symptom scores, escaping, and nothing loaded from a network."""

from __future__ import annotations

from html.parser import HTMLParser

from psy_agents.data.criteria_text import SYMPTOMS
from psy_agents.evaluation.spans import answered, evidence_counts
from psy_agents.inference import Post
from psy_agents.report import prediction_report, refit_report

THRESHOLDS = {"decision": 0.5, "null": 0.0, "further": 0.0, "calib_scale": 1.0, "calib_bias": 0.0}
METRICS = {"primary": 0.5, "evidence_f1": 0.4, "auroc": None, "thresholds": THRESHOLDS}
GOOD = "I feel sad all day. We had pizza."
BAD = "<script>alert(1)</script> I cannot sleep at night. I am tired."


def span_prediction(post_id: str, text: str, symptom: str, prob: float, gold: str | None, answer: str | None) -> dict:
    """A record as `score` returns it (prob, answer) for a (post, symptom) pair."""
    gold_spans = [] if gold is None else [[text.index(gold), text.index(gold) + len(gold), gold]]
    span = [-1, -1, ""] if answer is None else [text.index(answer), text.index(answer) + len(answer), answer]
    record = {"post_id": post_id, "symptom": symptom, "label": int(gold is not None), "scored": True,
              "gold": gold_spans, "span": span, "margin": 1.0 if answer else None, "logit": 0.0, "prob": prob,
              "counts": evidence_counts(text, tuple(span[:2]) if answer else None, [tuple(g[:2]) for g in gold_spans])}
    record["answer"], record["answer_counts"] = answered(record, 0.0, 0.0)
    return record


def span_fixture() -> tuple[list[dict], list[dict]]:
    examples, predictions = [], []
    for post_id, text in (("good", GOOD), ("bad", BAD)):
        for s in SYMPTOMS:
            examples.append({"post_id": post_id, "symptom": s, "post": text, "answers": [], "label": 0})
            if (post_id, s) == ("good", "DEPRESSED_MOOD"):
                pred = span_prediction(post_id, text, s, 0.9, "I feel sad all day.", "I feel sad all day.")
            elif (post_id, s) == ("bad", "SLEEP_ISSUES"):  # a missed symptom and missed evidence
                pred = span_prediction(post_id, text, s, 0.2, "I cannot sleep at night.", None)
            elif (post_id, s) == ("bad", "FATIGUE"):  # a false positive with evidence
                pred = span_prediction(post_id, text, s, 0.8, None, "I am tired.")
            else:
                pred = span_prediction(post_id, text, s, 0.1, None, None)
            predictions.append(pred)
    return examples, predictions


class Resources(HTMLParser):
    """Every attribute through which a page could load something, and the tags it uses."""

    def __init__(self) -> None:
        super().__init__()
        self.references, self.tags = [], set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.references += [value for name, value in attrs if name in ("src", "href", "srcset", "data", "action")]


def assert_self_contained(page: str) -> None:
    parser = Resources()
    parser.feed(page)
    assert parser.references == [] and not {"link", "img", "iframe", "object"} & parser.tags
    assert "://" not in page and "@import" not in page and "url(" not in page


def test_span_report_highlights_gold_and_predicted_evidence_with_errors_first():
    examples, predictions = span_fixture()
    page = refit_report("share", examples, predictions, METRICS)
    assert_self_contained(page)
    assert page.index('<h2>bad <span class="err">4 errors</span>') < page.index("<h2>good</h2>")
    assert '<mark class="g p">I feel sad all day.</mark>' in page
    assert '<mark class="g">I cannot sleep at night.</mark>' in page
    assert '<mark class="p">I am tired.</mark>' in page
    assert "decision wrong · evidence wrong" in page  # SLEEP_ISSUES: missed, and its gold evidence too
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "primary 0.5000 · evidence_f1 0.4000" in page  # a None metric is left out
    # per-symptom scores at the top: DEPRESSED_MOOD found with its whole evidence, SLEEP_ISSUES missed
    table = page[page.index("<table>"):page.index("</table>")]
    assert "<th>evidence F1</th>" in table
    assert "<td>DEPRESSED_MOOD</td><td>1</td><td>1</td>" + "<td>1.000</td>" * 4 in table
    assert "<td>SLEEP_ISSUES</td><td>1</td><td>0</td><td>–</td><td>0.000</td><td>0.000</td><td>0.000</td>" in table
    assert page.index("<table>") < page.index('<section class="post"')


def test_criteria_report_marks_the_annotated_sentences_of_a_post():
    sentences = [("s1", "I feel sad all day.", "DEPRESSED_MOOD"), ("s2", "I cannot sleep.", "SLEEP_ISSUES")]
    examples, predictions = [], []
    for sentence_id, sentence, gold in sentences:
        for s in SYMPTOMS:
            examples.append({"post_id": "p1", "sentence_id": sentence_id, "sentence": sentence, "symptom": s,
                             "label": int(s == gold)})
            prob = 0.9 if s == "DEPRESSED_MOOD" else 0.1  # right on s1, a false positive on s2, misses s2's symptom
            predictions.append({"post_id": "p1", "sentence_id": sentence_id, "symptom": s, "label": int(s == gold),
                                "logit": 0.0, "prob": prob})
    page = refit_report("criteria", examples, predictions, METRICS)
    assert_self_contained(page)
    assert '<mark class="g p">I feel sad all day.</mark>\n<mark class="p">I cannot sleep.</mark>' in page
    assert '<mark class="g">I cannot sleep.</mark>' in page
    assert '<h2>p1 <span class="err">2 errors</span>' in page and "1 sentence wrong" in page
    assert "evidence F1" not in page


def test_prediction_report_keeps_input_order_and_shows_no_gold():
    posts = [Post("z", GOOD), Post(3, BAD)]
    rows = []
    for post in posts:
        start = post.text.index("I ")
        rows.append({"id": post.id, "symptoms": {s: {"prob": 0.7, "decision": s == "FATIGUE",
                                                     "evidence": [{"start": start, "end": start + 6}]}
                                                 for s in SYMPTOMS}})
    page = prediction_report("evidence", posts, rows, THRESHOLDS)
    assert_self_contained(page)
    assert page.index("<h2>z</h2>") < page.index("<h2>3</h2>")
    assert "gold" not in page.replace("gold evidence", "") and "errors only" not in page
    assert '<mark class="p">I feel</mark>' in page and "predictions on 2 posts" in page

    sentences = [{"start": 0, "end": 19, "text": GOOD[:19], "symptoms": {s: {"decision": s == "DEPRESSED_MOOD"}
                                                                         for s in SYMPTOMS}}]
    rows = [{"id": "z", "symptoms": {s: {"prob": 0.6, "decision": s == "DEPRESSED_MOOD"} for s in SYMPTOMS},
             "sentences": sentences}]
    page = prediction_report("criteria", posts[:1], rows, THRESHOLDS)
    assert '<mark class="p">I feel sad all day.</mark> We had pizza.' in page
