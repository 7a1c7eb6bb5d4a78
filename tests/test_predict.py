"""`storyml predict` and `storyml evaluate` on tiny exported models (random weights, seconds).

The models are tiny BERTs exported with storyml's own exporter; their predictions are
arbitrary, so the tests check what must hold for any model: the result shape, offsets that
index the input, order, batching that changes nothing, decoding that matches the contract
(checked against the PyTorch models the files were exported from), refusals with exit 2, and
a report that labels template figures honestly.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from conftest import TINY_TOKENIZER_CORPUS
from contract_samples import random_labels
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from storyml_contract import ARTIFACT_FILES, CONTRACT_VERSION, TOKENIZER_FILE, TOTAL_INPUT_FEATURES
from storyml_contract.character_outputs import HEADS
from storyml_contract.text import (
    ENTITY_CATEGORIES,
    EVENT_AT_LEAST_ONE,
    EVENT_KIND_LABELS,
    EVENT_THRESHOLD,
    MAX_SEQ_LENGTH,
    NUM_BIO_LABELS,
    NUM_EVENT_KINDS,
    decode_tags,
)

from codegen.spec.loader import load_specs
from storyml.cli import main
from storyml.data.bio import continues_word_flags, tags_to_spans
from storyml.errors import UserError
from storyml.evaluate import metrics
from storyml.evaluate.evalsets import (
    DEV_PROSE_SET,
    DEVELOPMENT_LABEL,
    GENERALIZATION_LABEL,
    REAL_PROSE_FILE,
    REAL_PROSE_SET,
    TEMPLATE_SETS,
    load_event_records,
)
from storyml.evaluate.report import TEMPLATE_LABEL
from storyml.export import metadata as md
from storyml.predict import EngineTokenizer, Predictor, plan_windows, resolve_artifacts_dir

ROOT = Path(__file__).resolve().parents[1]
RESULT_KEYS = {"text", "event_kinds", "entities", "windows"}
KIND_KEYS = {"label", "confidence"}
ENTITY_KEYS = {"start", "end", "text", "category", "confidence"}
SAMPLE_TEXTS = [
    "Sarah picked up the stone and looked at the riverbed.",
    "Zoë smiled at Łucja near the old café.",
    "",
    "I walk toward the clearing with trembling hands.",
    "   ",
    "Rain began to fall over the valley while the elders argued.",
    "Þórr carried the key across the frozen fjord.",
]


# --- Tiny artifacts ----------------------------------------------------------------------------


class TinyCharacterModel(torch.nn.Module):
    """features -> one tensor per head of the contract, in head order."""

    def __init__(self):
        super().__init__()
        self.trunk = torch.nn.Linear(TOTAL_INPUT_FEATURES, 16)
        self.heads = torch.nn.ModuleList(torch.nn.Linear(16, h.width) for h in HEADS)

    def forward(self, features):
        hidden = torch.relu(self.trunk(features))
        return tuple(head(hidden) for head in self.heads)


def _tiny_bert(kind: str, vocab_size: int, num_labels: int) -> torch.nn.Module:
    from transformers import BertConfig, BertForSequenceClassification, BertForTokenClassification

    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=MAX_SEQ_LENGTH,
        num_labels=num_labels,
    )
    cls = (
        BertForSequenceClassification if kind == "event_classifier" else BertForTokenClassification
    )
    return cls(config).eval()


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, tiny_tokenizer):
    """An artifacts directory with all three exported models, plus the PyTorch originals."""
    from storyml.export.onnx_export import export_model

    torch.manual_seed(7)
    out = tmp_path_factory.mktemp("artifacts")
    tiny_tokenizer.backend_tokenizer.save(str(out / TOKENIZER_FILE))
    specs = load_specs(ROOT / "specs")
    models = {
        "event_classifier": _tiny_bert("event_classifier", len(tiny_tokenizer), NUM_EVENT_KINDS),
        "ner_classifier": _tiny_bert("ner_classifier", len(tiny_tokenizer), NUM_BIO_LABELS),
        "character_predictor": TinyCharacterModel().eval(),
    }
    # The random classifier would predict every kind or none; spread the event biases so some
    # kinds fire and some do not.
    with torch.no_grad():
        models["event_classifier"].classifier.bias.copy_(torch.linspace(-1.0, 1.0, NUM_EVENT_KINDS))
    for kind, model in models.items():
        export_model(
            kind, model, out, specs, output="logits" if kind != "character_predictor" else None
        )
    return out, models


@pytest.fixture(scope="session")
def artifacts(tiny_models) -> Path:
    return tiny_models[0]


@pytest.fixture(scope="session")
def predictor(artifacts) -> Predictor:
    return Predictor(artifacts)


def _copy_artifacts(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _set_fingerprint(path: Path, fingerprint: str) -> None:
    model = onnx.load(str(path))
    md.set_props(model, {md.KEY_FINGERPRINT: fingerprint})
    onnx.save(model, str(path))


# --- The result shape ------------------------------------------------------------------------


def _check_result(text: str, result: dict) -> None:
    assert set(result) == RESULT_KEYS
    assert result["text"] == text
    labels = [k["label"] for k in result["event_kinds"]]
    assert labels == [label for label in EVENT_KIND_LABELS if label in labels], "contract order"
    for kind in result["event_kinds"]:
        assert set(kind) == KIND_KEYS
        assert kind["label"] in EVENT_KIND_LABELS
        # below the threshold only as the one kind a sentence must have (EVENT_AT_LEAST_ONE)
        below = kind["confidence"] < EVENT_THRESHOLD
        assert 0.0 <= kind["confidence"] <= 1.0 and (
            not below or (EVENT_AT_LEAST_ONE and len(labels) == 1)
        )
    previous_end = 0
    for entity in result["entities"]:
        assert set(entity) == ENTITY_KEYS
        assert previous_end <= entity["start"] < entity["end"] <= len(text)
        assert text[entity["start"] : entity["end"]] == entity["text"]
        assert entity["category"] in ENTITY_CATEGORIES
        assert 0.0 <= entity["confidence"] <= 1.0
        previous_end = entity["end"]


def test_predict_returns_the_documented_shape_with_offsets_into_the_text(predictor):
    results = predictor.predict(SAMPLE_TEXTS)
    assert [r["text"] for r in results] == SAMPLE_TEXTS
    for text, result in zip(SAMPLE_TEXTS, results):
        _check_result(text, result)
    # Random weights still produce something to check: some kinds and some spans somewhere.
    assert any(r["event_kinds"] for r in results)
    assert any(r["entities"] for r in results)


def test_empty_and_blank_text_get_no_kinds_and_no_entities(predictor):
    for text in ("", "   ", "\n\t"):
        assert predictor.predict([text]) == [
            {"text": text, "event_kinds": [], "entities": [], "windows": 0}
        ]
    assert predictor.predict([]) == []


def test_batching_and_padding_do_not_change_results(artifacts):
    one_by_one = Predictor(artifacts, batch_size=1).predict(SAMPLE_TEXTS)
    batched = Predictor(artifacts, batch_size=4).predict(SAMPLE_TEXTS)
    for a, b in zip(one_by_one, batched):
        assert [k["label"] for k in a["event_kinds"]] == [k["label"] for k in b["event_kinds"]]
        assert [(e["start"], e["end"], e["category"]) for e in a["entities"]] == [
            (e["start"], e["end"], e["category"]) for e in b["entities"]
        ]
        for x, y in zip(a["event_kinds"] + a["entities"], b["event_kinds"] + b["entities"]):
            assert x["confidence"] == pytest.approx(y["confidence"], abs=1e-4)


def test_decoding_matches_the_contract_on_the_pytorch_models(
    tiny_models, tiny_tokenizer, predictor
):
    """Kinds = sigmoid(logit) > threshold and strict spans from the argmax, computed here from the
    PyTorch models on unpadded single inputs, equal what the ONNX path returns."""
    _, models = tiny_models
    texts = [t for t in SAMPLE_TEXTS if t.strip()]
    results = predictor.predict(texts)
    for text, result in zip(texts, results):
        enc = tiny_tokenizer(
            text,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
            truncation=True,
            max_length=MAX_SEQ_LENGTH,
        )
        ids = torch.tensor([enc["input_ids"]])
        mask = torch.ones_like(ids)
        with torch.no_grad():
            event = torch.sigmoid(
                models["event_classifier"](input_ids=ids, attention_mask=mask).logits[0]
            )
            ner_logits = models["ner_classifier"](input_ids=ids, attention_mask=mask).logits[0]
            ner = torch.softmax(ner_logits, -1)
        expected_kinds = [
            EVENT_KIND_LABELS[i] for i in range(NUM_EVENT_KINDS) if event[i] > EVENT_THRESHOLD
        ]
        if not expected_kinds and EVENT_AT_LEAST_ONE:
            expected_kinds = [EVENT_KIND_LABELS[int(event.argmax())]]
        assert [k["label"] for k in result["event_kinds"]] == expected_kinds
        for k in result["event_kinds"]:
            assert k["confidence"] == pytest.approx(
                float(event[EVENT_KIND_LABELS.index(k["label"])]), abs=1e-4
            )
        special = [bool(s) for s in enc["special_tokens_mask"]]
        words = continues_word_flags(enc.word_ids())
        tags = decode_tags(ner_logits.double().tolist(), special, words)  # the engine's decoding
        spans = tags_to_spans(tags, enc["offset_mapping"], special, ner.numpy(), words)
        assert [(e["start"], e["end"], e["category"]) for e in result["entities"]] == [
            (s["start"], s["end"], s["category"]) for s in spans
        ]


def _long_text(words: int) -> tuple[str, int]:
    """Paragraphs of the tokenizer's corpus, at least `words` words; and where the last one starts."""
    paragraphs, count, i = [], 0, 0
    while count < words:
        paragraph = " ".join(
            TINY_TOKENIZER_CORPUS[(i + k) % len(TINY_TOKENIZER_CORPUS)] for k in range(5)
        )
        paragraphs.append(paragraph)
        count, i = count + len(paragraph.split()), i + 1
    text = "\n\n".join(paragraphs)
    return text, text.rindex("\n\n") + 2


