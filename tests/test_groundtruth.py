"""The groundtruth stage end to end on small releases written in the real format, and on bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import (
    RELEASE,
    SHARED_SAMPLE,
    copy_public_sample,
    run_stage,
    synthetic_release,
    write_params,
    write_release,
)

from psy_agents.data.io import read_jsonl
from psy_agents.data.sentences import sentence_spans


def outputs(project: Path) -> dict:
    processed = project / "data" / "processed"
    return {
        "criteria": read_jsonl(processed / "criteria.jsonl"),
        "evidence": read_jsonl(processed / "evidence.jsonl"),
        "splits": json.loads((processed / "splits.json").read_text()),
        "report": json.loads((project / "outputs" / "groundtruth" / "report.json").read_text()),
        "metrics": json.loads((project / "metrics" / "groundtruth.json").read_text()),
    }


def run_ok(project: Path) -> dict:
    result = run_stage("groundtruth.py", project)
    assert result.returncode == 0, result.stderr
    return outputs(project)


def test_splits_are_disjoint_by_post_and_folds_partition_train_val(project):
    write_release(project / "data" / "redsm5", *synthetic_release(60))
    out = run_ok(project)
    splits = out["splits"]
    train, val, test = (set(splits[k]) for k in ("train", "val", "test"))
    assert not (train & val or train & test or val & test)
    assert train | val | test == {f"p{i:03d}" for i in range(60)}
    fold_vals = [set(f["val"]) for f in splits["folds"]]
    assert len(fold_vals) == 3
    assert sum(len(v) for v in fold_vals) == len(train | val)
    assert set().union(*fold_vals) == train | val
    for fold in splits["folds"]:
        assert not set(fold["train"]) & set(fold["val"])
        assert set(fold["train"]) | set(fold["val"]) == train | val
    # every example of a post lives in that post's split
    split_of = {p: k for k in ("train", "val", "test") for p in splits[k]}
    assert {split_of[e["post_id"]] for e in out["criteria"]} <= {"train", "val", "test"}


def test_examples_and_answer_spans(project):
    posts, rows = synthetic_release(60)
    write_release(project / "data" / "redsm5", posts, rows)
    out = run_ok(project)
    assert len(out["evidence"]) == 60 * 9
    sentences = sum(len(sentence_spans(text)) for _, text in posts)
    assert len(out["criteria"]) == sentences * 9 > len(rows) * 9
    for ex in out["evidence"]:
        assert ex["label"] == int(bool(ex["answers"]))  # every sentence matched here
        for answer in ex["answers"]:
            assert ex["post"][answer["start"] : answer["end"]] == answer["text"]
    positives = [e for e in out["criteria"] if e["label"]]
    assert len(positives) == sum(1 for r in rows if r[4] == 1)
    assert out["report"]["match"]["sentences"]["exact"] == len(rows)
    assert out["report"]["splits"]["train"]["posts"] + out["report"]["splits"]["val"]["posts"] + out["report"][
        "splits"
    ]["test"]["posts"] == 60


def test_every_sentence_of_a_post_is_a_criteria_example(project):
    """The release is annotated exhaustively: a sentence no annotation row covers is a negative for all nine
    criteria, and the criteria examples hold every sentence as `predict` splits it, with its offsets."""
    posts, rows = synthetic_release(60)
    write_release(project / "data" / "redsm5", posts, rows)
    out = run_ok(project)
    by_sentence: dict[tuple, list[dict]] = {}
    for ex in out["criteria"]:
        by_sentence.setdefault((ex["post_id"], ex["start"], ex["end"]), []).append(ex)
    annotated = {(r[0], r[2]): r for r in rows}
    for post_id, text in posts:
        for start, end in sentence_spans(text):
            examples = by_sentence[(post_id, start, end)]
            assert len(examples) == 9 and all(ex["sentence"] == text[start:end] for ex in examples)
            row = annotated.get((post_id, text[start:end]))
            positives = {ex["symptom"] for ex in examples if ex["label"]}
            assert positives == ({row[3]} if row and row[4] == 1 else set()), (post_id, text[start:end])
    counts = out["report"]["match"]["criteria_sentences"]
    assert counts["sentences"] == len(by_sentence) == counts["annotated"] + counts["unannotated"]
    assert counts["annotated"] == len(rows) and counts["unannotated"] > len(rows)


def test_rerun_is_byte_identical(project):
    write_release(project / "data" / "redsm5", *synthetic_release(60))
    run_ok(project)
    first = {p.name: p.read_bytes() for p in (project / "data" / "processed").iterdir()}
    shutil.rmtree(project / "data" / "processed")
    run_ok(project)
    second = {p.name: p.read_bytes() for p in (project / "data" / "processed").iterdir()}
    assert first == second


def test_quirks_are_handled_and_counted(project):
    posts, rows = synthetic_release(60)
    posts.append(["p_dup", "first copy"])
    posts.append(["p_dup", "second copy"])
    posts.append(["p_empty", "   "])
    rows += [
        list(rows[0]),  # exact duplicate
        [rows[1][0], rows[1][1], rows[1][2], rows[1][3], 0, "conflicting duplicate"],
        ["p_missing", "p_missing_1", "Some text.", "FATIGUE", 1, "post not in file"],
        ["p_empty", "p_empty_1", "Some text.", "FATIGUE", 1, "post is empty"],
        [rows[2][0], rows[2][1], rows[2][2], "LEEP_ISSUES", 1, "typo label"],
        [rows[2][0], rows[2][1], rows[2][2], "SPECIAL_CASE", 1, "special"],
        [rows[3][0], rows[3][0] + "_9", "Totally unrelated words about a tax audit.", "FATIGUE", 1, "unmatched"],
    ]
    write_release(project / "data" / "redsm5", posts, rows)
    out = run_ok(project)
    m = out["report"]
    assert m["posts"] == {"read": 63, "duplicate_id": 1, "empty_text": 1, "kept": 61}
    dropped = m["annotations"]["dropped"]
    assert dropped["duplicate"] == 2 and dropped["unknown_post_or_empty_post"] == 2
    assert dropped["label_SPECIAL_CASE"] == 1
    assert m["annotations"]["relabelled"] == {"LEEP_ISSUES->SLEEP_ISSUES": 1}
    assert m["annotations"]["conflicting_status"] == 1
    assert m["match"]["sentences"]["unmatched"] == 1
    assert m["match"]["status_1_rows_without_span"] == 1
    # the unmatched sentence's symptom still counts as present in its post, without a span
    unmatched = [e for e in out["evidence"] if e["post_id"] == rows[3][0] and e["symptom"] == "FATIGUE"]
    assert unmatched[0]["label"] == 1 and unmatched[0]["answers"] == []
    # the conflicting duplicate keeps status 1: the sentence stays a positive example
    assert any(e["post_id"] == rows[1][0] and e["sentence"] == rows[1][2] and e["symptom"] == rows[1][3]
               and e["label"] for e in out["criteria"])
    # the metrics file keeps the headline counts of the report
    assert out["metrics"] == {"posts": 61, "unmatched": 1, "dropped": 5}
    assert sum(m["splits"][name]["criteria_examples"] for name in ("train", "val", "test")) == len(out["criteria"])


def test_bom_and_crlf_are_valid_input(project):
    posts, rows = synthetic_release(60)
    write_release(project / "data" / "redsm5", posts, rows, encoding="utf-8-sig", newline="\r\n")
    out = run_ok(project)
    assert all("\r" not in e["post"] for e in out["evidence"])
    assert out["report"]["match"]["sentences"]["exact"] == len(rows)


@pytest.mark.parametrize("criterion_input", ["heads", "pair"])
def test_windows_cutting_a_gold_span_are_counted_per_split(project, tiny_backbone, criterion_input):
    from psy_agents.models.backbone import load_tokenizer

    write_release(project / "data" / "redsm5", *synthetic_release(60))
    tokenizer = load_tokenizer(tiny_backbone)
    counts = {}
    # Short windows (about one token per character) cut spans; long ones hold posts. Pair windows also hold the
    # criterion text, so their short length is longer.
    short_length = 120 if criterion_input == "pair" else 64
    for max_length in (short_length, 512):
        write_params(project, {**RELEASE, "model.backbone": tiny_backbone, "model.max_length": max_length,
                               "model.doc_stride": 16, "model.criterion_input": criterion_input})
        out = run_ok(project)
        windows = out["report"]["windows"]
        assert (windows["backbone"], windows["max_length"], windows["doc_stride"]) == (tiny_backbone, max_length, 16)
        counts[max_length] = windows
    for name in ("train", "val", "test"):
        short, whole_posts = counts[short_length][name], counts[512][name]
        assert short["cut_span"] > 0 and whole_posts["cut_span"] == 0
        assert whole_posts["whole_span"] == whole_posts["examples"]  # one window each, holding the span whole
        posts = len({ex["post_id"] for ex in out["evidence"] if ex["answers"] and ex["post_id"] in out["splits"][name]})
        # heads: a window of the post alone serves every criterion; pair: one window per (criterion, post)
        assert whole_posts["windows"] == (posts if criterion_input == "heads" else whole_posts["examples"])
        assert short["whole_span"] + short["cut_span"] <= short["windows"] * (9 if criterion_input == "heads" else 1)
    # the longest train gold span in tokens, counted on the post's own tokens
    train = set(out["splits"]["train"])
    longest = 0
    for ex in out["evidence"]:
        if ex["post_id"] in train and ex["answers"]:
            offsets = tokenizer(ex["post"], add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
            longest = max(longest, *(sum(1 for s, e in offsets if s < a["end"] and a["start"] < e)
                                     for a in ex["answers"]))
    assert counts[short_length]["train"]["longest_span_tokens"] == counts[512]["train"]["longest_span_tokens"] == longest


def _expect_error(project: Path, *needles: str) -> str:
    result = run_stage("groundtruth.py", project)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0]
    assert not (project / "data" / "processed").exists()
    assert not (project / "metrics").exists() and not (project / "outputs").exists()
    return lines[0]


def test_missing_column(project):
    posts, rows = synthetic_release(60)
    write_release(project / "data" / "redsm5", posts, rows)
    (project / "data/redsm5/redsm5_posts.csv").write_text("post_id,body\np1,hello\n")
    _expect_error(project, "redsm5_posts.csv", "missing column(s) text")


def test_empty_file(project):
    write_release(project / "data" / "redsm5", *synthetic_release(60))
    (project / "data/redsm5/redsm5_annotations.csv").write_text("")
    _expect_error(project, "redsm5_annotations.csv", "empty")


def test_non_utf8_bytes(project):
    write_release(project / "data" / "redsm5", *synthetic_release(60))
    path = project / "data/redsm5/redsm5_posts.csv"
    path.write_bytes(path.read_bytes().replace(b"Post number 7", b"Post n\xe9mber 7"))
    _expect_error(project, "redsm5_posts.csv", "not valid UTF-8", "re-save")


def test_missing_file(project):
    _expect_error(project, "redsm5_posts.csv", "not found")


def test_unknown_label_fails_by_default(project):
    posts, rows = synthetic_release(60)
    rows.append([rows[0][0], rows[0][1], rows[0][2], "MYSTERY", 1, "?"])
    write_release(project / "data" / "redsm5", posts, rows)
    _expect_error(project, "redsm5_annotations.csv", "'MYSTERY'", "data.label_map")


def test_unknown_post_can_be_made_an_error(project):
    posts, rows = synthetic_release(60)
    rows.append(["nope", "nope_1", "Hello.", "FATIGUE", 1, "?"])
    write_release(project / "data" / "redsm5", posts, rows)
    write_params(project, {**RELEASE, "data.unknown_posts": "fail"})
    _expect_error(project, "redsm5_annotations.csv", "'nope'", "data.unknown_posts")


def test_bad_status(project):
    posts, rows = synthetic_release(60)
    rows[0][4] = "yes"
    write_release(project / "data" / "redsm5", posts, rows)
    _expect_error(project, "redsm5_annotations.csv", "status must be 0 or 1")


@pytest.mark.skipif(not SHARED_SAMPLE.is_dir(), reason="../shared/external/redsm5-public-sample is absent")
def test_public_sample_goes_through_and_reports_match_levels(project):
    copy_public_sample(project)
    write_params(project, {**RELEASE, "split.folds": 2})
    out = run_ok(project)
    levels = out["report"]["match"]["sentences"]
    sentences = {(e["post_id"], e["sentence_id"]) for e in out["criteria"]}
    counts = out["report"]["match"]["criteria_sentences"]
    assert counts["unlocated_annotated"] == levels["unmatched"]  # kept as examples of their own text
    assert len(sentences) == counts["sentences"] + counts["unlocated_annotated"] > sum(levels.values()) > 0
    print("public sample match levels:", levels)
    for ex in out["evidence"]:
        for answer in ex["answers"]:
            assert ex["post"][answer["start"] : answer["end"]] == answer["text"]
