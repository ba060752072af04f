"""Augmentation policy: spans stay exact, deterministic per (seed, epoch, index), guards hold, resources optional."""

from __future__ import annotations

import logging
import random
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import defaults

from psy_agents.augment import wordnet
from psy_agents.augment.methods import DEFAULTS
from psy_agents.augment.policy import Augmenter
from psy_agents.augment.tfidf import fit_tfidf, write_nlpaug_model
from psy_agents.config import AugmentConfig, TfidfConfig
from psy_agents.errors import InputError

DEBIAN_WORDNET = "/usr/share/wordnet"
EVIDENCE = ["I feel sad and tired every single day", "nothing gives me any joy"]
POST = (
    "Hi all, long time reader.\nI have been feeling really down lately. I feel sad and tired every single day, "
    "honestly. My friends stopped calling and nothing gives me any joy.\n\nWork is hard and I am tired, I sleep badly."
)
SPANS = [(POST.index(s), POST.index(s) + len(s)) for s in EVIDENCE]
SENTENCES = [
    "I feel sad and tired every single day and my friends stopped calling.",
    "Work is hard, I sleep badly and I feel tired in the morning.",
    "Nothing gives me any joy anymore, not even music or good food.",
    "I have been feeling really down lately and sad about everything.",
]


def write_wordnet(directory: Path) -> Path:
    """A tiny WordNet database in the Debian/Princeton file format (wndb(5WN)): adjectives and one verb."""
    synsets = {  # (pos, words, antonym: (word no., target synset key, target word no.) or None)
        "sad": ("a", ["sad", "sorrowful"], (1, "glad", 1)),
        "glad": ("a", ["glad"], (1, "sad", 1)),
        "tired": ("a", ["tired", "weary", "exhausted"], (1, "rested", 1)),
        "rested": ("a", ["rested"], (1, "tired", 1)),
        "feel": ("v", ["feel", "experience"], None),
    }
    directory.mkdir(parents=True, exist_ok=True)
    offsets: dict[str, int] = {}
    for pos, name in wordnet.POS_FILES.items():  # two passes: a pointer needs the target's byte offset
        for _ in range(2):
            lines, at = [], 0
            for key, (p, words, ant) in synsets.items():
                if p != pos:
                    continue
                offsets[key] = at
                ptr = f" 001 ! {offsets.get(ant[1], 0):08d} {pos} {ant[0]:02x}{ant[2]:02x}" if ant else " 000"
                words_part = " ".join(f"{w} 0" for w in words)
                line = f"{at:08d} 00 {pos} {len(words):02x} {words_part}{ptr} | a gloss\n"
                lines.append(line)
                at += len(line.encode())
            (directory / f"data.{name}").write_text("".join(lines), encoding="utf-8")
        index = sorted(
            f"{w} {pos} 1 0 1 0 {offsets[key]:08d}\n"
            for key, (p, words, _) in synsets.items()
            if p == pos
            for w in words
        )
        (directory / f"index.{name}").write_text("  1 license header line\n" + "".join(index), encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def resources(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("resources")
    write_nlpaug_model(root / "tfidf", *fit_tfidf(SENTENCES + [POST], defaults(TfidfConfig, min_df=1)))
    return {"tfidf_dir": str(root / "tfidf"), "wordnet_dir": str(write_wordnet(root / "wordnet"))}


def config(resources, **kwargs) -> AugmentConfig:
    values = {"enabled": True, "p_apply": 1.0, "max_replace": 0.2, "methods": {name: 1.0 for name in DEFAULTS},
              **resources, **kwargs}
    return defaults(AugmentConfig, **values)


@pytest.mark.parametrize("method", list(DEFAULTS))
def test_every_method_changes_text_outside_exact_spans(resources, method):
    aug = Augmenter(config(resources, methods={method: 1.0}), seed=13)
    assert aug.active == (method,)
    changed = 0
    for index in range(5):
        text, spans = aug.augment(POST, SPANS, rng_key=(0, index))
        assert [text[s:e] for s, e in spans] == EVIDENCE
        changed += text != POST
        sentence, no_spans = aug.augment(SENTENCES[0], rng_key=(0, index))
        assert no_spans == []
        changed += sentence != SENTENCES[0]
    assert changed == 10


def test_overlapping_and_touching_spans_stay_exact(resources):
    text = "I feel sad and tired.I cannot sleep at night and I hate it so much."
    spans = [(7, 20), (2, 10), (21, 35), (35, 35)]
    aug = Augmenter(config(resources, max_replace=1.0, ops_per_sample=3), seed=0)
    for index in range(20):
        new, new_spans = aug.augment(text, spans, rng_key=(1, index))
        assert [new[s:e] for s, e in new_spans] == [text[s:e] for s, e in spans]


def test_training_loop_augments_train_examples_freshly_each_epoch(resources):
    """How the training loop uses it: train examples only, rng_key=(epoch, example index)."""
    train = [(POST, SPANS), (SENTENCES[1], [])]
    aug = Augmenter(config(resources), seed=7)
    seen = {}
    for epoch in range(3):
        for index, (text, spans) in enumerate(train):
            new, new_spans = aug.augment(text, spans, rng_key=(epoch, index))
            assert new != text and [new[s:e] for s, e in new_spans] == [text[s:e] for s, e in spans]
            seen.setdefault(index, set()).add(new)
    assert all(len(versions) == 3 for versions in seen.values())  # a new variant every epoch

    off = Augmenter(config(resources, p_apply=0.0), seed=7)
    disabled = Augmenter(config(resources, enabled=False), seed=7)
    for index, (text, spans) in enumerate(train):
        assert off.augment(text, spans, rng_key=(0, index)) == (text, spans)
        assert disabled.augment(text, spans, rng_key=(0, index)) == (text, spans)


def test_augment_examples_rewrites_rows_of_both_formats(resources):
    evidence = {"post_id": "p1", "criterion_text": "Low mood most of the day", "post": POST, "label": 1,
                "answers": [{"start": s, "end": e, "text": POST[s:e]} for s, e in SPANS]}
    criteria = {"post_id": "p1", "sentence_id": "p1_0", "sentence": SENTENCES[0], "criterion_text": "Low mood",
                "label": 1}
    aug = Augmenter(config(resources), seed=0)
    new_evidence, new_criteria = aug.augment_examples([evidence, criteria], epoch=1)
    assert new_evidence["post"] != POST and new_criteria["sentence"] != SENTENCES[0]
    assert all(new_evidence["post"][a["start"] : a["end"]] == a["text"] for a in new_evidence["answers"])
    assert [a["text"] for a in new_evidence["answers"]] == EVIDENCE
    assert new_evidence["criterion_text"] == evidence["criterion_text"] and evidence["post"] == POST  # copies
    off = Augmenter(config(resources, p_apply=0.0), seed=0)
    assert off.augment_examples([evidence, criteria], epoch=1) == [evidence, criteria]


def test_same_seed_same_output_other_epoch_or_seed_differs(resources):
    first, second = Augmenter(config(resources), seed=3), Augmenter(config(resources), seed=3)
    outputs = [first.augment(s, rng_key=(0, i)) for i, s in enumerate(SENTENCES)]
    random.seed(99), np.random.seed(99)  # whatever the global RNGs hold, the output does not move
    assert [second.augment(s, rng_key=(0, i)) for i, s in enumerate(SENTENCES)] == outputs
    assert [first.augment(s, rng_key=(1, i)) for i, s in enumerate(SENTENCES)] != outputs
    assert [Augmenter(config(resources), seed=4).augment(s, rng_key=(0, i)) for i, s in enumerate(SENTENCES)] != outputs


def test_global_random_state_is_restored(resources):
    aug = Augmenter(config(resources), seed=0)
    random.seed(5), np.random.seed(5)
    aug.augment(POST, SPANS, rng_key=(0, 0))
    after = (random.random(), np.random.random())
    random.seed(5), np.random.seed(5)
    assert (random.random(), np.random.random()) == after


def test_reserved_words_never_change(resources):
    reserved = ("sad", "Tired", "JOY", "friends")
    aug = Augmenter(config(resources, reserved_words=reserved, max_replace=1.0, ops_per_sample=3), seed=1)

    def counts(text: str) -> list[int]:
        return [len(re.findall(rf"\b{w}\b", text, flags=re.IGNORECASE)) for w in reserved]

    for index in range(40):
        for text in SENTENCES:
            new, _ = aug.augment(text, rng_key=(0, index))
            # inserting a reserved word is allowed (TF-IDF insert), changing or removing one is not
            assert all(n >= o for n, o in zip(counts(new), counts(text))), (text, new)


def test_each_operation_changes_at_most_max_replace_of_the_words(resources):
    text = " ".join(["everything feels heavy and pointless today"] * 6)  # 36 words
    aug = Augmenter(config(resources, methods={"keyboard": 1.0}, max_replace=0.1), seed=0)
    for index in range(10):
        new, _ = aug.augment(text, rng_key=(0, index))
        assert 1 <= sum(a != b for a, b in zip(text.split(), new.split())) <= 3


def test_missing_resources_disable_their_methods_with_one_warning_each(tmp_path, caplog):
    cfg = defaults(AugmentConfig, enabled=True, p_apply=1.0, tfidf_dir=str(tmp_path / "none"),
                   wordnet_dir=str(tmp_path),
                   methods={"tfidf_substitute": 1.0, "tfidf_insert": 1.0, "synonym": 1.0, "keyboard": 1.0})
    with caplog.at_level(logging.WARNING):
        aug = Augmenter(cfg, seed=0)
    assert aug.active == ("keyboard",)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "TF-IDF" in messages[0] and "tfidf_substitute, tfidf_insert" in messages[0]
    assert "WordNet" in messages[1] and "apt-get install wordnet-base" in messages[1]
    assert aug.augment(SENTENCES[0])[0] != SENTENCES[0]

    caplog.clear()
    only_missing = defaults(AugmentConfig, enabled=True, p_apply=1.0, wordnet_dir=str(tmp_path),
                            methods={"antonym": 1.0})
    with caplog.at_level(logging.WARNING):
        aug = Augmenter(only_missing, seed=0)
    assert len(caplog.records) == 2 and "no augmentation method available" in caplog.records[1].getMessage()
    assert aug.augment(SENTENCES[0], rng_key=(0, 1)) == (SENTENCES[0], [])


def test_antonym_is_off_unless_weighted(resources):
    # params.yaml weights antonym 0 (it can flip a symptom's meaning): the one switch
    assert defaults(AugmentConfig).methods["antonym"] == 0.0
    assert "antonym" not in Augmenter(config(resources, methods={"antonym": 0.0, "synonym": 1.0}), seed=0).active
    assert "antonym" not in Augmenter(config(resources, methods={"synonym": 1.0}), seed=0).active
    text, _ = Augmenter(config(resources, methods={"antonym": 1.0}), seed=0).augment("I feel sad today.")
    assert text == "I feel glad today."


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"methods": {"synonyms": 1.0}}, "unknown method"),
        ({"methods": {"keyboard": -1.0}}, "negative weight"),
        ({"p_apply": 1.5}, "p_apply"),
        ({"max_replace": 0.0}, "max_replace"),
        ({"method_params": {"keyboard": {"no_such_arg": 1}}}, "method_params.keyboard"),
        ({"method_params": {"synonym": {"no_such_arg": 1}}}, "method_params.synonym"),
    ],
)
def test_bad_config_is_one_clear_error(resources, kwargs, message):
    with pytest.raises(InputError, match=message):
        Augmenter(config(resources, **kwargs), seed=0)


def test_method_params_reach_nlpaug(resources):
    cfg = config(resources, methods={"random_char": 1.0}, method_params={"random_char": {"action": "delete"}})
    new, _ = Augmenter(cfg, seed=0).augment("everything feels heavy", rng_key=(0, 0))
    assert len(new) == len("everything feels heavy") - 1


def test_mini_wordnet_reader_follows_the_file_format(resources):
    reader = wordnet.WordNet(resources["wordnet_dir"])
    assert reader.synonyms("Tired") == ("weary", "exhausted")
    assert reader.antonyms("sad") == ("glad",) and reader.antonyms("tired") == ("rested",)
    assert reader.synonyms("feels") == ("experience",)  # verb morphology: feels -> feel
    assert reader.synonyms("the") == ()


@pytest.mark.skipif(not wordnet.available(DEBIAN_WORDNET), reason="apt-get install wordnet-base wordnet-sense-index")
def test_debian_wordnet_database():
    reader = wordnet.WordNet(DEBIAN_WORDNET)
    assert "glad" in reader.antonyms("sad") and "hopeful" in reader.antonyms("hopeless")
    assert "weary" in reader.synonyms("tired")
    assert "shout" in reader.synonyms("cried")  # irregular and regular inflections are looked up via morphy
