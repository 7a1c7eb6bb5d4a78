"""The derived contract: everything the renderers need, computed once from a SpecSet."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Sequence

from pydantic import BaseModel

from codegen.spec.crosscheck import enum_table
from codegen.spec.kinds import KINDS
from codegen.spec.layout import (
    FeatureLayout,
    OutputLayout,
    compute_feature_layout,
    compute_output_layout,
)
from codegen.spec.models import (
    ArtifactsFile,
    EnumsFile,
    FeatureLayoutFile,
    OutputHeadsFile,
    TextLabelsFile,
)
from codegen.spec.names import role_constant
from codegen.spec.specset import SpecSet
from codegen.spec.versioning import ContractVersionFile

# Keys that are not part of the contract. `constant` (feature layout) tells the character data
# generator that it leaves a field at zero on purpose; the encoding is the same either way.
_NOT_CONTRACT = frozenset({"doc", "constant"})


def _without_docs(value: object) -> object:
    """Docs explain the contract but are not part of it: changing one keeps the fingerprint."""
    if isinstance(value, dict):
        return {k: _without_docs(v) for k, v in value.items() if k not in _NOT_CONTRACT}
    if isinstance(value, list):
        return [_without_docs(v) for v in value]
    return value


def canonical_json(models: Sequence[BaseModel]) -> str:
    """One canonical text for a set of spec models: sorted keys, no whitespace, no docs.

    Comments, key order, quoting and layout of the YAML do not reach this text,
    so they cannot change a fingerprint.
    """
    docs = [_without_docs(m.model_dump(mode="json")) for m in models]
    docs.sort(key=lambda d: json.dumps(d, sort_keys=True))
    return json.dumps(docs, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def fingerprint(models: Sequence[BaseModel]) -> str:
    return hashlib.sha256(canonical_json(models).encode()).hexdigest()[:16]


def bio_labels(categories: list[str]) -> list[str]:
    """O first, then B-X and I-X for each category in order."""
    return ["O"] + [f"{tag}-{c}" for c in categories for tag in ("B", "I")]


@dataclass(frozen=True)
class Contract:
    specs: SpecSet
    enums: dict[str, list[str]]
    enum_defaults: dict[str, str | None]
    enum_docs: dict[str, str]
    features: dict[str, FeatureLayout]
    outputs: dict[str, OutputLayout]
    event_kinds: list[str]
    event_threshold: float
    event_multi_label: bool
    event_at_least_one: bool
    engine_only_event_kinds: list[str]
    entity_categories: list[str]
    entity_roles: list[str]
    registers: list[str]
    bio_labels: list[str]
    max_seq_length: int
    ignore_index: int
    artifacts: ArtifactsFile
    version: ContractVersionFile
    fingerprint: str
    source_files: list[str]  # the contract's files and the version's

    def model_roles(self, mlp_output: str | None) -> list[tuple[str, str, str]]:
        """(constant, model, labels) naming each model by what it predicts: EVENT_MODEL (event_kinds),
        NER_MODEL (bio), CHARACTER_MODEL (the mlp_model's output heads), <HEADS>_MODEL otherwise."""
        return [
            (role_constant(m.labels, mlp_output), name, m.labels)
            for name, m in self.artifacts.models.items()
        ]

    def head_outputs(self, model_name: str) -> list[str]:
        """ONNX output names of a model: its declared list, or one per head."""
        m = self.artifacts.models[model_name]
        if m.outputs is not None:
            return list(m.outputs)
        return [h.name for h in self.outputs[m.labels].heads]


def contract_models(specs: SpecSet) -> list[BaseModel]:
    return [e.model for kind, e in specs.with_kinds() if KINDS[kind].contract]


def build_contract(specs: SpecSet) -> Contract:
    enums = enum_table(specs)
    enums_file = specs.one(EnumsFile)
    text = specs.one(TextLabelsFile)
    return Contract(
        specs=specs,
        enums=enums,
        enum_defaults={n: e.default for n, e in enums_file.enums.items()},
        enum_docs={n: e.doc for n, e in enums_file.enums.items()},
        features={
            n: compute_feature_layout(f, enums) for n, f in specs.named(FeatureLayoutFile).items()
        },
        outputs={
            n: compute_output_layout(o, enums) for n, o in specs.named(OutputHeadsFile).items()
        },
        event_kinds=list(text.event_kinds.labels),
        event_threshold=text.event_kinds.threshold,
        event_multi_label=text.event_kinds.multi_label,
        event_at_least_one=text.event_kinds.at_least_one,
        engine_only_event_kinds=list(text.event_kinds.engine_only),
        entity_categories=list(text.entity_categories.categories),
        entity_roles=list(text.entity_roles),
        registers=list(text.registers),
        bio_labels=bio_labels(list(text.entity_categories.categories)),
        max_seq_length=text.max_seq_length,
        ignore_index=text.ignore_index,
        artifacts=specs.one(ArtifactsFile),
        version=specs.one(ContractVersionFile),
        fingerprint=fingerprint(contract_models(specs)),
        source_files=sorted(
            e.doc.path.relative_to(specs.root).as_posix()
            for kind, e in specs.with_kinds()
            if KINDS[kind].contract or kind == "contract_version"
        ),
    )
