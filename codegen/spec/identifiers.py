"""Every identifier the generators render from a spec name, checked before anything is rendered.

A spec name may be valid on its own and still break the generated code: an enum
named `Option` changes what the Rust crate's `Option<...>` means, a variant named
`ALL` overwrites the generated `ALL`, a type `SelfEdge` and a region `self_edge`
both become `SELF_EDGE_WIDTH`. Each name is rendered here with the functions of
`codegen.spec.names` that the renderers use, placed in the namespace it lands in,
and checked against the languages (`taken_by_language`), the names the generated
code defines itself (`GENERATED_*`), the parameters and loop variables of its
encoding functions (`GENERATED_LOCALS`, for the names rendered as local
variables) and every other rendered name.
"""

from __future__ import annotations

import keyword
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable

from pydantic import BaseModel

from codegen.spec import names as N
from codegen.spec.errors import Loc, SpecProblem
from codegen.spec.models import (
    ArtifactsFile,
    EnumsFile,
    FeatureField,
    FeatureLayoutFile,
    MlpModelFile,
    OutputHeadsFile,
    TextLabelsFile,
)
from codegen.spec.specset import Entry, SpecSet

PACKAGE = "the generated package"  # types, modules and root constants: lib.rs and golden.rs glob them together


@dataclass(frozen=True)
class Origin:
    """Where a rendered identifier comes from; `entry` None means the generated code itself."""

    entry: Entry[BaseModel] | None
    loc: Loc
    what: str
    role: str = "the identifier"

    def where(self) -> str:
        if self.entry is None:
            return "the generated code"
        return f"{self.entry.doc.name}:{self.entry.doc.line_of(self.loc)}"


class _Scopes:
    def __init__(self) -> None:
        self.idents: dict[str, dict[str, list[Origin]]] = defaultdict(lambda: defaultdict(list))
        self.problems: list[SpecProblem] = []

    def add(self, scope: str, ident: str, origin: Origin, language: bool = False) -> None:
        if origin not in self.idents[scope][ident]:
            self.idents[scope][ident].append(origin)
        if language and origin.entry is not None and (why := N.taken_by_language(ident)):
            named = (
                origin.what
                if repr(ident) in origin.what
                else f"{origin.what} becomes {origin.role} {ident!r}, which"
            )
            self._report(origin, f"{named} is {why}; rename it")

    def fixed(self, scope: str, idents: Iterable[str]) -> None:
        for ident in idents:
            self.idents[scope][ident].append(Origin(None, (), "the generated code"))

    def _report(self, origin: Origin, message: str) -> None:
        assert origin.entry is not None
        self.problems.append(origin.entry.doc.problem(origin.loc, message))

    def collisions(self) -> list[SpecProblem]:
        for scope, idents in self.idents.items():
            for ident, origins in idents.items():
                if len(origins) < 2:
                    continue
                generated = any(o.entry is None for o in origins)
                first = next(o for o in origins if o.entry is not None) if not generated else None
                for o in origins:
                    if o.entry is None or o is first:
                        continue
                    if generated:
                        self._report(
                            o,
                            f"{o.what} becomes {o.role} {ident!r}, which the generated code "
                            f"defines itself in {scope}; rename it",
                        )
                    else:
                        assert first is not None
                        other = (
                            first.what
                            if first.entry is o.entry
                            else f"{first.what} ({first.where()})"
                        )
                        self._report(
                            o, f"{o.what} becomes {o.role} {ident!r}, as {other} does; rename one"
                        )
        # one problem per name: renaming it settles every clash reported there
        return list({(p.file, p.line, p.key): p for p in reversed(self.problems)}.values())[::-1]


def _module(name: str) -> str:
    return f"module {name}"


