"""ONNX export of the three model kinds: checker, parity, dynamic axes, metadata, sizes, fingerprints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from storyml_contract import (
    ARTIFACT_FILES,
    BIO_LABELS,
    CONTRACT_FINGERPRINT,
    CONTRACT_VERSION,
    EVENT_KIND_LABELS,
    NUM_BIO_LABELS,
    NUM_EVENT_KINDS,
    ONNX_INPUTS,
    ONNX_OUTPUTS,
    TOTAL_INPUT_FEATURES,
)
from storyml_contract.character_outputs import HEADS, OUTPUT_NAMES
from torch import nn
from transformers import (
    DistilBertConfig,
    DistilBertForSequenceClassification,
    DistilBertForTokenClassification,
    DistilBertModel,
)

from codegen.spec.export import ExportFile
from codegen.spec.loader import load_specs
from codegen.spec.models import MlpModelFile
from storyml.errors import UserError
from storyml.export import metadata as md
from storyml.export.onnx_export import (
    EXPORT_CONFIGS,
    ExportError,
    artifact_size,
    export_model,
    external_data_files,
)
from storyml.train.mlp import build_model, concat_heads

SPECS = load_specs(Path(__file__).resolve().parents[1] / "specs")
PARITY = SPECS.one(ExportFile).parity
# Tiny encoders: hidden 32, 2 layers. The vocabulary is larger than the position table, as in every
# real encoder (onnxruntime's embedding fusion tells the two tables apart by size).
TINY = dict(
    vocab_size=200, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=128
)


def tiny_event_model() -> nn.Module:
    torch.manual_seed(0)
    return DistilBertForSequenceClassification(DistilBertConfig(**TINY, num_labels=NUM_EVENT_KINDS))


def tiny_ner_model() -> nn.Module:
    torch.manual_seed(1)
    return DistilBertForTokenClassification(DistilBertConfig(**TINY, num_labels=NUM_BIO_LABELS))


def tiny_mlp() -> nn.Module:
    torch.manual_seed(2)
    return build_model(SPECS.one(MlpModelFile))


MODELS = {
    "event_classifier": tiny_event_model,
    "ner_classifier": tiny_ner_model,
    "character_predictor": tiny_mlp,
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each kind exported once: kind -> (model, report)."""
    out = tmp_path_factory.mktemp("artifacts")
    result = {}
    for kind, make in MODELS.items():
        model = make()
        result[kind] = (model, export_model(kind, model, out, SPECS, encoder="tiny"))
    return result


