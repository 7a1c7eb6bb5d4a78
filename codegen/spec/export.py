"""Spec model of `kind: export`: ONNX parity checks and INT8 quantization gates.

Not part of the engine contract (it changes how artifacts are checked, not what
the engine reads), so it does not enter CONTRACT_FINGERPRINT.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from codegen.spec.errors import SpecProblem
from codegen.spec.models import SpecModel, TextLabelsFile
from codegen.spec.specset import SpecSet


class Parity(SpecModel):
    """PyTorch against onnxruntime on the same inputs, element-wise."""

    atol: float = Field(
        gt=0.0, description="Largest allowed absolute difference of any output element."
    )
    random_inputs: int = Field(ge=1, description="Random batches checked besides the fixed ones.")
    max_batch: int = Field(ge=2, description="Random batch sizes are drawn from 1..max_batch.")
    min_sequence: int = Field(
        ge=2, description="Random sequence lengths are drawn from min_sequence..max_seq_length."
    )
    seed: int = Field(description="Seed of the random parity inputs (same seed, same inputs).")


class QuantizationGates(SpecModel):
    """What an INT8 model must show against its FP32 model before it may replace it.

    Only quality and size decide, so the same build ships the same artifacts on any machine;
    speed is measured and reported beside them, never gated.
    """

    max_f1_drop: float = Field(
        ge=0.0, le=1.0, description="FP32 F1 minus INT8 F1 on the evaluation set."
    )
    min_agreement: float = Field(
        ge=0.0,
        le=1.0,
        description="Share of decisions (argmax, thresholded flags) on which INT8 and FP32 agree.",
    )
    max_size_ratio: float = Field(
        gt=0.0, le=1.0, description="INT8 size / FP32 size, external data counted."
    )

    @model_validator(mode="before")
    @classmethod
    def _no_speed_gate(cls, data: object) -> object:
        if isinstance(data, dict) and "min_speedup_batch1" in data:
            raise ValueError(
                "min_speedup_batch1 is no longer a gate: speed is measured and reported, but "
                "whether an INT8 model ships is decided by quality and size only (a timing "
                "differs between machines and runs); remove the key"
            )
        return data


class Quantization(SpecModel):
    method: Literal["dynamic"] = Field(
        description="onnxruntime dynamic (weight-only, activations at run time)."
    )
    weight_type: Literal["qint8", "quint8"]
    op_types: list[str] = Field(
        min_length=1, description="onnxruntime op types whose weights are quantized."
    )
    per_channel: bool
    reduce_range: bool
    optimize_transformers: bool = Field(
        description="Run onnxruntime's transformer optimizer (fusions) first."
    )
    latency_runs: int = Field(
        ge=1,
        description="Timed batch-1 runs of each model, FP32 and INT8 interleaved "
        "(medians and the spread of the paired ratios reported, "
        "never gated).",
    )
    warmup_runs: int = Field(ge=0, description="Untimed runs of each model before the timed ones.")
    gates: QuantizationGates


class ExportFile(SpecModel):
    kind: Literal["export"]
    parity: Parity
    quantization: Quantization

    @model_validator(mode="after")
    def _op_types_unique(self) -> "ExportFile":
        ops = self.quantization.op_types
        if len(set(ops)) != len(ops):
            raise ValueError("quantization.op_types lists an op type twice")
        return self


def check_export(specs: SpecSet) -> list[SpecProblem]:
    """Random parity sequences must fit the contract's maximum sequence length."""
    problems: list[SpecProblem] = []
    text = specs.of_kind(TextLabelsFile)
    if not text:
        return problems
    max_len = text[0].model.max_seq_length
    for entry in specs.of_kind(ExportFile):
        if entry.model.parity.min_sequence > max_len:
            problems.append(
                entry.doc.problem(
                    ("parity", "min_sequence"),
                    f"{entry.model.parity.min_sequence} is above max_seq_length "
                    f"{max_len} ({text[0].doc.name})",
                )
            )
    return problems
