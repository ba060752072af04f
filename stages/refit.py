"""DVC stage refit: train stage C's winner on train+val, evaluate ONCE on test, save the model and the report.

`python stages/refit.py --agent AGENT`. The epochs come from CV (hpo_c's best.yaml: the mean best epoch over folds)
unless params.yaml refit.epochs sets them; refit has no validation split, so it cannot select or stop early. The test
primary carries its bootstrap interval and its paired difference to the TF-IDF baseline's (baseline@AGENT's test
predictions), on the same resampled test posts.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from dvclive import Live

from psy_agents.augment.policy import augmenter_for
from psy_agents.config import AGENTS, BootstrapConfig, RefitConfig, build, load_params, load_yaml, run_config
from psy_agents.data.examples import load_examples, load_splits, select
from psy_agents.data.io import read_jsonl, write_json, write_jsonl, write_metrics
from psy_agents.errors import InputError, run_main
from psy_agents.evaluation.bootstrap import versus_baseline
from psy_agents.evaluation.scoring import metrics_of
from psy_agents.evaluation.thresholds import Thresholds
from psy_agents.hpo.inputs import stage_inputs
from psy_agents.inference import save_model
from psy_agents.inference.card import model_card
from psy_agents.models.backbone import load_tokenizer
from psy_agents.report import refit_report
from psy_agents.training.loop import evaluate, train
from psy_agents.training.tracking import dvclive_callback


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agent", required=True, choices=AGENTS)
    args = parser.parse_args()
    agent = args.agent
    params = load_params()
    refit = build(RefitConfig, params.get("refit"), "refit")
    boot = build(BootstrapConfig, params.get("bootstrap"), "bootstrap")
    best_path = Path("outputs") / agent / "hpo_c" / "best.yaml"
    tfidf_path = Path("outputs") / agent / "baseline" / "test_predictions.jsonl"
    for path, stage in ((best_path, "hpo_c"), (tfidf_path, "baseline")):
        if not path.is_file():
            raise InputError(f"{path}: not found; run `dvc repro {stage}@{agent}` first")
    best = load_yaml(best_path.read_text(encoding="utf-8"))
    try:  # stage C's thresholds, fitted on the winner's out-of-fold predictions: refit has no held-out split of its own
        thresholds = Thresholds.from_dict(best.get("thresholds"))
    except ValueError as exc:
        raise InputError(f"{best_path}: thresholds: {exc}; run `dvc repro hpo_c@{agent}` again") from None
    if refit.epochs is not None and refit.epochs < 1:
        raise InputError(f"params.yaml refit.epochs={refit.epochs}: use null (epochs from CV) or a number >= 1")
    epochs = best["refit_epochs"] if refit.epochs is None else refit.epochs
    inputs = stage_inputs(agent, "c")  # the same base config every HPO stage used
    run = run_config(agent, inputs.sections, {**best["params"], "train.epochs": epochs, "train.patience": 0})

    examples, splits = load_examples(agent), load_splits()
    out = Path("outputs") / agent / "refit"
    with Live(str(out / "dvclive"), dvcyaml=False, save_dvc_exp=False) as live:
        live.log_params({"trial": best["trial"], "epochs": epochs, **best["params"]})
        result = train(run, select(examples, splits["train"] + splits["val"]), None,
                       callbacks=(dvclive_callback(live),), augmenter=augmenter_for(run), progress=True)
        # the single test evaluation
        test_examples = select(examples, splits["test"])
        metrics, predictions = evaluate(run, result.model, result.readout, test_examples, thresholds)
        labels = [p["label"] for p in predictions]
        decision = thresholds.decision
        live.log_sklearn_plot("confusion_matrix", labels, [int(p["prob"] >= decision) for p in predictions],
                              name="confusion.json")
        live.log_sklearn_plot("precision_recall", labels, [p["prob"] for p in predictions], name="pr.json")

    model_dir = save_model(Path("models") / agent, run, result.model, result.readout,
                           load_tokenizer(run.model.backbone), thresholds)
    (model_dir / "best.yaml").write_text(best_path.read_text(encoding="utf-8"))  # which trial, from which stage
    write_jsonl(out / "test_predictions.jsonl", predictions)
    (out / "report.html").write_text(refit_report(agent, test_examples, predictions, metrics), encoding="utf-8")
    intervals = versus_baseline(agent, predictions, read_jsonl(tfidf_path), boot.draws, boot.seed, boot.level)
    if agent == "criteria":  # beside the score over every sentence: the annotated sentences alone, same decisions
        annotated = [p for p, ex in zip(predictions, test_examples, strict=True) if ex.get("annotated", True)]
        metrics["annotated_only"] = metrics_of(agent, annotated)
    write_json(out / "test_metrics.json", {**metrics, "bootstrap": {**intervals, **asdict(boot)}, "epochs": epochs,
                                           "seconds": round(result.seconds, 1)})
    write_metrics(Path("metrics") / agent / "test.json", {"primary": metrics["primary"], **intervals,
                                                          "ece": metrics["ece"]})
    posts = {name: len(splits[name]) for name in ("train", "val", "test")}
    test = {"primary": metrics["primary"], **intervals, "ece": metrics["ece"], "level": boot.level}
    (model_dir / "README.md").write_text(model_card(run, params["data"]["source"], posts, {**best, "epochs": epochs},
                                                    test, {**thresholds.to_dict(), **result.readout.to_dict()}),
                                         encoding="utf-8")
    print(f"refit@{agent}: test primary={metrics['primary']:.4f} [{intervals['low']:.4f}, {intervals['high']:.4f}] "
          f"after {epochs} epochs; vs TF-IDF {intervals['vs_tfidf']:+.4f} [{intervals['vs_low']:+.4f}, "
          f"{intervals['vs_high']:+.4f}]")


if __name__ == "__main__":
    run_main(main)