def text_feed(batch: int, length: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, length), dtype=np.int64)
    mask[0, length // 2 :] = 0
    return {
        "input_ids": rng.integers(0, TINY["vocab_size"], (batch, length)).astype(np.int64),
        "attention_mask": mask,
    }


@pytest.mark.parametrize("kind", list(MODELS))
def test_export_passes_checker_and_parity_and_is_the_engine_file(exported, kind):
    _, report = exported[kind]
    assert report.path.name == ARTIFACT_FILES[kind]
    onnx.checker.check_model(str(report.path), full_check=True)
    assert report.max_diff <= PARITY.atol == 1e-4
    assert set(report.max_diff_per_output) == set(ONNX_OUTPUTS[kind])
    assert report.parity_inputs >= PARITY.random_inputs + 2
    assert len({tuple(s) for s in report.parity_shapes}) >= 3  # random batch sizes (and lengths)
    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(ONNX_INPUTS[kind])
    assert [o.name for o in session.get_outputs()] == list(ONNX_OUTPUTS[kind])


@pytest.mark.parametrize("kind", list(MODELS))
def test_reported_size_is_the_whole_artifact_and_weights_are_inside(exported, kind):
    _, report = exported[kind]
    assert report.external_data_files == [] and external_data_files(report.path) == []
    assert report.size_bytes == report.path.stat().st_size
    params = sum(p.numel() for p in exported[kind][0].parameters())
    assert report.size_bytes > 4 * params * 0.9  # float32 weights are in this file (defect 1)


def test_size_counts_external_data_when_there_is_some(exported, tmp_path):
    """Defect 1: a model whose weights sit in a side file is as big as both files together."""
    _, report = exported["character_predictor"]
    model = onnx.load(str(report.path))
    split = tmp_path / "split.onnx"
    onnx.save_model(
        model,
        str(split),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="split.onnx.data",
        size_threshold=0,
    )
    side = tmp_path / "split.onnx.data"
    assert split.stat().st_size < 100_000 < side.stat().st_size
    assert external_data_files(split) == [side]
    assert artifact_size(split) == split.stat().st_size + side.stat().st_size


@pytest.mark.parametrize("kind", ["event_classifier", "ner_classifier"])
def test_text_models_have_dynamic_batch_and_sequence_axes(exported, kind):
    model, report = exported[kind]
    graph = onnx.load(str(report.path), load_external_data=False).graph
    for inp in graph.input:
        dims = inp.type.tensor_type.shape.dim
        assert inp.type.tensor_type.elem_type == onnx.TensorProto.INT64
        assert [d.dim_param for d in dims] == ["batch", "sequence"], inp.name
    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    width = NUM_EVENT_KINDS if kind == "event_classifier" else NUM_BIO_LABELS
    for batch, length in (
        (1, 7),
        (3, 41),
    ):  # neither is the tracing shape, neither is padded to 128
        feed = text_feed(batch, length)
        (logits,) = session.run(None, feed)
        expected = (batch, width) if kind == "event_classifier" else (batch, length, width)
        assert logits.shape == expected
        with torch.no_grad():
            ref = model.eval()(**{k: torch.from_numpy(v) for k, v in feed.items()}).logits.numpy()
        assert np.abs(ref - logits).max() <= PARITY.atol


def test_character_predictor_has_a_dynamic_batch_and_one_output_per_head(exported):
    model, report = exported["character_predictor"]
    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    features = np.random.default_rng(3).normal(size=(5, TOTAL_INPUT_FEATURES)).astype(np.float32)
    outs = session.run(None, {"features": features})
    assert [o.shape for o in outs] == [(5, h.width) for h in HEADS]
    with torch.no_grad():
        ref = concat_heads(model.eval()(torch.from_numpy(features))).numpy()
    assert np.abs(np.concatenate(outs, axis=1) - ref).max() <= PARITY.atol


@pytest.mark.parametrize("kind", list(MODELS))
def test_metadata_names_labels_fingerprint_version_kind_and_encoder(exported, kind):
    _, report = exported[kind]
    meta = md.read_metadata(report.path)
    assert meta.fingerprint == CONTRACT_FINGERPRINT
    assert meta.model_kind == kind and meta.encoder == "tiny" and meta.version
    expected = {
        "event_classifier": {"logits": list(EVENT_KIND_LABELS)},
        "ner_classifier": {"logits": list(BIO_LABELS)},
        "character_predictor": {
            h.name: list(OUTPUT_NAMES[h.offset : h.offset + h.width]) for h in HEADS
        },
    }
    assert meta.labels == expected[kind]
    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    assert md.read_metadata(session) == meta  # the prediction side reads it from a session
    if kind != "character_predictor":
        assert meta.architecture["hidden_size"] == TINY["dim"]


def test_one_head_of_a_multi_task_model_exports_per_file(tmp_path):
    """A shared encoder with two heads returning a dict: each file takes the head it names."""

    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(4)
            self.encoder = DistilBertModel(DistilBertConfig(**TINY))
            self.events = nn.Linear(TINY["dim"], NUM_EVENT_KINDS)
            self.tags = nn.Linear(TINY["dim"], NUM_BIO_LABELS)

        def forward(self, input_ids, attention_mask):
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask
            ).last_hidden_state
            return {"event_logits": self.events(hidden[:, 0]), "ner_logits": self.tags(hidden)}

    model = TwoHeads()
    report = export_model("ner_classifier", model, tmp_path, SPECS, output="ner_logits")
    session = ort.InferenceSession(str(report.path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, text_feed(2, 9))
    assert logits.shape == (2, 9, NUM_BIO_LABELS) and report.max_diff <= PARITY.atol
    with pytest.raises(ExportError, match="no 'sentiment'"):
        export_model("event_classifier", model, tmp_path, SPECS, output="sentiment")


class _Specs:
    """The real specs with the parity tolerance replaced."""

    def __init__(self, atol: float):
        self.export = SPECS.one(ExportFile).model_copy(
            update={"parity": SPECS.one(ExportFile).parity.model_copy(update={"atol": atol})}
        )

    def one(self, kind):
        return self.export if kind is ExportFile else SPECS.one(kind)


def test_a_parity_failure_raises_and_writes_nothing(tmp_path):
    with pytest.raises(
        ExportError, match=r"parity failed: output '\w+' differs from PyTorch by up to .*atol 1e-15"
    ):
        export_model("character_predictor", tiny_mlp(), tmp_path, _Specs(1e-15))
    assert list(tmp_path.iterdir()) == []  # no model, no temporary directory


def test_export_leaves_the_model_in_its_training_mode(tmp_path):
    model = tiny_mlp().train()
    export_model("character_predictor", model, tmp_path, SPECS)
    assert model.training
    with pytest.raises(UserError, match="unknown model kind 'sentiment'"):
        export_model("sentiment", model, tmp_path, SPECS)


# ---------------------------------------------------------------- fingerprint refusal


def _with_fingerprint(src: Path, dst: Path, fingerprint: str | None) -> Path:
    model = onnx.load(str(src))
    props = {p.key: p.value for p in model.metadata_props}
    if fingerprint is None:
        props.pop(md.KEY_FINGERPRINT)
    else:
        props[md.KEY_FINGERPRINT] = fingerprint
    del model.metadata_props[:]
    md.set_props(model, props)
    onnx.save_model(model, str(dst))
    return dst


def test_the_current_fingerprint_is_accepted(exported):
    meta = md.verify_fingerprint(exported["event_classifier"][1].path)
    assert meta.fingerprint == CONTRACT_FINGERPRINT


def test_every_model_carries_the_contract_version(exported):
    for _, report in exported.values():
        assert md.read_metadata(report.path).contract_version == CONTRACT_VERSION


def test_the_major_version_is_checked_before_the_fingerprint(exported):
    path = exported["character_predictor"][1].path
    major = int(CONTRACT_VERSION.split(".")[0])
    with pytest.raises(UserError, match=f"major versions {major} and {major + 1} differ"):
        md.verify_fingerprint(path, expected_version=f"{major + 1}.0.0")
    assert (
        md.verify_fingerprint(path, expected_version=f"{major}.7.1").fingerprint
        == CONTRACT_FINGERPRINT
    )


def test_a_model_built_against_another_contract_is_refused(exported, tmp_path):
    stale = _with_fingerprint(
        exported["event_classifier"][1].path, tmp_path / "old.onnx", "0123456789abcdef"
    )
    with pytest.raises(UserError) as info:
        md.verify_fingerprint(stale)
    message = str(info.value)
    assert (
        "old.onnx" in message and "0123456789abcdef" in message and CONTRACT_FINGERPRINT in message
    )
    assert "storyml build" in message and "storyml gen" in message
    session = ort.InferenceSession(str(stale), providers=["CPUExecutionProvider"])
    with pytest.raises(UserError, match="0123456789abcdef"):
        md.verify_fingerprint(session)


def test_a_model_without_a_fingerprint_is_refused(exported, tmp_path):
    bare = _with_fingerprint(exported["character_predictor"][1].path, tmp_path / "bare.onnx", None)
    with pytest.raises(UserError, match="carries no contract fingerprint"):
        md.verify_fingerprint(bare)


def test_unreadable_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no such ONNX model"):
        md.verify_fingerprint(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not a model")
    with pytest.raises(UserError, match="not a readable ONNX model"):
        md.read_metadata(junk)


def test_every_artifact_has_an_export_config():
    assert set(EXPORT_CONFIGS) == set(ARTIFACT_FILES)
    assert json.loads(json.dumps(EXPORT_CONFIGS["ner_classifier"].dynamic_axes()))["logits"] == {
        "0": "batch",
        "1": "sequence",
    }