def test_a_5000_word_text_loses_nothing_entities_come_from_its_last_paragraph(predictor):
    text, last = _long_text(5000)
    [result] = predictor.predict([text])
    _check_result(text, result)
    assert result["windows"] == len(predictor.windows(text)) > 1
    assert any(e["start"] >= last for e in result["entities"])
    assert max(e["end"] for e in result["entities"]) > len(text) - 200


def test_windows_cover_the_text_on_word_boundaries_and_overlap(predictor):
    text, _ = _long_text(600)
    windows = predictor.windows(text)
    assert windows[0][0] == 0 and windows[-1][1] == len(text.rstrip())
    for (a, b), (c, d) in zip(windows, windows[1:]):
        assert a < c < b < d  # consecutive windows overlap, in order
        for cut in (b, c):  # never inside a word
            assert not (text[cut - 1].isalnum() and text[cut].isalnum()), text[cut - 10 : cut + 10]
    for a, b in windows:
        assert len(predictor.tokenizer([text[a:b]])["input_ids"][0]) <= MAX_SEQ_LENGTH
    assert predictor.windows("Tom smiled.") == [(0, len("Tom smiled."))]


def test_long_text_results_are_the_windows_results_merged(predictor):
    """Every entity comes from one window's own prediction; kinds are the union over windows;
    entities never overlap (duplicates from the shared parts collapse)."""
    text, _ = _long_text(700)
    [result] = predictor.predict([text])
    windows = predictor.windows(text)
    parts = predictor.predict([text[a:b] for a, b in windows])
    assert all(p["windows"] == 1 for p in parts)
    from_windows = {
        (e["start"] + a, e["end"] + a, e["category"])
        for (a, _), p in zip(windows, parts)
        for e in p["entities"]
    }
    assert {(e["start"], e["end"], e["category"]) for e in result["entities"]} <= from_windows
    union = {k["label"] for p in parts for k in p["event_kinds"]}
    assert [k["label"] for k in result["event_kinds"]] == [
        k for k in EVENT_KIND_LABELS if k in union
    ]
    _check_result(text, result)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 3), max_size=400), st.integers(1, 40), st.integers(0, 20))