def _feature_layout(s: _Scopes, e: Entry[FeatureLayoutFile]) -> None:
    spec, mod = e.model, _module(e.model.name)
    s.add(
        PACKAGE,
        spec.name,
        Origin(e, ("name",), f"feature_layout {spec.name!r}", "the module"),
        language=True,
    )
    s.add(
        PACKAGE,
        N.top_type(spec.name),
        Origin(e, ("name",), f"feature_layout {spec.name!r}", "the record type"),
        language=True,
    )
    # (record type, its key path, the key path of its name, what it is, its fields)
    records: list[tuple[str, Loc, Loc, str, list[FeatureField]]] = [
        (t, ("types", t), ("types", t), f"type {t!r}", list(spec.types[t].fields))
        for t in spec.types
    ]
    for ri, r in enumerate(spec.regions):
        name_loc: Loc = ("regions", ri, "name")
        what = f"region {r.name!r}"
        for key, ident in N.region_constants(r.name, r.slots is not None).items():
            s.add(mod, ident, Origin(e, name_loc, what, "the constant"))
        if r.name in N.GENERATED_RECORD_FIELDS:
            s._report(
                Origin(e, name_loc, what),
                f"{what} is a name the generated record class uses in its own body; rename it",
            )
        if r.fields is not None:
            records.append((N.record_type(r.name), ("regions", ri), name_loc, what, list(r.fields)))
        elif r.item is not None and r.slots is not None and not r.slots.keyed:
            var = N.item_variable(r.item)
            if var in N.GENERATED_LOCALS or keyword.iskeyword(var):
                why = (
                    "a Python keyword"
                    if keyword.iskeyword(var)
                    else "a name the generated encode_features uses itself"
                )
                s._report(
                    Origin(e, ("regions", ri, "item"), f"item {r.item!r} of {what}"),
                    f"item {r.item!r} of {what} becomes the loop variable {var!r}, {why}; "
                    "rename the type",
                )
    for rec, loc, name_loc, what, fields in records:
        s.add(PACKAGE, rec, Origin(e, name_loc, what, "the record type"), language=True)
        s.add(mod, N.record_width_constant(rec), Origin(e, name_loc, what, "the constant"))
        s.add(mod, N.writer(rec), Origin(e, name_loc, what, "the function"))
        for fi, f in enumerate(fields):
            s.add(
                mod,
                N.record_field_constant(rec, f.name),
                Origin(
                    e, loc + ("fields", fi, "name"), f"field {f.name!r} of {what}", "the constant"
                ),
            )
            if f.onehot is not None and (local := N.field_local(f.name)) in N.GENERATED_LOCALS:
                s._report(
                    Origin(e, loc + ("fields", fi, "name"), f"field {f.name!r} of {what}"),
                    f"field {f.name!r} of {what} becomes a local variable of the generated writer of "
                    f"{rec} (when its enum has a default), where {local!r} is taken; rename it",
                )


def _output_heads(s: _Scopes, e: Entry[OutputHeadsFile]) -> None:
    spec, mod = e.model, _module(e.model.name)
    s.add(
        PACKAGE,
        spec.name,
        Origin(e, ("name",), f"output_heads {spec.name!r}", "the module"),
        language=True,
    )
    s.add(
        PACKAGE,
        N.top_type(spec.name),
        Origin(e, ("name",), f"output_heads {spec.name!r}", "the record type"),
        language=True,
    )
    for hi, h in enumerate(spec.heads):
        loc, what = ("heads", hi, "name"), f"head {h.name!r}"
        s.add(PACKAGE, N.head_type(h.name), Origin(e, loc, what, "the record type"), language=True)
        for ident in N.head_constants(h.name).values():
            s.add(mod, ident, Origin(e, loc, what, "the constant"))
        for fi, f in enumerate(h.fields):
            s.add(
                mod,
                N.head_field_constant(h.name, f.name),
                Origin(
                    e,
                    ("heads", hi, "fields", fi, "name"),
                    f"field {f.name!r} of {what}",
                    "the constant",
                ),
            )


def _enums(s: _Scopes, e: Entry[EnumsFile]) -> None:
    for name, spec in e.model.enums.items():
        s.add(
            PACKAGE, name, Origin(e, ("enums", name), f"enum {name!r}", "the type"), language=True
        )
        scope = f"enum {name}"
        s.fixed(scope, N.GENERATED_ENUM_MEMBERS)
        for i, v in enumerate(spec.variants):
            s.add(
                scope,
                v,
                Origin(e, ("enums", name, "variants", i), f"variant {v!r} of {name}", "the member"),
            )


def _text_labels(s: _Scopes, e: Entry[TextLabelsFile]) -> None:
    spec = e.model
    for loc, enum, labels in (
        (("event_kinds", "labels"), "EventKind", spec.event_kinds.labels),
        (("entity_categories", "categories"), "EntityCategory", spec.entity_categories.categories),
    ):
        scope = f"enum {enum}"
        s.fixed(scope, N.GENERATED_ENUM_MEMBERS)
        for i, label in enumerate(labels):
            s.add(
                scope,
                N.pascal_identifier(label),
                Origin(e, loc + (i,), f"{label!r}", f"the {enum} variant"),
            )


def _artifacts(s: _Scopes, e: Entry[ArtifactsFile], specs: SpecSet) -> None:
    mlp = specs.of_kind(MlpModelFile)
    for model, m in e.model.models.items():
        s.add(
            PACKAGE,
            N.role_constant(m.labels, mlp[0].model.output if mlp else None),
            Origin(e, ("models", model, "labels"), f"model {model!r}", "the constant"),
        )
        for ident in N.model_constants(model).values():
            s.add(PACKAGE, ident, Origin(e, ("models", model), f"model {model!r}", "the constant"))


def check_identifiers(specs: SpecSet) -> list[SpecProblem]:
    s = _Scopes()
    s.fixed(PACKAGE, N.GENERATED_NAMES)
    for enums in specs.of_kind(EnumsFile):
        _enums(s, enums)
    for layout in specs.of_kind(FeatureLayoutFile):
        s.fixed(_module(layout.model.name), N.GENERATED_NAMES)
        _feature_layout(s, layout)
    for heads in specs.of_kind(OutputHeadsFile):
        s.fixed(_module(heads.model.name), N.GENERATED_NAMES)
        _output_heads(s, heads)
    for labels in specs.of_kind(TextLabelsFile):
        _text_labels(s, labels)
    for artifacts in specs.of_kind(ArtifactsFile):
        _artifacts(s, artifacts, specs)
    return s.collisions()
