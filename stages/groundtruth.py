"""DVC stage `groundtruth`: release CSVs -> data/processed/{criteria,evidence}.jsonl, splits.json, the report of what
was kept, dropped and matched (outputs/groundtruth/report.json) and its headline counts (metrics/groundtruth.json)."""

from __future__ import annotations

import argparse
from pathlib import Path

from psy_agents.config import DataConfig, ModelConfig, SplitConfig, build, load_params
from psy_agents.data.groundtruth import build_groundtruth, headline, window_report
from psy_agents.data.io import write_json, write_jsonl, write_metrics
from psy_agents.errors import run_main
from psy_agents.models.backbone import load_tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="data/processed")
    parser.add_argument("--report", default="outputs/groundtruth/report.json")
    parser.add_argument("--metrics", default="metrics/groundtruth.json")
    args = parser.parse_args()

    params = load_params(args.params)
    data_cfg = build(DataConfig, params.get("data"), "data")
    split_cfg = build(SplitConfig, params.get("split"), "split")
    # Only model.backbone, max_length, doc_stride, criterion_input are used (declared in dvc.yaml): the default
    # windows.
    model_cfg = build(ModelConfig, params.get("model"), "model")
    # Everything is built in memory first, so bad input leaves no partial outputs behind.
    gt = build_groundtruth(data_cfg, split_cfg)
    gt.report["windows"] = {
        "backbone": model_cfg.backbone, "max_length": model_cfg.max_length, "doc_stride": model_cfg.doc_stride,
        "criterion_input": model_cfg.criterion_input,
        **window_report(gt.evidence, gt.splits, load_tokenizer(model_cfg.backbone), model_cfg.max_length,
                        model_cfg.doc_stride, heads=model_cfg.criterion_input == "heads"),
    }

    out = Path(args.out)
    write_jsonl(out / "criteria.jsonl", gt.criteria)
    write_jsonl(out / "evidence.jsonl", gt.evidence)
    write_json(out / "splits.json", gt.splits)
    write_json(Path(args.report), gt.report)
    write_metrics(Path(args.metrics), headline(gt.report))
    m = gt.report["match"]["sentences"]
    print(
        f"groundtruth: {gt.report['posts']['kept']} posts, {len(gt.criteria)} criteria and {len(gt.evidence)}"
        f" evidence examples; sentences matched exact {m['exact']}, normalized {m['normalized']},"
        f" fuzzy {m['fuzzy']}, unmatched {m['unmatched']}; train windows cutting a gold span"
        f" {gt.report['windows']['train']['cut_span']}"
    )


if __name__ == "__main__":
    run_main(main)
