"""Writer-grouped splits: split.group_by keeps every group's posts in one split and one fold's validation part."""

from __future__ import annotations

import json

import pytest
from conftest import (
    RELEASE,
    SHARED_SAMPLE,
    copy_public_sample,
    defaults,
    run_stage,
    synthetic_release,
    write_params,
    write_release,
)

from psy_agents.config import SplitConfig
from psy_agents.data.criteria_text import SYMPTOMS
from psy_agents.data.splits import group_pattern, post_groups, split_posts


def writer_corpus() -> dict[str, frozenset[str]]:
    """120 writers with 1-4 posts each (ids s_<writer>_<post>), plus ids the prefix regex does not match."""
    post_symptoms = {}
    for writer in range(120):
        for n in range(1 + writer % 4):
            i = writer * 4 + n
            symptoms = frozenset() if i % 5 == 4 else frozenset({SYMPTOMS[i % len(SYMPTOMS)]})
            post_symptoms[f"s_{writer}_{100 + n}"] = symptoms
    post_symptoms |= {f"other{i}": frozenset() for i in range(6)}
    return post_symptoms


def where_groups_land(splits: dict, groups: dict[str, str]) -> tuple[dict, dict]:
    """group -> the splits holding its posts, and group -> the folds whose val part holds its posts."""
    in_split: dict[str, set[str]] = {}
    in_fold_val: dict[str, set[int]] = {}
    for name in ("train", "val", "test"):
        for post in splits[name]:
            in_split.setdefault(groups[post], set()).add(name)
    for k, fold in enumerate(splits["folds"]):
        for post in fold["val"]:
            in_fold_val.setdefault(groups[post], set()).add(k)
    return in_split, in_fold_val


def test_prefix_grouping_keeps_each_group_in_one_split_and_one_fold_val():
    post_symptoms = writer_corpus()
    cfg = defaults(SplitConfig)
    groups = post_groups(sorted(post_symptoms), group_pattern(cfg, "redsm5"))
    assert groups["s_7_100"] == groups["s_7_103"] == "s_7"
    assert groups["other3"] == "other3"  # an id the regex does not match is its own group
    assert len(set(groups.values())) == 126 < len(groups)

    splits = split_posts(post_symptoms, cfg, groups)
    in_split, in_fold_val = where_groups_land(splits, groups)
    assert all(len(names) == 1 for names in in_split.values())
    assert all(len(folds) == 1 for folds in in_fold_val.values())
    train_val = set(splits["train"]) | set(splits["val"])
    assert set(in_fold_val) == {groups[p] for p in train_val}
    assert set(splits["train"]) | train_val | set(splits["test"]) == set(post_symptoms)
    for fold in splits["folds"]:
        assert not set(fold["train"]) & set(fold["val"]) and set(fold["train"]) | set(fold["val"]) == train_val
    assert splits["stratified"]

    # the same corpus split by post puts some writer on both sides: the grouping is what keeps them apart
    by_post = split_posts(post_symptoms, cfg, {p: p for p in post_symptoms})
    assert any(len(names) > 1 for names in where_groups_land(by_post, groups)[0].values())


@pytest.mark.parametrize(
    ("rule", "needles"),
    [
        (r"^(s_\d+", ("split.group_by.redsm5", "not a valid regex", "fix it, or use post")),
        (r"^s_\d+_", ("split.group_by.redsm5", "no capture group", "in ()")),
        (None, ("split.group_by has no entry for data.source redsm5", "add `redsm5: post`")),
    ],
)
def test_bad_group_by_is_a_one_line_error(project, rule, needles):
    write_release(project / "data" / "redsm5", *synthetic_release(60))
    write_params(project, {**RELEASE, "split.group_by": {"demo": "post"} if rule is None else {"redsm5": rule}})
    result = run_stage("groundtruth.py", project)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: params.yaml split.group_by")
    for needle in needles:
        assert needle in lines[0]
    assert not (project / "data" / "processed").exists()


@pytest.mark.skipif(not SHARED_SAMPLE.is_dir(), reason="../shared/external/redsm5-public-sample is absent")
def test_public_sample_is_grouped_by_writer_prefix(project):
    copy_public_sample(project)
    write_params(project, {**RELEASE, "split.folds": 2})
    result = run_stage("groundtruth.py", project)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((project / "outputs" / "groundtruth" / "report.json").read_text())["splits"]
    # 17 posts, three prefixes (s_993, s_1404, s_2748) twice each: 14 writers
    assert sum(metrics[name]["posts"] for name in ("train", "val", "test")) == 17
    assert sum(metrics[name]["groups"] for name in ("train", "val", "test")) == 14
    assert metrics["group_by"] == r"^(s_\d+)_"
    splits = json.loads((project / "data" / "processed" / "splits.json").read_text())
    writer = {p: p.rsplit("_", 1)[0] for name in ("train", "val", "test") for p in splits[name]}
    in_split, in_fold_val = where_groups_land(splits, writer)
    assert all(len(names) == 1 for names in in_split.values())
    assert all(len(folds) == 1 for folds in in_fold_val.values())
