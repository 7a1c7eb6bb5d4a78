"""Checks that span spec files: references resolve and declared numbers match computed ones."""

from __future__ import annotations

from codegen.spec.errors import Loc, SpecProblem, one_of
from codegen.spec.identifiers import check_identifiers
from codegen.spec.kinds import EXTRA_CHECKS
from codegen.spec.layout import (
    LayoutError,
    compute_feature_layout,
    compute_output_layout,
    count_mlp_parameters,
)
from codegen.spec.models import (
    ArtifactsFile,
    EnumsFile,
    FeatureField,
    FeatureLayoutFile,
    FeatureType,
    MlpModelFile,
    OutputHeadsFile,
)
from codegen.spec.specset import Entry, NamedFile, SpecSet


def enum_table(specs: SpecSet) -> dict[str, list[str]]:
    return {name: e.variants for name, e in specs.one(EnumsFile).enums.items()}


def _feature_layout(
    entry: Entry[FeatureLayoutFile], enums: dict[str, list[str]]
) -> list[SpecProblem]:
    doc, spec = entry.doc, entry.model
    problems: list[SpecProblem] = []
    # Locate dangling references precisely before computing offsets.
    for tname, t in spec.types.items():
        for i, f in enumerate(t.fields):
            problems += _field_refs(entry, ("types", tname, "fields", i), f, enums, spec.types)
    for ri, r in enumerate(spec.regions):
        for i, f in enumerate(r.fields or []):
            problems += _field_refs(entry, ("regions", ri, "fields", i), f, enums, spec.types)
        if r.item is not None and r.item not in spec.types:
            problems.append(
                doc.problem(
                    ("regions", ri, "item"), f"unknown type {r.item!r} {one_of(r.item, spec.types)}"
                )
            )
        if r.slots is not None and r.slots.per is not None and r.slots.per not in enums:
            problems.append(
                doc.problem(
                    ("regions", ri, "slots", "per"),
                    f"unknown enum {r.slots.per!r} {one_of(r.slots.per, enums)}",
                )
            )
    if problems:
        return problems
    try:
        layout = compute_feature_layout(spec, enums)
    except LayoutError as exc:
        return [doc.problem(exc.loc, str(exc))]
    for ri, (r, shape) in enumerate(zip(spec.regions, layout.regions)):
        if r.offset is not None and r.offset != shape.offset:
            problems.append(
                doc.problem(
                    ("regions", ri, "offset"),
                    f"declared {r.offset}, but the layout puts it at {shape.offset}",
                )
            )
        if r.size is not None and r.size != shape.width:
            problems.append(
                doc.problem(
                    ("regions", ri, "size"),
                    f"declared {r.size}, but its fields add up to {shape.width}",
                )
            )
    if spec.total != layout.total:
        problems.append(
            doc.problem(
                ("total",), f"declared {spec.total}, but the regions add up to {layout.total}"
            )
        )
    return problems


def _field_refs(
    entry: Entry[FeatureLayoutFile],
    loc: Loc,
    f: FeatureField,
    enums: dict[str, list[str]],
    types: dict[str, FeatureType],
) -> list[SpecProblem]:
    if f.onehot is not None and f.onehot not in enums:
        return [
            entry.doc.problem(
                loc + ("onehot",), f"unknown enum {f.onehot!r} {one_of(f.onehot, enums)}"
            )
        ]
    if f.type is not None and f.type not in types:
        return [
            entry.doc.problem(loc + ("type",), f"unknown type {f.type!r} {one_of(f.type, types)}")
        ]
    return []


def _output_heads(entry: Entry[OutputHeadsFile], enums: dict[str, list[str]]) -> list[SpecProblem]:
    doc, spec = entry.doc, entry.model
    problems: list[SpecProblem] = []
    for hi, h in enumerate(spec.heads):
        for fi, f in enumerate(h.fields):
            if f.enum is not None and f.enum not in enums:
                problems.append(
                    doc.problem(
                        ("heads", hi, "fields", fi, "enum"),
                        f"unknown enum {f.enum!r} {one_of(f.enum, enums)}",
                    )
                )
    if problems:
        return problems
    try:
        layout = compute_output_layout(spec, enums)
    except LayoutError as exc:
        return [doc.problem(exc.loc, str(exc))]
    for hi, (h, shape) in enumerate(zip(spec.heads, layout.heads)):
        if h.size is not None and h.size != shape.width:
            problems.append(
                doc.problem(
                    ("heads", hi, "size"),
                    f"declared {h.size}, but its fields add up to {shape.width}",
                )
            )
    if spec.total != layout.total:
        problems.append(
            doc.problem(
                ("total",), f"declared {spec.total}, but the heads add up to {layout.total}"
            )
        )
    return problems