def test_plan_windows_covers_every_token_within_budget(word_lengths, budget, overlap):
    word_ids = [w for w, n in enumerate(word_lengths) for _ in range(n)]
    windows = plan_windows(word_ids, budget, overlap)
    n = len(word_ids)
    assert windows[0][0] == 0 and windows[-1][1] == n
    for s, e in windows:
        assert 0 <= s < e <= s + budget or n == 0
    for (s, e), (s2, e2) in zip(windows, windows[1:]):
        assert s < s2 <= e < e2  # progress, no gap
    starts = {t for t in range(n) if t == 0 or word_ids[t] != word_ids[t - 1]}
    for s, e in windows[:-1]:
        # A window ends on a word boundary unless it holds part of one word only.
        assert e in starts or not any(s < t < e for t in starts)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.text(alphabet="abcdeéøŁ 李,.'\"—\n", max_size=60), max_size=6))
def test_any_text_gives_one_well_formed_result_per_input_in_order(predictor, texts):
    results = predictor.predict(texts)
    assert len(results) == len(texts)
    for text, result in zip(texts, results):
        _check_result(text, result)


def test_engine_tokenizer_uses_only_tokenizer_json_and_never_pads(artifacts, tiny_tokenizer):
    tok = EngineTokenizer(artifacts / TOKENIZER_FILE)
    short, long = "Tom smiled.", "Sarah picked up the stone and looked at the riverbed."
    encoded = tok([short, long])
    assert [len(ids) for ids in encoded["input_ids"]] == [
        len(tiny_tokenizer(t)["input_ids"]) for t in (short, long)
    ]
    assert encoded["input_ids"][1] == tiny_tokenizer(long)["input_ids"]


