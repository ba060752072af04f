"""`psy-agents predict` (and `train --out`, which saves the model it predicts with): inputs, outputs, bad input."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import SHARED_SAMPLE, needs_public_sample, tiny_examples, write_params
from test_loop import split, tiny_run

from psy_agents.cli import main
from psy_agents.data.criteria_text import SYMPTOMS
from psy_agents.data.io import write_json, write_jsonl
from psy_agents.inference import read_posts, save_model
from psy_agents.models.backbone import load_tokenizer
from psy_agents.training.loop import train

SAMPLE = SHARED_SAMPLE / "redsm5_posts_sample_paraphrased.csv"


@pytest.fixture(scope="module")
def models(tiny_backbone, tmp_path_factory) -> dict[str, Path]:
    """A criteria model and a span model (share, heads), trained one epoch on tiny examples and saved."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    criteria, evidence = tiny_examples()
    out = {}
    for agent, examples, form in (("criteria", criteria, "pair"), ("share", evidence, "heads")):
        run = tiny_run(agent, tiny_backbone, epochs=1)
        run = replace(run, model=replace(run.model, criterion_input=form))
        result = train(run, *split(examples))
        out[agent] = save_model(tmp_path_factory.mktemp(agent), run, result.model, result.readout,
                                load_tokenizer(tiny_backbone), result.thresholds)
    yield out
    torch.set_num_threads(threads)


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def set_stdin(monkeypatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


@needs_public_sample
@pytest.mark.parametrize("agent", ["criteria", "share"])
def test_release_csv_gives_one_line_per_post_and_a_report(models, agent, tmp_path, capsys):
    out, page = tmp_path / "out" / "predictions.jsonl", tmp_path / "report.html"
    main(["predict", "--model", str(models[agent]), "--input", str(SAMPLE), "--out", str(out), "--html", str(page)])
    rows = read_lines(out)
    posts = list(csv.DictReader(SAMPLE.open(encoding="utf-8-sig")))
    assert [row["id"] for row in rows] == [p["post_id"] for p in posts]
    for post, row in zip(posts, rows, strict=True):
        assert list(row["symptoms"]) == sorted(SYMPTOMS)  # JSON keys are written sorted
        spans = row["sentences"] if agent == "criteria" else [
            e for answer in row["symptoms"].values() for e in answer["evidence"]]
        for span in spans:
            assert post["text"][span["start"]:span["end"]] == span["text"]
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and posts[0]["post_id"] in html
    assert f"{len(rows)} posts" in capsys.readouterr().out


def test_jsonl_and_stdin_inputs(models, tmp_path, monkeypatch):
    posts = tmp_path / "posts.jsonl"
    posts.write_bytes(b'{"id": 1, "text": "I cannot sleep.\\r\\nI am tired."}\n\n{"id": "b", "text": "Fine day."}\n')
    out = tmp_path / "out.jsonl"
    main(["predict", "--model", str(models["share"]), "--input", str(posts), "--out", str(out)])
    assert [row["id"] for row in read_lines(out)] == [1, "b"]
    for answer in read_lines(out)[0]["symptoms"].values():  # offsets index the text with LF line ends
        for span in answer["evidence"]:
            assert "I cannot sleep.\nI am tired."[span["start"]:span["end"]] == span["text"]

    set_stdin(monkeypatch, "I feel empty and sad every single day. Nothing helps.\n".encode())
    main(["predict", "--model", str(models["criteria"]), "--input", "-", "--out", str(out)])
    [row] = read_lines(out)
    assert row["id"] == "stdin" and [s["text"] for s in row["sentences"]] == [
        "I feel empty and sad every single day.", "Nothing helps."]


def test_crlf_line_ends_are_read_as_lf_in_every_format(tmp_path, monkeypatch):
    (tmp_path / "p.csv").write_bytes(b'post_id,text\r\np1,"I cannot sleep.\r\nI am tired."\r\n')
    (tmp_path / "p.jsonl").write_bytes(b'{"id": "p1", "text": "I cannot sleep.\\r\\nI am tired."}\r\n')
    set_stdin(monkeypatch, b"I cannot sleep.\r\nI am tired.")
    for source in (str(tmp_path / "p.csv"), str(tmp_path / "p.jsonl"), "-"):
        [post] = read_posts(source)
        assert post.text == "I cannot sleep.\nI am tired.", source


BAD_FILES = [
    ("posts.csv", b"id,text\np1,I feel sad.\n", "missing column(s) post_id"),
    ("posts.csv", b"", "empty"),
    ("posts.csv", b"post_id,text\n", "header only"),
    ("posts.csv", b"post_id,text\np1,caf\xe9 au lait\n", "not valid UTF-8 (byte 0xe9"),
    ("posts.csv", b'post_id,text\np1,I feel sad.\np2,"  "\n', "post 'p2' (record 2) has an empty text"),
    ("posts.jsonl", b'{"id": 1, "text": "sad"}\n{"id": 2, "text": ""}\n', "post 2 (record 2) has an empty text"),
    ("posts.jsonl", b'{"id": 1}\n', "line 1 lacks text"),
    ("posts.jsonl", b'{"id": 1, "text": "sad"}\nnot json\n', "line 2 is not JSON"),
    ("posts.jsonl", b'{"id": [1], "text": "sad"}\n', "id must be a string or an integer"),
    ("posts.txt", b"I feel sad.", "unknown input type '.txt'"),
]


def expect_one_line_error(capsys, argv: list[str], *fragments: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, err


@pytest.mark.parametrize("name,content,message", BAD_FILES, ids=[m for _, _, m in BAD_FILES])
def test_bad_input_file_is_one_line_exit_2_and_writes_nothing(models, tmp_path, capsys, name, content, message):
    posts = tmp_path / name
    posts.write_bytes(content)
    out, page = tmp_path / "out.jsonl", tmp_path / "report.html"
    expect_one_line_error(capsys, ["predict", "--model", str(models["share"]), "--input", str(posts), "--out",
                                   str(out), "--html", str(page)], str(posts), message)
    assert not out.exists() and not page.exists()


@pytest.mark.parametrize("data,message", [(b"", "stdin: empty"), (b"  \n", "stdin: empty"),
                                          (b"\xff\xfesad", "stdin: not valid UTF-8")])
def test_bad_stdin_is_one_line_exit_2(models, tmp_path, capsys, monkeypatch, data, message):
    set_stdin(monkeypatch, data)
    out = tmp_path / "out.jsonl"
    expect_one_line_error(capsys, ["predict", "--model", str(models["share"]), "--input", "-", "--out", str(out)],
                          message)
    assert not out.exists()


@needs_public_sample
def test_missing_input_and_a_directory_that_is_no_model(models, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    expect_one_line_error(capsys, ["predict", "--model", str(models["share"]), "--input", str(tmp_path / "no.csv"),
                                   "--out", str(out)], "no.csv: file not found")
    expect_one_line_error(capsys, ["predict", "--model", str(tmp_path), "--input", str(SAMPLE), "--out", str(out)],
                          f"{tmp_path}: not a model directory (no config.json, agent.safetensors")
    assert not out.exists()


@needs_public_sample
def test_train_out_saves_the_model_predict_reads(tiny_backbone, tmp_path, monkeypatch):
    criteria, _ = tiny_examples()
    train_ex, val_ex = split(criteria)
    write_jsonl(tmp_path / "data/processed/criteria.jsonl", criteria)
    write_json(tmp_path / "data/processed/splits.json", {
        "train": sorted({e["post_id"] for e in train_ex}), "val": sorted({e["post_id"] for e in val_ex}),
        "test": [], "folds": []})
    write_params(tmp_path, {"model.backbone": tiny_backbone, "model.max_length": 160, "model.head_hidden": 16,
                            "train.epochs": 1, "train.batch_size": 8, "train.lr": 1e-3, "train.precision": "fp32",
                            "train.patience": 0})
    monkeypatch.chdir(tmp_path)
    main(["train", "--agent", "criteria", "--out", "runs/criteria"])
    for name in ("agent.safetensors", "config.json", "run_config.json", "thresholds.json", "tokenizer.json"):
        assert (tmp_path / "runs/criteria/model" / name).is_file(), name
    main(["predict", "--model", "runs/criteria/model", "--input", str(SAMPLE), "--out", "p.jsonl"])
    assert len(read_lines(tmp_path / "p.jsonl")) == 17


@needs_public_sample
@pytest.mark.parametrize("name,content,message", [
    ("run_config.json", "{not json", "run_config.json: not valid JSON"),
    ("thresholds.json", '{"prior_shift": 0.0}', "thresholds.json: no number for decision, null"),
])
def test_a_damaged_model_directory_is_one_line_exit_2(models, tmp_path, capsys, name, content, message):
    import shutil

    damaged = tmp_path / "model"
    shutil.copytree(models["share"], damaged)
    (damaged / name).write_text(content, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    expect_one_line_error(capsys, ["predict", "--model", str(damaged), "--input", str(SAMPLE), "--out", str(out)],
                          message)
    assert not out.exists()


def _truncated(text: str) -> str:
    return text[: len(text) // 2]


def _without(key: str):
    return lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != key})


def _with(path: tuple[str, ...], value):
    def edit(text: str) -> str:
        data = json.loads(text)
        inner = data
        for key in path[:-1]:
            inner = inner[key]
        inner[path[-1]] = value
        return json.dumps(data)
    return edit


DAMAGES = [  # (file, how it is damaged, what the one line says)
    ("run_config.json", _truncated, "run_config.json: not valid JSON"),
    ("run_config.json", _without("model"), "run_config.json: not a run config (model: missing)"),
    ("run_config.json", _with(("train", "lr"), "fast"), "run_config.json: not a run config (train.lr: expected float"),
    ("run_config.json", lambda text: "[]", "run_config.json: not a run config (expected a mapping, got list)"),
    ("thresholds.json", _truncated, "thresholds.json: not valid JSON"),
    ("thresholds.json", _without("decision"), "thresholds.json: no number for decision; save the directory again"),
    ("thresholds.json", _without("prior_shift"), "thresholds.json: no number for prior_shift"),
    ("thresholds.json", _with(("max_answer_tokens",), 2.5),
     "thresholds.json: max_answer_tokens is not a whole number;"),
    ("thresholds.json", _with(("null",), "low"), "thresholds.json: no number for null;"),
    ("thresholds.json", _with(("decision",), True), "thresholds.json: no number for decision;"),
    ("thresholds.json", lambda text: "[0.5]", "thresholds.json: expected a mapping of decision, null"),
]


@pytest.mark.parametrize("name,damage,message", DAMAGES, ids=[m.split(": ", 1)[1][:40] for _, _, m in DAMAGES])
def test_a_corrupt_run_config_or_thresholds_file_is_one_line_exit_2(models, tmp_path, capsys, name, damage, message):
    """Truncated JSON, a missing key or a value of the wrong type in either file the directory's JSON holds: an
    InputError naming the file (one line, exit 2 from the command line), never a traceback or a silent default."""
    import shutil

    from psy_agents.errors import InputError
    from psy_agents.inference import load_model

    damaged = tmp_path / "model"
    shutil.copytree(models["share"], damaged)
    (damaged / name).write_text(damage((damaged / name).read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(InputError, match=re.escape(message)):
        load_model(damaged)
    posts, out = tmp_path / "posts.jsonl", tmp_path / "out.jsonl"
    posts.write_text('{"id": "a", "text": "I cannot sleep at all. I feel worthless."}\n', encoding="utf-8")
    expect_one_line_error(capsys, ["predict", "--model", str(damaged), "--input", str(posts), "--out", str(out)],
                          f"{damaged / name}", message)
    assert not out.exists()


def test_a_token_span_model_without_its_longest_answer_is_one_line_exit_2(models, tmp_path, capsys):
    """Token spans are cut at max_answer_tokens: a thresholds.json without it would fail mid-prediction."""
    import shutil

    damaged = tmp_path / "model"
    shutil.copytree(models["share"], damaged)
    run = json.loads((damaged / "run_config.json").read_text(encoding="utf-8"))
    run["model"]["span_unit"] = "token"
    (damaged / "run_config.json").write_text(json.dumps(run), encoding="utf-8")
    fitted = json.loads((damaged / "thresholds.json").read_text(encoding="utf-8"))
    fitted.pop("max_answer_tokens", None)
    (damaged / "thresholds.json").write_text(json.dumps(fitted), encoding="utf-8")
    posts, out = tmp_path / "posts.jsonl", tmp_path / "out.jsonl"
    posts.write_text('{"id": "a", "text": "I cannot sleep at all."}\n', encoding="utf-8")
    expect_one_line_error(capsys, ["predict", "--model", str(damaged), "--input", str(posts), "--out", str(out)],
                          f"{damaged / 'thresholds.json'}", "a token-span model needs max_answer_tokens")
    assert not out.exists()


@needs_public_sample
def test_out_dash_writes_the_jsonl_to_stdout(models, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    main(["predict", "--model", str(models["share"]), "--input", str(SAMPLE), "--out", "-"])
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert len(rows) == len(read_posts(str(SAMPLE))) and "symptoms" in rows[0]
    assert "posts (share) -> stdout" in captured.err and not (tmp_path / "-").exists()


@needs_public_sample
def test_out_dash_into_a_pipe_closed_early_is_no_error(models, tmp_path, monkeypatch, capsys):
    class ClosedPipe(io.StringIO):  # what stdout is once `| head` has read enough and exited
        def __init__(self, fd: int) -> None:
            super().__init__()
            self.fd = fd

        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self) -> int:
            return self.fd

    with open(tmp_path / "stdout", "w") as real:
        monkeypatch.setattr(sys, "stdout", ClosedPipe(real.fileno()))
        main(["predict", "--model", str(models["share"]), "--input", str(SAMPLE), "--out", "-"])
    assert "-> stdout" in capsys.readouterr().err
