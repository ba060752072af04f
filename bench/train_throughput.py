"""Training throughput: our loop (psy_agents.training.loop.train) vs transformers' Trainer, side by side.

    python bench/train_throughput.py [--epochs 2] [--quick]

Same backbone (the offline all-MiniLM-L6-v2), same training examples (criteria agent, train split: every positive
plus an equal-size seeded sample of negatives; our neg_ratio is 0 so ours sees exactly that list every epoch), same
batch size, epochs, learning rate (head_lr_mult 1: the head gets the same rate as the encoder), linear schedule with
the same number of warm-up steps, weight decay, gradient clipping, seed and max_length, 2 torch threads on each side.

Differences that are the point of the benchmark:
  * precision: ours runs with train.precision=auto, i.e. bf16 autocast when the CPU has native bf16
    (avx512_bf16 / amx_bf16), else fp32; the Trainer runs its default, fp32 (bf16=False).
  * batching: ours length-buckets its batches (dynamic padding within batches of similar length); the Trainer uses
    its standard setup, random batches padded per batch by DataCollatorWithPadding.
Differences that are not: the Trainer's BertForSequenceClassification puts the checkpoint's pooler (dense + tanh)
and dropout + linear on [CLS]; ours puts dropout + linear on the [CLS] state (pooling=cls, no pooler).

Timing: only training. The Trainer: trainer.train() wall time (its tokenisation and model loading happen before).
Ours: TrainResult.seconds of train(run, examples, val_examples=None), i.e. including its own tokenisation and model
build (the checkpoint is read once beforehand, as the Trainer's is); both are then evaluated, untimed, on the same
validation examples: macro F1 at threshold 0.5 via classification_metrics. samples/s = training examples seen /
training seconds.

GFLOP/s: 6 * non-embedding encoder parameters * real (non-pad) tokens of the training batches / training seconds,
i.e. the useful work per second (attention-score FLOPs and the head are ignored; sequences here are short). The
padded-token count, which is what the hardware actually processes, is printed too.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

import psy_agents.training.loop as loop
from psy_agents.config import load_params, run_config
from psy_agents.data.examples import load_examples, load_splits, select
from psy_agents.evaluation.metrics import classification_metrics
from psy_agents.models.backbone import load_encoder, load_tokenizer, resolve_backbone

BACKBONE = "all-MiniLM-L6-v2"
THREADS = 2


def pick_examples(args) -> tuple[list[dict], list[dict]]:
    if not Path("data/processed/criteria.jsonl").exists():
        raise SystemExit("data/processed/criteria.jsonl missing: run `dvc repro groundtruth` first")
    examples, splits = load_examples("criteria"), load_splits()
    train, val = select(examples, splits["train"]), select(examples, splits["val"])
    rng = np.random.default_rng(args.seed)
    pos = [ex for ex in train if ex["label"]]
    neg = [ex for ex in train if not ex["label"]]
    n_pos = min(len(pos), args.positives) if args.positives else len(pos)
    pos = [pos[i] for i in sorted(rng.choice(len(pos), n_pos, replace=False))]
    neg = [neg[i] for i in sorted(rng.choice(len(neg), min(len(neg), n_pos), replace=False))]
    subset = pos + neg
    subset = [subset[i] for i in rng.permutation(len(subset))]
    if args.val and args.val < len(val):
        val = [val[i] for i in sorted(rng.choice(len(val), args.val, replace=False))]
    return subset, val


def non_embedding_params(encoder: torch.nn.Module) -> int:
    embedding = {id(p) for p in encoder.embeddings.parameters()}
    pooler = {id(p) for p in encoder.pooler.parameters()} if getattr(encoder, "pooler", None) is not None else set()
    return sum(p.numel() for p in encoder.parameters() if id(p) not in embedding | pooler)


class TokenCounter:
    """Wraps a collate function and counts real (attention_mask == 1) and padded tokens of what it returns."""

    def __init__(self, fn) -> None:
        self.fn, self.real, self.padded = fn, 0, 0

    def __call__(self, *args, **kwargs):
        batch = self.fn(*args, **kwargs)
        self.real += int(batch["attention_mask"].sum())
        self.padded += batch["attention_mask"].numel()
        return batch


def run_ours(args, train, val) -> dict:
    model = {  # the Trainer side is a (sentence, criterion) cross-encoder over every layer: ours reads the same
        "backbone": BACKBONE, "num_layers": None, "max_length": args.max_length, "pooling": "cls", "head_layers": 1,
        "criterion_input": "pair",
    }
    train_cfg = {
        "epochs": args.epochs, "batch_size": args.batch_size, "eval_batch_size": 64, "lr": args.lr,
        "head_lr_mult": 1.0, "weight_decay": 0.01, "scheduler": "linear", "warmup_ratio": 0.1,
        "max_grad_norm": 1.0, "neg_ratio": 0, "patience": 0, "seed": args.seed, "precision": "auto",
        "threads": THREADS, "loss": "ce", "class_weights": "none",
        "threshold": 0.5,  # the Trainer side's protocol: no threshold fitted on a calibration sample
    }
    # params.yaml's settings with the Trainer side's protocol set over them, as `psy-agents train --set` would
    run = run_config("criteria", load_params(args.params), {
        **{f"model.{k}": v for k, v in model.items()}, **{f"train.{k}": v for k, v in train_cfg.items()}})
    load_tokenizer(BACKBONE)
    load_encoder(BACKBONE)  # read the checkpoint once, untimed (the Trainer side loads its model untimed too)
    counter = TokenCounter(loop.collate)
    loop.collate = counter  # the loop calls the name it imported; count exactly the batches it trains on
    try:
        result = loop.train(run, train, None)
    finally:
        loop.collate = counter.fn
    dtype = loop.autocast_dtype(run.train.precision, loop.resolve_device())
    optimizer = loop.build_optimizer(result.model, run.train)  # what train() built (no state; only to describe it)
    optimizer = (f"{type(optimizer).__name__}(fused={optimizer.defaults.get('fused')}, "
                 f"foreach={optimizer.defaults.get('foreach')}) [train.optimizer={run.train.optimizer}]")
    load = os.getloadavg()[0]
    metrics, _ = loop.evaluate(run, result.model, result.readout, val, result.thresholds)
    return {
        "side": "ours", "load": load, "precision": "bf16 autocast" if dtype == torch.bfloat16 else "fp32",
        "samples": result.train_samples, "seconds": result.seconds, "f1": metrics["macro_f1"],
        "real_tokens": counter.real, "padded_tokens": counter.padded, "optimizer": optimizer,
        "params": non_embedding_params(result.model.encoder),
    }


def run_trainer(args, train, val) -> dict:
    import transformers
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    transformers.logging.set_verbosity_error()
    path = resolve_backbone(BACKBONE)
    tokenizer = AutoTokenizer.from_pretrained(path)

    def encode(examples):
        enc = tokenizer([ex["sentence"] for ex in examples], [ex["criterion_text"] for ex in examples],
                        truncation="only_first", max_length=args.max_length)
        return [{**{k: enc[k][i] for k in enc}, "labels": int(ex["label"])} for i, ex in enumerate(examples)]

    train_ds, val_ds = encode(train), encode(val)
    transformers.set_seed(args.seed)  # the classifier's random init
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2, dtype=torch.float32)
    steps = -(-len(train) // args.batch_size) * args.epochs
    training_args = TrainingArguments(
        output_dir=os.path.join(args.tmp, "trainer"),
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=64,
        num_train_epochs=args.epochs,
        learning_rate=args.lr,
        weight_decay=0.01,
        lr_scheduler_type="linear",
        warmup_steps=round(0.1 * steps),  # an int: the same warm-up step count as ours (a float would be ceil'd)
        max_grad_norm=1.0,
        seed=args.seed,
        use_cpu=True,
        bf16=args.trainer_bf16,
        eval_strategy="no",
        save_strategy="no",
        logging_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_pin_memory=False,
    )
    counter = TokenCounter(DataCollatorWithPadding(tokenizer))
    trainer = Trainer(model=model, args=training_args, data_collator=counter, train_dataset=train_ds,
                      processing_class=tokenizer)
    torch.set_num_threads(THREADS)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    load = os.getloadavg()[0]
    real, padded = counter.real, counter.padded  # before predict() runs the same collator over the val split
    optimizer = getattr(trainer.optimizer, "optimizer", trainer.optimizer)  # accelerate wraps it
    optimizer = f"{type(optimizer).__name__}(fused={optimizer.defaults.get('fused')}) " \
        f"[optim={training_args.optim.value}]"
    logits = trainer.predict(val_ds).predictions
    logits = logits[0] if isinstance(logits, tuple) else logits
    prob = torch.softmax(torch.as_tensor(logits, dtype=torch.float32), dim=-1)[:, 1].numpy()
    metrics = classification_metrics([ex["label"] for ex in val], prob, 0.5)
    return {
        "side": "Trainer", "load": load, "precision": "bf16 autocast" if args.trainer_bf16 else "fp32 (default)",
        "samples": len(train) * args.epochs, "seconds": seconds, "f1": metrics["macro_f1"],
        "real_tokens": real, "padded_tokens": padded, "optimizer": optimizer,
        "params": non_embedding_params(model.bert),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="the settings the bench does not fix")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--positives", type=int, default=0, help="cap on positives (0: all of the train split)")
    parser.add_argument("--val", type=int, default=0, help="seeded validation subset size (0: the whole val split)")
    parser.add_argument("--trainer-bf16", action="store_true", help="also give the Trainer bf16=True")
    parser.add_argument("--quick", action="store_true", help="smoke run: 32 positives + 32 negatives, 128 val, 1 epoch")
    parser.add_argument("--tmp", default="/tmp/psy_agents_bench")
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.positives, args.val = 1, 32, 128
    torch.set_num_threads(THREADS)

    train, val = pick_examples(args)
    print(f"criteria, {BACKBONE}: {len(train)} training examples ({sum(e['label'] for e in train)} positive) x "
          f"{args.epochs} epoch(s), {len(val)} validation; batch {args.batch_size}, lr {args.lr}, "
          f"{THREADS} threads, native CPU bf16: {loop._cpu_has_native_bf16()}, load avg {os.getloadavg()[0]:.2f}")
    if os.getloadavg()[0] > (os.cpu_count() or 1) + 0.5:  # more runnable threads than cores: contended
        print(f"WARNING: load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores: other jobs compete for the "
              f"CPU and the timings below will be noisy; rerun when the machine is idle")
    rows = [run_ours(args, train, val), run_trainer(args, train, val)]

    print(f"{'side':<8} {'precision':<16} {'samples/s':>9} {'train s':>8} {'val macro F1':>12} "
          f"{'GFLOP/s':>8} {'padding':>8} {'load':>5}")
    for r in rows:
        r["rate"] = r["samples"] / r["seconds"]
        r["gflops"] = 6 * r["params"] * r["real_tokens"] / r["seconds"] / 1e9
        pad = 1 - r["real_tokens"] / r["padded_tokens"]
        print(f"{r['side']:<8} {r['precision']:<16} {r['rate']:>9.2f} {r['seconds']:>8.1f} {r['f1']:>12.4f} "
              f"{r['gflops']:>8.1f} {pad:>8.1%} {r['load']:>5.2f}")
    ours, theirs = rows
    print(f"GFLOP/s = 6 x {ours['params'] / 1e6:.2f}M non-embedding encoder params x real (non-pad) tokens "
          f"({ours['real_tokens']} ours, {theirs['real_tokens']} Trainer; padded: {ours['padded_tokens']} vs "
          f"{theirs['padded_tokens']}) / train s")
    print(f"precision: ours = train.precision auto -> {ours['precision']} (the CPU has native bf16: "
          f"{loop._cpu_has_native_bf16()}); Trainer = {theirs['precision']}, what TrainingArguments does on CPU "
          f"unless bf16=True")
    print(f"optimizer: ours = {ours['optimizer']}; Trainer = {theirs['optimizer']}")
    print(f"padding = pad share of the training batches' tokens; load = 1-min load average right after each side's "
          f"training (the {os.cpu_count()} cores are shared with other users' jobs)")
    print(f"quality_gap={abs(ours['f1'] - theirs['f1']):.4f}")
    print(f"speedup={ours['rate'] / theirs['rate']:.2f}")


if __name__ == "__main__":
    main()
