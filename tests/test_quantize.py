"""INT8 quantization: smaller files that decide like the FP32 model, keep metadata, and obey the gates."""

from __future__ import annotations

import contextlib
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from storyml_contract import NUM_EVENT_KINDS, TOTAL_INPUT_FEATURES
from transformers import DistilBertConfig, DistilBertForSequenceClassification

from codegen.spec.export import ExportFile
from codegen.spec.loader import load_specs
from codegen.spec.models import MlpModelFile
from storyml.data.decode import event_decisions
from storyml.export import metadata as md
from storyml.export import onnx_export
from storyml.export import quantize as q
from storyml.export.onnx_export import artifact_size, export_model
from storyml.train.mlp import build_model

SPECS = load_specs(Path(__file__).resolve().parents[1] / "specs")
GATES = SPECS.one(ExportFile).quantization.gates
VOCAB = 200
LAYERS = 2


def tiny_encoder() -> DistilBertForSequenceClassification:
    torch.manual_seed(0)
    return DistilBertForSequenceClassification(
        DistilBertConfig(
            vocab_size=VOCAB,
            dim=32,
            n_layers=LAYERS,
            n_heads=2,
            hidden_dim=64,
            num_labels=NUM_EVENT_KINDS,
            max_position_embeddings=128,
        )
    )


@pytest.fixture(scope="module")
def fp32(tmp_path_factory):
    out = tmp_path_factory.mktemp("fp32")
    event = tiny_encoder()
    torch.manual_seed(1)
    mlp = build_model(SPECS.one(MlpModelFile))
    return {
        "event_classifier": export_model(
            "event_classifier", event, out, SPECS, encoder="tiny"
        ).path,
        "character_predictor": export_model("character_predictor", mlp, out, SPECS).path,
    }


def text_eval(batches: int = 4) -> q.EvalSet:
    rng = np.random.default_rng(5)
    feeds = []
    for _ in range(batches):
        ids = rng.integers(0, VOCAB, (8, 20)).astype(np.int64)
        mask = np.ones_like(ids)
        mask[:3, 12:] = 0
        feeds.append({"input_ids": ids, "attention_mask": mask})
    return q.EvalSet(feeds)


def feature_eval() -> q.EvalSet:
    rng = np.random.default_rng(6)
    return q.EvalSet(
        [
            {"features": rng.normal(size=(16, TOTAL_INPUT_FEATURES)).astype(np.float32)}
            for _ in range(4)
        ]
    )


EVALS = {"event_classifier": text_eval, "character_predictor": feature_eval}


@pytest.mark.parametrize("kind", list(EVALS))
def test_int8_is_smaller_agrees_with_fp32_and_keeps_metadata(fp32, tmp_path, kind):
    # An untrained model's F1 is noise; a toy encoder's graph is a larger share of its bytes than a real one's.
    gates = GATES.model_copy(update={"max_f1_drop": 1.0, "max_size_ratio": 0.5})
    report = q.quantize_model(SPECS, fp32[kind], EVALS[kind](), tmp_path / "int8.onnx", gates=gates)
    assert report.passed and report.int8_path == tmp_path / "int8.onnx"
    assert (
        report.int8_size_bytes == artifact_size(report.int8_path) < 0.5 * artifact_size(fp32[kind])
    )
    assert report.agreement >= 0.9 and report.decisions > 0
    assert md.read_props(fp32[kind]).items() <= md.read_props(report.int8_path).items()
    assert md.verify_fingerprint(report.int8_path).model_kind == kind
    ops = {n.op_type for n in onnx.load(str(report.int8_path)).graph.node}
    assert ops & {
        "MatMulInteger",
        "DynamicQuantizeMatMul",
        "QAttention",
        "QGemm",
        "DynamicQuantizeLinear",
    }
    assert report.optimized == (
        kind == "event_classifier"
    )  # transformer fusions only for the encoder
    assert list(tmp_path.iterdir()) == [tmp_path / "int8.onnx"]