def test_a_tokenizer_file_that_pads_to_128_is_not_padded_at_inference():
    """The MiniLM tokenizer.json ships padding to 128 (defect 7's shape); prediction pads per batch."""
    from conftest import minilm_tokenizer_file

    tok = EngineTokenizer(minilm_tokenizer_file())
    encoded = tok(
        ["Tom smiled.", " ".join(["Sarah picked up the stone."] * 60)], max_length=MAX_SEQ_LENGTH
    )
    assert len(encoded["input_ids"][0]) == 5  # [CLS] tom smiled . [SEP]
    assert len(encoded["input_ids"][1]) == MAX_SEQ_LENGTH
    assert encoded["special_tokens_mask"][1][-1] == 1


# --- The command line ------------------------------------------------------------------------


def test_cli_input_output_writes_one_line_per_input_in_order(artifacts, tmp_path, capsys):
    records = [{"text": t, "id": i} for i, t in enumerate(SAMPLE_TEXTS)]
    source = tmp_path / "in.jsonl"
    source.write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8"
    )
    target = tmp_path / "out.jsonl"
    assert (
        main(
            [
                "predict",
                "--artifacts",
                str(artifacts),
                "--input",
                str(source),
                "--output",
                str(target),
            ]
        )
        == 0
    )
    lines = target.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(SAMPLE_TEXTS)
    results = [json.loads(line) for line in lines]
    assert [r.pop("id") for r in results] == list(range(len(SAMPLE_TEXTS)))
    assert [r["text"] for r in results] == SAMPLE_TEXTS
    for text, result in zip(SAMPLE_TEXTS, results):
        _check_result(text, result)
    assert results == Predictor(artifacts).predict(SAMPLE_TEXTS)


def test_cli_prints_readable_results(artifacts, capsys):
    assert main(["predict", "--artifacts", str(artifacts), "Zoë smiled at Łucja."]) == 0
    out = capsys.readouterr().out
    assert '"Zoë smiled at Łucja."' in out and "event kinds:" in out and "entities:" in out