def _artifacts(entry: Entry[ArtifactsFile], specs: SpecSet) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    heads = specs.named(OutputHeadsFile)
    by_labels: dict[str, str] = {}
    for name, m in entry.model.models.items():
        loc = ("models", name)
        if m.labels in by_labels:  # the runtime and the engine find a model by what it predicts
            problems.append(
                entry.doc.problem(
                    loc + ("labels",),
                    f"{by_labels[m.labels]!r} already predicts "
                    f"{m.labels!r}; one model per label set",
                )
            )
        by_labels.setdefault(m.labels, name)
        if m.labels in heads:
            if m.outputs is not None:
                problems.append(
                    entry.doc.problem(
                        loc + ("outputs",), "a head model's outputs are its heads; remove this list"
                    )
                )
        elif m.labels in ("event_kinds", "bio"):
            if not m.outputs:
                problems.append(entry.doc.problem(loc + ("outputs",), "required key is missing"))
        else:
            problems.append(
                entry.doc.problem(
                    loc + ("labels",),
                    f"unknown labels {m.labels!r} (event_kinds, "
                    f"bio, or an output_heads name: {', '.join(sorted(heads))})",
                )
            )
    return problems


def _mlp_model(
    entry: Entry[MlpModelFile], specs: SpecSet, enums: dict[str, list[str]]
) -> list[SpecProblem]:
    spec, doc = entry.model, entry.doc
    layouts, heads = specs.named(FeatureLayoutFile), specs.named(OutputHeadsFile)
    problems: list[SpecProblem] = []
    if spec.input not in layouts:
        problems.append(doc.problem(("input",), f"unknown feature_layout {spec.input!r}"))
    if spec.output not in heads:
        problems.append(doc.problem(("output",), f"unknown output_heads {spec.output!r}"))
    if problems:
        return problems
    n_in = compute_feature_layout(layouts[spec.input], enums).total
    widths = [h.width for h in compute_output_layout(heads[spec.output], enums).heads]
    count = count_mlp_parameters(spec, n_in, widths)
    if count != spec.parameters:
        problems.append(
            doc.problem(
                ("parameters",), f"declared {spec.parameters}, but the architecture has {count}"
            )
        )
    return problems


def _unique_names(specs: SpecSet, kind: str, model: type[NamedFile]) -> list[SpecProblem]:
    seen: dict[str, Entry[NamedFile]] = {}
    problems: list[SpecProblem] = []
    for e in specs.of_kind(model):
        if e.model.name in seen:
            problems.append(
                e.doc.problem(
                    ("name",),
                    f"{kind} {e.model.name!r} is also defined in {seen[e.model.name].doc.name}",
                )
            )
        seen[e.model.name] = e
    return problems


def cross_check(specs: SpecSet, codegen_only: bool = False) -> list[SpecProblem]:
    enums = enum_table(specs)
    problems: list[SpecProblem] = []
    named_kinds: list[tuple[str, type[NamedFile]]] = [
        ("feature_layout", FeatureLayoutFile),
        ("output_heads", OutputHeadsFile),
        ("mlp_model", MlpModelFile),
    ]
    for kind, model in named_kinds:
        problems += _unique_names(specs, kind, model)
    for layout in specs.of_kind(FeatureLayoutFile):
        problems += _feature_layout(layout, enums)
    for heads in specs.of_kind(OutputHeadsFile):
        problems += _output_heads(heads, enums)
    problems += check_identifiers(specs)
    for artifacts in specs.of_kind(ArtifactsFile):
        problems += _artifacts(artifacts, specs)
    if codegen_only:
        return problems
    if not problems:
        for mlp in specs.of_kind(MlpModelFile):
            problems += _mlp_model(mlp, specs, enums)
    for check in EXTRA_CHECKS:
        problems += check(specs)
    return problems
