"""INT8 models: onnxruntime dynamic quantization, gated against the FP32 model.

Transformer models first go through onnxruntime's transformer optimizer
(`onnxruntime.transformers.optimizer`, the maintained successor of the
onnxruntime-tools package, which stopped at 1.7.0): it fuses attention,
embeddings + LayerNorm and GELU, and the fused nodes quantize as whole
QAttention / QEmbedLayerNormalization kernels. Then `quantize_dynamic` stores
the weights of the spec's op types as INT8; activations are quantized at run
time. The INT8 model must pass the spec's gates on the caller's evaluation
batches (F1 drop, decision agreement, size ratio), or it is refused and not
written. Batch-1 latency of both models is measured, runs interleaved, and
reported, but never decides: the same build must ship the same artifacts on
any machine.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import onnx
from storyml_contract import (
    BIO_LABELS,
    CHARACTER_MODEL,
    EVENT_MODEL,
    IGNORE_INDEX,
    NER_MODEL,
    ONNX_INPUTS,
    ONNX_OUTPUTS,
    int8_file,
)
from storyml_contract.character_outputs import OUTPUT_FIELDS

from codegen.spec.errors import one_of
from codegen.spec.export import ExportFile
from codegen.spec.output_kinds import DECODE_RULES
from storyml.errors import UserError
from storyml.export import metadata as md
from storyml.export.onnx_export import artifact_size
from storyml.train.mlp import decode_batch

from ..data.decode import event_decisions

# transformers `model_type` -> onnxruntime optimizer model type. All of these are BERT-shaped
# encoders whose exported graphs the "bert" fusions recognise; others are quantized unfused.
ORT_MODEL_TYPES: dict[str, str] = {
    "bert": "bert",
    "distilbert": "bert",
    "roberta": "bert",
    "xlm-roberta": "bert",
    "camembert": "bert",
    "electra": "bert",
}


class QuantizationRefused(UserError):
    """The INT8 model failed a gate; nothing was written. `report` says which and by how much."""

    def __init__(self, report: "QuantizationReport"):
        self.report = report
        failed = "; ".join(g.describe() for g in report.gates if g.passed is False)
        super().__init__(
            f"{report.kind}: INT8 model refused ({failed}); the FP32 model stays in use"
        )


@dataclass(frozen=True)
class EvalSet:
    """Evaluation batches, each a feed keyed by the model's ONNX input names.

    `labels` (optional), one array per batch: event_classifier [batch, kinds] 0/1;
    ner_classifier [batch, seq] BIO ids with IGNORE_INDEX where not scored;
    character_predictor [batch, 42] as encode_labels writes them. Without labels,
    F1 is measured against the FP32 model's own decisions.
    """

    feeds: Sequence[dict[str, np.ndarray]]
    labels: Sequence[np.ndarray] | None = None


# ---------------------------------------------------------------- decisions and F1 per model kind


def _macro_f1(true: np.ndarray, pred: np.ndarray) -> float:
    """Mean F1 over the classes that occur in either; 1.0 if there is nothing to score."""
    scores = []
    for c in np.union1d(true, pred):
        tp = np.sum((true == c) & (pred == c))
        fp, fn = np.sum((true != c) & (pred == c)), np.sum((true == c) & (pred != c))
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 1.0


def _binary_f1(true: np.ndarray, pred: np.ndarray) -> float | None:
    tp = np.sum(true & pred)
    denom = 2 * tp + np.sum(~true & pred) + np.sum(true & ~pred)
    return None if denom == 0 else float(2 * tp / denom)


@dataclass(frozen=True)
class Decisions:
    """What a model decides per row: one integer per column; `mask` marks what is scored."""

    values: np.ndarray  # [rows, columns]
    mask: np.ndarray  # [rows, columns] bool


def _event_decide(outputs: list[np.ndarray], feed) -> Decisions:
    values = event_decisions(outputs[0]).astype(np.int64)  # the contract's decision
    return Decisions(values, np.ones_like(values, dtype=bool))


def _event_labels(labels: np.ndarray, feed) -> Decisions:
    values = np.asarray(labels).astype(np.int64)
    return Decisions(values, np.ones_like(values, dtype=bool))


def _event_f1(true: Decisions, pred: Decisions) -> float:
    """Macro F1 over event kinds (kinds absent from both sides are skipped)."""
    scores = [
        _binary_f1(true.values[:, k] == 1, pred.values[:, k] == 1)
        for k in range(true.values.shape[1])
    ]
    present = [s for s in scores if s is not None]
    return float(np.mean(present)) if present else 1.0


def _ner_decide(outputs: list[np.ndarray], feed) -> Decisions:
    _, mask_name = ONNX_INPUTS[NER_MODEL]  # token ids, attention mask
    return Decisions(outputs[0].argmax(axis=-1), feed[mask_name].astype(bool))


def _ner_labels(labels: np.ndarray, feed) -> Decisions:
    labels = np.asarray(labels)
    return Decisions(np.where(labels == IGNORE_INDEX, 0, labels), labels != IGNORE_INDEX)


def _ner_f1(true: Decisions, pred: Decisions) -> float:
    """Entity F1 (seqeval, strict IOB2) over the scored positions of each row."""
    from seqeval.metrics import f1_score
    from seqeval.scheme import IOB2

    def tags(d: Decisions) -> list[list[str]]:
        return [[BIO_LABELS[i] for i in row[m]] for row, m in zip(d.values, true.mask)]

    y_true, y_pred = tags(true), tags(pred)
    if not any(t != BIO_LABELS[0] for row in y_true + y_pred for t in row):
        return 1.0  # no entity on either side: nothing was missed
    return float(f1_score(y_true, y_pred, mode="strict", scheme=IOB2, zero_division=0))


# The character predictor's decisions (fields whose decode rule `decides`): one column per
# categorical field (its class, the rule reduces the field), one per flag.
_DECIDED_FIELDS = tuple(f for f in OUTPUT_FIELDS if DECODE_RULES[f.decode].decides)


def _character_columns(decoded: np.ndarray) -> np.ndarray:
    columns = []
    for f in _DECIDED_FIELDS:
        part = decoded[:, f.offset : f.offset + f.width]
        columns += (
            [part.argmax(axis=1)]
            if DECODE_RULES[f.decode].reduces
            else list(part.T.astype(np.int64))
        )
    return np.stack(columns, axis=1)


def _character_decide(outputs: list[np.ndarray], feed) -> Decisions:
    values = _character_columns(decode_batch(np.concatenate(outputs, axis=-1)))
    return Decisions(values, np.ones_like(values, dtype=bool))


def _character_labels(labels: np.ndarray, feed) -> Decisions:
    values = _character_columns(np.asarray(labels, dtype=np.float64))
    return Decisions(values, np.ones_like(values, dtype=bool))


def _character_f1(true: Decisions, pred: Decisions) -> float:
    """Mean over decided columns of their macro F1."""
    return float(
        np.mean(
            [_macro_f1(true.values[:, c], pred.values[:, c]) for c in range(true.values.shape[1])]
        )
    )


@dataclass(frozen=True)
class KindEval:
    decide: Callable[[list[np.ndarray], dict], Decisions]
    from_labels: Callable[[np.ndarray, dict], Decisions]
    f1: Callable[[Decisions, Decisions], float]


KIND_EVAL: dict[str, KindEval] = {
    EVENT_MODEL: KindEval(_event_decide, _event_labels, _event_f1),
    NER_MODEL: KindEval(_ner_decide, _ner_labels, _ner_f1),
    CHARACTER_MODEL: KindEval(_character_decide, _character_labels, _character_f1),
}
assert set(KIND_EVAL) == set(ONNX_OUTPUTS), "every model kind needs its evaluation rules"


def _concat(parts: list[Decisions]) -> Decisions:
    """Rows of all batches together; sequences of different lengths are padded (masked out)."""
    width = max(p.values.shape[1] for p in parts)
    pad = lambda a, v: np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=v)  # noqa: E731
    return Decisions(
        np.concatenate([pad(p.values, 0) for p in parts]),
        np.concatenate([pad(p.mask, False) for p in parts]),
    )


# ---------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Gate:
    name: str
    value: float
    limit: float | None  # None: measured, not gated
    higher_is_better: bool

    @property
    def passed(self) -> bool | None:
        if self.limit is None:
            return None
        return self.value >= self.limit if self.higher_is_better else self.value <= self.limit

    def describe(self) -> str:
        if self.limit is None:
            return f"{self.name} {self.value:.4g} (not gated)"
        op = ">=" if self.higher_is_better else "<="
        return f"{self.name} {self.value:.4g} (needs {op} {self.limit:g})"


@dataclass(frozen=True)
class QuantizationReport:
    kind: str
    fp32_path: Path
    int8_path: Path | None  # None when refused
    optimized: bool  # went through the transformer optimizer
    op_types: list[str]
    fp32_size_bytes: int
    int8_size_bytes: int
    size_ratio: float
    f1_fp32: float
    f1_int8: float
    f1_drop: float
    f1_reference: str  # "labels" or "fp32_predictions"
    agreement: float
    decisions: int  # how many decisions the agreement was measured on
    latency_fp32_ms: float  # batch-1 medians, FP32 and INT8 runs interleaved: reported, never gated
    latency_int8_ms: float
    speedup_batch1: float
    speedup_batch1_spread: tuple[float, float]  # quartiles of the per-round ratios
    latency_runs: int
    gates: list[Gate] = field(default_factory=list)  # quality and size: what decides
    # Operators the transformer optimizer fused (Attention, SkipLayerNormalization, ...) before
    # quantization; empty when it did not run.
    fused_operators: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(g.passed is not False for g in self.gates)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(
            fp32_path=str(self.fp32_path),
            int8_path=str(self.int8_path) if self.int8_path else None,
            passed=self.passed,
        )
        for g, gd in zip(self.gates, d["gates"]):
            gd["passed"] = g.passed
        return d


def session(path: Path | str):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_outputs(sess, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    return sess.run([o.name for o in sess.get_outputs()], feed)


@dataclass(frozen=True)
class Latency:
    """Batch-1 timings of the FP32 and INT8 models, measured side by side (reported, never gated)."""

    fp32_ms: float  # median
    int8_ms: float  # median
    speedup: float  # FP32 median / INT8 median
    speedup_spread: tuple[float, float]  # quartiles of the per-round FP32/INT8 ratios
    runs: int


def interleaved_latency(fp32, int8, feed: dict[str, np.ndarray], runs: int, warmup: int) -> Latency:
    """Time the two models in alternating rounds (FP32 first in even rounds, INT8 in odd ones), so
    a change in machine load hits both alike; each round gives one ratio, their quartiles the spread."""
    for _ in range(warmup):
        fp32.run(None, feed)
        int8.run(None, feed)
    times: dict[str, list[float]] = {"fp32": [], "int8": []}
    for r in range(runs):
        for name, sess in (
            (("fp32", fp32), ("int8", int8)) if r % 2 == 0 else (("int8", int8), ("fp32", fp32))
        ):
            start = time.perf_counter()
            sess.run(None, feed)
            times[name].append(time.perf_counter() - start)
    ratios = [a / b for a, b in zip(times["fp32"], times["int8"]) if b > 0]
    q1, q3 = np.percentile(ratios, [25, 75]) if ratios else (float("nan"), float("nan"))
    fp32_ms, int8_ms = (
        statistics.median(times["fp32"]) * 1000.0,
        statistics.median(times["int8"]) * 1000.0,
    )
    return Latency(
        fp32_ms,
        int8_ms,
        fp32_ms / int8_ms if int8_ms > 0 else float("inf"),
        (float(q1), float(q3)),
        runs,
    )


def batch_one(feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v[:1] for k, v in feed.items()}


# ---------------------------------------------------------------- producing the INT8 model


def fuse_transformer(fp32_path: Path | str, out_path: Path | str) -> dict[str, int] | None:
    """onnxruntime's transformer fusions of an exported encoder, written to `out_path`.

    Returns the fused operators it made (Attention, SkipLayerNormalization, BiasGelu,
    EmbedLayerNormalization: each layer's attention becomes one kernel), or None and no file
    when the architecture in the model's metadata is not BERT-shaped. The export makes these
    fusions possible (eager attention, the TorchScript exporter: storyml/export/onnx_export.py).
    """
    architecture = md.metadata_from_props(md.read_props(fp32_path), str(fp32_path)).architecture
    ort_type = ORT_MODEL_TYPES.get(architecture.get("model_type", ""))
    if ort_type is None:
        return None
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(
        str(fp32_path),
        model_type=ort_type,
        num_heads=int(architecture.get("num_attention_heads", 0)),
        hidden_size=int(architecture.get("hidden_size", 0)),
    )
    optimized.save_model_to_file(str(out_path), use_external_data_format=False)
    return {op: int(n) for op, n in sorted(optimized.get_fused_operator_statistics().items()) if n}


def _weight_type(name: str):
    from onnxruntime.quantization import QuantType

    return {"qint8": QuantType.QInt8, "quint8": QuantType.QUInt8}[name]


def build_int8(fp32_path: Path, out_path: Path, qspec, work_dir: Path) -> dict[str, int] | None:
    """Write the INT8 model of `fp32_path` to `out_path` (in `work_dir`), from its fused graph
    when the spec asks for the transformer optimizer; returns the fused operators (None: unfused)."""
    from onnxruntime.quantization import quantize_dynamic

    props = md.read_props(fp32_path)
    source, fused = fp32_path, None
    if qspec.optimize_transformers:
        fused = fuse_transformer(fp32_path, work_dir / "optimized.onnx")
        if fused is not None:
            source = work_dir / "optimized.onnx"
    quantize_dynamic(
        str(source),
        str(work_dir / "quantized.onnx"),
        op_types_to_quantize=list(qspec.op_types),
        per_channel=qspec.per_channel,
        reduce_range=qspec.reduce_range,
        weight_type=_weight_type(qspec.weight_type),
        # Fused contrib ops (Attention, SkipLayerNormalization) defeat ONNX shape inference;
        # every tensor here is float32.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    md.save_with_props(work_dir / "quantized.onnx", out_path, props)
    return fused


def int8_path_for(fp32_path: Path | str) -> Path:
    """Where the INT8 model of `x.onnx` goes by default: beside it, named by the contract's int8_file."""
    fp32_path = Path(fp32_path)
    return fp32_path.with_name(int8_file(fp32_path.name))


def quantize_model(
    specs,
    fp32_path: Path | str,
    eval_set: EvalSet,
    out_path: Path | str | None = None,
    *,
    kind: str | None = None,
    report_only: bool = False,
    gates=None,
) -> QuantizationReport:
    """Quantize an exported FP32 model to INT8 and gate it against the FP32 model.

    `kind` defaults to the model's own metadata. `gates` overrides the spec's gates (a
    `QuantizationGates`). When a gate fails, raises QuantizationRefused and writes nothing,
    unless `report_only`, which writes the INT8 model and returns the failing report.
    """
    fp32_path = Path(fp32_path)
    out_path = Path(out_path) if out_path is not None else int8_path_for(fp32_path)
    qspec = specs.one(ExportFile).quantization
    gates = gates or qspec.gates
    meta = md.read_metadata(fp32_path)
    kind = kind or meta.model_kind
    if kind not in KIND_EVAL:
        raise UserError(
            f"{fp32_path}: unknown model kind {kind!r}; pass kind= {one_of(kind, KIND_EVAL)}"
        )
    if not eval_set.feeds:
        raise UserError(f"{kind}: the evaluation set for quantization is empty")
    if eval_set.labels is not None and len(eval_set.labels) != len(eval_set.feeds):
        raise UserError(
            f"{kind}: {len(eval_set.labels)} label batches for {len(eval_set.feeds)} input batches"
        )

    out_path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent))
    try:
        staged = work / out_path.name
        fused = build_int8(fp32_path, staged, qspec, work)
        report = _measure(kind, fp32_path, staged, eval_set, qspec, gates, fused)
        if not report.passed and not report_only:
            raise QuantizationRefused(_with_path(report, None))
        for f in sorted(work.glob(f"{out_path.name}.data")):
            os.replace(f, out_path.parent / f.name)
        os.replace(staged, out_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _with_path(report, out_path)


def _with_path(report: QuantizationReport, path: Path | None) -> QuantizationReport:
    return QuantizationReport(**{**report.__dict__, "int8_path": path})


def _measure(
    kind: str,
    fp32_path: Path,
    int8_path: Path,
    eval_set: EvalSet,
    qspec,
    gates,
    fused: dict[str, int] | None,
) -> QuantizationReport:
    rules = KIND_EVAL[kind]
    fp32, int8 = session(fp32_path), session(int8_path)
    fp32_d, int8_d, true_d = [], [], []
    for i, feed in enumerate(eval_set.feeds):
        fp32_d.append(rules.decide(run_outputs(fp32, feed), feed))
        int8_d.append(rules.decide(run_outputs(int8, feed), feed))
        if eval_set.labels is not None:
            true_d.append(rules.from_labels(eval_set.labels[i], feed))
    a, b = _concat(fp32_d), _concat(int8_d)
    reference = _concat(true_d) if true_d else a
    agreement = float(np.mean(a.values[a.mask] == b.values[a.mask])) if a.mask.any() else 1.0
    f1_fp32, f1_int8 = rules.f1(reference, a), rules.f1(reference, b)
    latency = interleaved_latency(
        fp32, int8, batch_one(eval_set.feeds[0]), qspec.latency_runs, qspec.warmup_runs
    )
    size_fp32, size_int8 = artifact_size(fp32_path), artifact_size(int8_path)
    ratio, drop = size_int8 / size_fp32, f1_fp32 - f1_int8
    return QuantizationReport(
        kind=kind,
        fp32_path=fp32_path,
        int8_path=int8_path,
        optimized=fused is not None,
        fused_operators=dict(fused or {}),
        op_types=list(qspec.op_types),
        fp32_size_bytes=size_fp32,
        int8_size_bytes=size_int8,
        size_ratio=ratio,
        f1_fp32=f1_fp32,
        f1_int8=f1_int8,
        f1_drop=drop,
        f1_reference="labels" if true_d else "fp32_predictions",
        agreement=agreement,
        decisions=int(a.mask.sum()),
        latency_fp32_ms=latency.fp32_ms,
        latency_int8_ms=latency.int8_ms,
        speedup_batch1=latency.speedup,
        speedup_batch1_spread=latency.speedup_spread,
        latency_runs=latency.runs,
        gates=[
            Gate("F1 drop", drop, gates.max_f1_drop, higher_is_better=False),
            Gate("agreement with FP32", agreement, gates.min_agreement, higher_is_better=True),
            Gate("size ratio", ratio, gates.max_size_ratio, higher_is_better=False),
        ],
    )


def write_report(report: QuantizationReport, path: Path | str) -> None:
    from storyml.fsutil import atomic_write_text

    atomic_write_text(
        path, json.dumps(report.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    )