def test_cli_reads_the_last_build_from_artifacts_latest(artifacts, tmp_path, monkeypatch, capsys):
    build = tmp_path / "artifacts" / "build-1"
    _copy_artifacts(artifacts, build)
    (tmp_path / "artifacts" / "LATEST").write_text("build-1\n")
    monkeypatch.chdir(tmp_path)
    assert resolve_artifacts_dir(None) == Path("artifacts") / "build-1"
    assert main(["predict", "--json", "Tom smiled."]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == "Tom smiled."


@pytest.mark.parametrize("remove", ["dir", TOKENIZER_FILE, ARTIFACT_FILES["ner_classifier"]])
def test_missing_artifacts_say_to_run_build(artifacts, tmp_path, capsys, remove):
    target = _copy_artifacts(artifacts, tmp_path / "a")
    if remove == "dir":
        shutil.rmtree(target)
    else:
        (target / remove).unlink()
    assert main(["predict", "--artifacts", str(target), "Tom smiled."]) == 2
    err = capsys.readouterr().err
    assert "storyml build" in err and str(target) in err


def test_missing_default_artifacts_say_to_run_build(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["predict", "Tom smiled."]) == 2
    assert "storyml build" in capsys.readouterr().err


def test_missing_int8_files_are_named(artifacts):
    with pytest.raises(UserError, match=r"event_classifier\.int8\.onnx"):
        Predictor(artifacts, int8=True)


def test_a_model_from_another_contract_is_refused_with_exit_2(artifacts, tmp_path, capsys):
    target = _copy_artifacts(artifacts, tmp_path / "stale")
    _set_fingerprint(target / ARTIFACT_FILES["event_classifier"], "0123456789abcdef")
    assert main(["predict", "--artifacts", str(target), "Tom smiled."]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "0123456789abcdef" in err and "contract" in err and "storyml build" in err


def _set_contract_version(path: Path, version: str) -> None:
    model = onnx.load(str(path))
    md.set_props(model, {md.KEY_CONTRACT_VERSION: version})
    onnx.save(model, str(path))


def test_a_model_of_another_major_contract_version_is_refused_with_exit_2(
    artifacts, tmp_path, capsys
):
    """Named as plainly as a fingerprint mismatch, and before it: the versions say what differs."""
    target = _copy_artifacts(artifacts, tmp_path / "next-major")
    major = int(CONTRACT_VERSION.split(".")[0])
    _set_contract_version(target / ARTIFACT_FILES["ner_classifier"], f"{major + 1}.0.0")
    _set_fingerprint(target / ARTIFACT_FILES["ner_classifier"], "0123456789abcdef")
    assert main(["predict", "--artifacts", str(target), "Tom smiled."]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert (
        f"built for contract version {major + 1}.0.0" in err
        and f"reads contract version {CONTRACT_VERSION}" in err
    )
    assert "storyml build" in err and ARTIFACT_FILES["ner_classifier"] in err


def test_another_minor_contract_version_is_judged_by_the_fingerprint(artifacts, tmp_path, capsys):
    target = _copy_artifacts(artifacts, tmp_path / "next-minor")
    major = CONTRACT_VERSION.split(".")[0]
    _set_contract_version(target / ARTIFACT_FILES["event_classifier"], f"{major}.99.0")
    assert main(["predict", "--artifacts", str(target), "Tom smiled."]) == 0
    capsys.readouterr()


def test_swapped_event_and_ner_models_are_refused_by_kind(artifacts, tmp_path, capsys):
    target = _copy_artifacts(artifacts, tmp_path / "swapped")
    event, ner = (target / ARTIFACT_FILES[m] for m in ("event_classifier", "ner_classifier"))
    event.rename(tmp_path / "e.onnx")
    ner.rename(event)
    (tmp_path / "e.onnx").rename(ner)
    assert main(["predict", "--artifacts", str(target), "Tom smiled."]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "ner_classifier" in err and "event_classifier" in err and "storyml build" in err
    # Without the model-kind key the contract's labels key still tells them apart.
    for path in (event, ner):
        model = onnx.load(str(path))
        kept = [(p.key, p.value) for p in model.metadata_props if p.key != md.KEY_MODEL_KIND]
        del model.metadata_props[:]
        md.set_props(model, dict(kept))
        onnx.save(model, str(path))
    with pytest.raises(UserError, match="labels"):
        Predictor(target)


def test_a_bad_line_gets_an_error_in_its_place_and_exit_1(artifacts, tmp_path, capsys):
    source = tmp_path / "bad.jsonl"
    source.write_text(
        '{"text": "ok", "id": "a"}\n{"txt": "no", "id": "b"}\n\n{"text": "Tom smiled."}\n',
        encoding="utf-8",
    )
    target = tmp_path / "out.jsonl"
    assert (
        main(
            [
                "predict",
                "--artifacts",
                str(artifacts),
                "--input",
                str(source),
                "--output",
                str(target),
            ]
        )
        == 1
    )
    out = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert len(out) == 4
    assert out[0]["id"] == "a" and "error" not in out[0] and out[0]["windows"] == 1
    assert out[1] == {
        "txt": "no",
        "id": "b",
        "error": "line 2: a record needs a string field 'text'",
    }
    assert set(out[2]) == {"error"} and "line 3" in out[2]["error"]
    assert out[3]["text"] == "Tom smiled." and "error" not in out[3]
    err = capsys.readouterr().err
    assert "2 of 4 lines failed (lines 2, 3)" in err and "Traceback" not in err


def test_input_fields_named_like_predictions_are_kept(artifacts, tmp_path, capsys):
    """An evaluation file's gold `entities` and `event_kinds` pass through as input_<name>."""
    source = tmp_path / "gold.jsonl"
    gold = {
        "text": "Tom smiled.",
        "entities": [{"start": 0, "end": 3}],
        "event_kinds": ["X"],
        "input_entities": 1,
    }
    source.write_text(json.dumps(gold) + "\n", encoding="utf-8")
    assert main(["predict", "--artifacts", str(artifacts), "--input", str(source)]) == 0
    [out] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert out["input_input_entities"] == gold["entities"] and out["input_entities"] == 1
    assert out["input_event_kinds"] == ["X"]
    assert {"entities", "event_kinds", "windows", "text"} <= set(out)


def test_character_predictor_outputs_concatenate_the_heads(tiny_models, predictor):
    _, models = tiny_models
    features = np.random.default_rng(0).normal(size=(5, TOTAL_INPUT_FEATURES)).astype(np.float32)
    outputs = predictor.predict_characters(features)
    with torch.no_grad():
        expected = torch.cat(
            models["character_predictor"](torch.from_numpy(features)), dim=1
        ).numpy()
    np.testing.assert_allclose(outputs, expected, atol=1e-5)
    assert predictor.predict_characters(np.zeros((0, TOTAL_INPUT_FEATURES))).shape == (
        0,
        expected.shape[1],
    )


# --- storyml evaluate --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """Tiny template-style splits and a character validation split, as the build writes them."""
    out = tmp_path_factory.mktemp("data")
    real = load_event_records(REAL_PROSE_FILE)
    # Stand-ins for template sentences: the events format is all that matters here.
    for n, spec in enumerate(TEMPLATE_SETS):
        rows = real[n * 5 : n * 5 + 5]
        (out / spec.file).write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
    rng = np.random.default_rng(1)
    features = rng.normal(size=(12, TOTAL_INPUT_FEATURES))
    labels = random_labels(rng, 12)
    (out / "characters.val.jsonl").write_text(
        "".join(
            json.dumps({"features": f.tolist(), "labels": y.tolist()}) + "\n"
            for f, y in zip(features, labels)
        )
    )
    return out


@pytest.fixture(scope="session")
def evaluated(artifacts, data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    code = main(
        ["evaluate", "--artifacts", str(artifacts), "--data", str(data_dir), "--out", str(out)]
    )
    return code, out


def test_evaluate_writes_report_json_markdown_and_plots(evaluated):
    code, out = evaluated
    assert code == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert set(report["sets"]) == {s.name for s in TEMPLATE_SETS} | {
        DEV_PROSE_SET.name,
        REAL_PROSE_SET.name,
    }
    assert report["skipped"] == {}
    assert report["characters"]["n"] == 12
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == sorted(
        f"{kind}_{name}.png" for name in report["sets"] for kind in ("f1", "entity_confusion")
    )
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_labels_template_figures_and_sizes_the_real_prose_estimate(evaluated):
    _, out = evaluated
    markdown = (out / "report.md").read_text(encoding="utf-8")
    n = len(load_event_records(REAL_PROSE_FILE))
    assert TEMPLATE_LABEL == "template data (not a measure of generalization)"
    assert TEMPLATE_LABEL in markdown
    assert f"n = {n} sentences" in markdown
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["generalization_estimate"]["set"] == "real_prose"
    assert report["generalization_estimate"]["n"] == n
    for name, s in report["sets"].items():
        assert s["label"] == {
            REAL_PROSE_SET.name: GENERALIZATION_LABEL,
            DEV_PROSE_SET.name: DEVELOPMENT_LABEL,
        }.get(name, TEMPLATE_LABEL)
    # The real-prose heading comes before the template figures.
    assert markdown.index("real prose") < markdown.index(TEMPLATE_LABEL)


def test_evaluate_scores_are_those_of_the_deployed_predictions(evaluated, predictor):
    _, out = evaluated
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    records = load_event_records(REAL_PROSE_FILE)
    results = predictor.predict([r["text"] for r in records])
    events = metrics.event_metrics(
        [r["event_kinds"] for r in records],
        [[k["label"] for k in r["event_kinds"]] for r in results],
    )
    spans = metrics.span_metrics([r["entities"] for r in records], [r["entities"] for r in results])
    assert report["sets"]["real_prose"]["events"] == json.loads(json.dumps(events))
    assert report["sets"]["real_prose"]["entity_spans"] == json.loads(json.dumps(spans))


def test_evaluate_is_deterministic_and_lists_missing_splits(artifacts, evaluated, tmp_path, capsys):
    _, first = evaluated
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "again"
    assert (
        main(["evaluate", "--artifacts", str(artifacts), "--data", str(empty), "--out", str(out)])
        == 0
    )
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert set(report["skipped"]) == {s.name for s in TEMPLATE_SETS} | {"characters"}
    assert (
        report["sets"]["real_prose"]
        == json.loads((first / "report.json").read_text())["sets"]["real_prose"]
    )
    assert "## Not evaluated" in (out / "report.md").read_text(encoding="utf-8")
    again = tmp_path / "again2"
    assert (
        main(["evaluate", "--artifacts", str(artifacts), "--data", str(empty), "--out", str(again)])
        == 0
    )
    assert (again / "report.json").read_bytes() == (out / "report.json").read_bytes()
    assert (again / "report.md").read_bytes() == (out / "report.md").read_bytes()


def test_evaluate_refuses_a_stale_model(artifacts, tmp_path, capsys):
    target = _copy_artifacts(artifacts, tmp_path / "stale")
    _set_fingerprint(target / ARTIFACT_FILES["ner_classifier"], "fedcba9876543210")
    assert main(["evaluate", "--artifacts", str(target), "--out", str(tmp_path / "r")]) == 2
    assert "fedcba9876543210" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_evaluate_replaces_an_old_report_and_refuses_a_foreign_directory(
    artifacts, tmp_path, capsys
):
    out = tmp_path / "report"
    out.mkdir()
    (out / "f1_gone_set.png").write_bytes(b"\x89PNG old plot")
    assert (
        main(
            ["evaluate", "--artifacts", str(artifacts), "--data", str(tmp_path), "--out", str(out)]
        )
        == 0
    )
    assert not (out / "f1_gone_set.png").exists()
    assert (out / "report.md").is_file()
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert (
        main(
            [
                "evaluate",
                "--artifacts",
                str(artifacts),
                "--data",
                str(tmp_path),
                "--out",
                str(foreign),
            ]
        )
        == 2
    )
    assert "notes.txt" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "mine"