def test_the_exported_encoder_fuses_and_its_int8_model_runs_the_fused_kernels(fp32, tmp_path):
    """onnxruntime's transformer optimizer recognises the exported graph: each layer's attention
    becomes one Attention kernel, residual + LayerNorm SkipLayerNormalization, bias + GELU
    BiasGelu; the INT8 model is quantized from that graph (QAttention)."""
    fused = q.fuse_transformer(fp32["event_classifier"], tmp_path / "fused.onnx")
    assert fused == {
        "Attention": LAYERS,
        "BiasGelu": LAYERS,
        "EmbedLayerNormalization": 1,
        "SkipLayerNormalization": 2 * LAYERS,
    }
    ops = Counter(n.op_type for n in onnx.load(str(tmp_path / "fused.onnx")).graph.node)
    assert ops["Attention"] == LAYERS and ops["Softmax"] == 0  # no attention left unfused
    gates = GATES.model_copy(update={"max_f1_drop": 1.0, "max_size_ratio": 0.5})
    report = q.quantize_model(
        SPECS, fp32["event_classifier"], text_eval(), tmp_path / "int8.onnx", gates=gates
    )
    assert report.fused_operators == fused and report.to_dict()["fused_operators"] == fused
    int8_ops = Counter(n.op_type for n in onnx.load(str(report.int8_path)).graph.node)
    assert int8_ops["QAttention"] == LAYERS and int8_ops["QEmbedLayerNormalization"] == 1
    assert (
        q.fuse_transformer(fp32["character_predictor"], tmp_path / "mlp.onnx") is None
    )  # not an encoder


def test_sdpa_attention_would_export_a_graph_the_optimizer_cannot_fuse(tmp_path, monkeypatch):
    """Why the export switches to eager attention: the SDPA graph keeps its attention unfused."""
    model = tiny_encoder()
    assert model.config._attn_implementation == "sdpa"  # transformers' default, what training used
    monkeypatch.setattr(onnx_export, "eager_attention", lambda m: contextlib.nullcontext())
    path = onnx_export.export_model("event_classifier", model, tmp_path, SPECS, encoder="tiny").path
    fused = q.fuse_transformer(path, tmp_path / "fused.onnx")
    assert "Attention" not in fused and fused["SkipLayerNormalization"] == 2 * LAYERS


def test_a_failed_gate_refuses_and_writes_nothing(fp32, tmp_path):
    strict = GATES.model_copy(update={"max_size_ratio": 0.01})
    with pytest.raises(
        q.QuantizationRefused,
        match=r"character_predictor: INT8 model refused \(size ratio 0\.\d+ "
        r"\(needs <= 0\.01\)\)",
    ) as info:
        q.quantize_model(
            SPECS, fp32["character_predictor"], feature_eval(), tmp_path / "int8.onnx", gates=strict
        )
    assert info.value.report.int8_path is None
    assert list(tmp_path.iterdir()) == []


def test_report_only_writes_the_model_and_says_it_failed(fp32, tmp_path):
    strict = GATES.model_copy(update={"max_size_ratio": 0.01})
    report = q.quantize_model(
        SPECS,
        fp32["character_predictor"],
        feature_eval(),
        tmp_path / "int8.onnx",
        gates=strict,
        report_only=True,
    )
    assert not report.passed and report.int8_path.is_file()
    assert [g.name for g in report.gates if g.passed is False] == ["size ratio"]
    assert report.to_dict()["passed"] is False


def test_f1_is_measured_against_labels_when_given(fp32, tmp_path):
    """Labels equal to the FP32 model's own decisions: FP32 scores 1.0, the drop is INT8's loss."""
    evals = text_eval()
    sess = q.session(fp32["event_classifier"])
    labels = [event_decisions(sess.run(None, f)[0]).astype(np.int64) for f in evals.feeds]
    gates = GATES.model_copy(update={"max_f1_drop": 1.0, "max_size_ratio": 0.5})
    report = q.quantize_model(
        SPECS,
        fp32["event_classifier"],
        q.EvalSet(evals.feeds, labels),
        tmp_path / "int8.onnx",
        gates=gates,
    )
    assert report.f1_reference == "labels" and report.f1_fp32 == 1.0
    assert report.f1_drop == pytest.approx(1.0 - report.f1_int8)


def test_mismatched_labels_are_refused(fp32, tmp_path):
    evals = feature_eval()
    with pytest.raises(q.UserError, match="1 label batches for 4 input batches"):
        q.quantize_model(
            SPECS,
            fp32["character_predictor"],
            q.EvalSet(evals.feeds, [np.zeros((16, 42))]),
            tmp_path / "x.onnx",
        )


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=30))
def test_identical_decisions_score_full_f1_and_agreement(values):
    d = q.Decisions(np.array([values]), np.ones((1, len(values)), dtype=bool))
    assert q._macro_f1(d.values[0], d.values[0]) == 1.0
    for kind in ("character_predictor",):
        cols = np.array(values)[:, None].repeat(3, axis=1)
        same = q.Decisions(cols, np.ones_like(cols, dtype=bool))
        assert q.KIND_EVAL[kind].f1(same, same) == 1.0


# ---------------------------------------------------------------- speed is reported, never decides


def test_only_quality_and_size_decide_and_speed_is_reported(fp32, tmp_path, monkeypatch):
    """INT8 ten times slower than FP32 still ships: a timing differs between machines and runs."""
    slow = q.Latency(fp32_ms=1.0, int8_ms=10.0, speedup=0.1, speedup_spread=(0.09, 0.11), runs=50)
    monkeypatch.setattr(q, "interleaved_latency", lambda *a, **k: slow)
    gates = GATES.model_copy(update={"max_f1_drop": 1.0, "max_size_ratio": 0.5})
    report = q.quantize_model(
        SPECS, fp32["character_predictor"], feature_eval(), tmp_path / "int8.onnx", gates=gates
    )
    assert [g.name for g in report.gates] == ["F1 drop", "agreement with FP32", "size ratio"]
    assert report.passed and report.int8_path.is_file()
    d = report.to_dict()
    assert (d["speedup_batch1"], d["latency_int8_ms"], d["latency_runs"]) == (0.1, 10.0, 50)


def test_speed_is_measured_on_both_models(fp32, tmp_path):
    gates = GATES.model_copy(update={"max_f1_drop": 1.0, "max_size_ratio": 0.5})
    report = q.quantize_model(
        SPECS, fp32["character_predictor"], feature_eval(), tmp_path / "int8.onnx", gates=gates
    )
    qspec = SPECS.one(ExportFile).quantization
    assert report.latency_runs == qspec.latency_runs
    assert report.latency_fp32_ms > 0 and report.latency_int8_ms > 0 and report.speedup_batch1 > 0
    lo, hi = report.speedup_batch1_spread
    assert 0 < lo <= hi


class _Clocked:
    """A stand-in session that records the order of its runs."""

    def __init__(self, name: str, log: list[str]):
        self.name, self.log = name, log

    def run(self, outputs, feed):
        self.log.append(self.name)


def test_latency_runs_interleave_and_alternate_which_model_goes_first():
    log: list[str] = []
    latency = q.interleaved_latency(
        _Clocked("fp32", log), _Clocked("int8", log), {}, runs=4, warmup=1
    )
    assert log == ["fp32", "int8"] + [
        "fp32",
        "int8",
        "int8",
        "fp32",
        "fp32",
        "int8",
        "int8",
        "fp32",
    ]
    assert latency.runs == 4 and latency.fp32_ms > 0 and latency.int8_ms > 0


def test_a_speed_gate_in_the_spec_is_refused_with_a_located_reason(tmp_path):
    from spec_helpers import copy_specs, edit

    from codegen.spec.errors import SpecError

    specs = copy_specs(tmp_path)
    edit(
        specs / "export.yaml",
        "    max_size_ratio: 0.30\n",
        "    max_size_ratio: 0.30\n    min_speedup_batch1: 1.0\n",
    )
    with pytest.raises(SpecError) as caught:
        load_specs(specs)
    (problem,) = caught.value.problems
    assert problem.file.endswith("export.yaml") and problem.key.startswith("quantization.gates")
    assert "min_speedup_batch1 is no longer a gate" in problem.message


def test_build_md_shows_speed_as_reported_and_the_numbers_of_a_refused_model():
    from storyml.build.report import render_build_summary

    measured = {
        "size_ratio": 0.26,
        "f1_drop": 0.002,
        "agreement": 0.995,
        "speedup_batch1": 0.97,
        "speedup_batch1_spread": [0.9, 1.05],
    }
    summary = {
        "profile": "fast",
        "encoder": "tiny",
        "seed": 1,
        "contract_fingerprint": "x",
        "storyml_version": "0",
        "artifact_bytes_including_external_data": {},
        "stage_seconds": {},
        "stages": {
            "quantize": {
                "ner_classifier": {"accepted": True, **measured},
                "event_classifier": {
                    "accepted": False,
                    "reason": "F1 drop 0.03 (needs <= 0.01)",
                    **measured,
                },
            }
        },
    }
    text = render_build_summary(summary)
    assert "batch-1 speed-up (not a gate)" in text
    assert "| ner_classifier | yes | 0.26 | +0.0020 | 0.9950 | 0.97x (0.90-1.05) |" in text
    assert "| event_classifier | no: F1 drop 0.03 (needs <= 0.01) | 0.26 |" in text
