"""Render the `storyml-contract` Rust crate from the contract (zero dependencies).

The crate is written already formatted (`rust_layout`), documented from the specs' `doc` fields
(`#![deny(missing_docs)]`), and clean under `cargo clippy -- -D warnings`.
"""

from __future__ import annotations

import math

from codegen.generators import rust_layout
from codegen.generators.common import (
    View,
    comment_header,
    environment,
    feature_records,
    head_view,
    label_lists,
    record_view,
    region_view,
)
from codegen.generators.golden import render_golden_tests
from codegen.generators.literals import rust_str
from codegen.spec import names
from codegen.spec.contract import Contract
from codegen.spec.layout import (
    FeatureLayout,
    FieldShape,
    OutputFieldShape,
    OutputLayout,
    RecordShape,
    RegionShape,
)
from codegen.spec.models import INT8_SUFFIX, MlpModelFile
from codegen.spec.output_kinds import field_form

CRATE = "rust"


def _rust_field_type(f: FieldShape) -> str:
    if f.onehot is not None:
        return f"Option<{f.onehot}>"
    if f.type is not None:
        return f"Option<{f.type}>"
    return "f32"


def _field_doc(rec: RecordShape, f: FieldShape) -> str:
    if f.doc:
        return f.doc
    if f.onehot is not None:
        return f"The `{f.name}` of a {rec.name}: one of {f.onehot}, encoded one-hot."
    return f"The `{f.name}` of a {rec.name}."


def _rust_record_lines(rec: RecordShape, enum_defaults: dict[str, str | None]) -> list[str]:
    """Writes of one record's fields at `base`, every offset by its named constant."""
    lines = []
    for f in rec.fields:
        at = f"base + {names.record_field_constant(rec.name, f.name)}"
        if f.onehot is not None:
            if enum_defaults.get(f.onehot):
                lines.append(f"// a missing {f.name} counts as {f.onehot}::DEFAULT")
                local = names.field_local(f.name)
                lines.append(f"let {local} = x.{f.name}.unwrap_or({f.onehot}::DEFAULT);")
                lines.append(f"out[{at} + {local}.index()] = 1.0;")
            else:
                lines.append(f"if let Some(v) = x.{f.name} {{")
                lines.append(f"    out[{at} + v.index()] = 1.0;")
                lines.append("}")
        elif f.type is not None:
            lines.append(f"if let Some(v) = &x.{f.name} {{")
            lines.append(f"    {names.writer(f.type)}(out, {at}, v);")
            lines.append("}")
        else:
            lines.append(f"out[{at}] = x.{f.name};")
    return lines


def _region_doc(r: RegionShape, record_name: str | None) -> str:
    if r.doc:
        return r.doc
    if r.is_slots:
        return f"Up to {r.slot_count} `{r.item}` items."
    return f"The `{r.name}` region: one `{record_name}`."


def _rust_region(r: RegionShape, record_name: str | None) -> View:
    view = region_view(r)
    c = view["consts"]
    view["doc"] = _region_doc(r, record_name)
    if not r.is_slots:
        assert record_name is not None
        view.update(
            rust_type=record_name,
            check=None,
            rust_lines=[f"{names.writer(record_name)}(&mut out, {c['offset']}, &x.{r.name});"],
        )
        return view
    writer = names.writer(r.item or "")
    base = f"    let base = {c['offset']} + {c['slot_width']} * slot;"
    if r.slot_enum is not None:
        view.update(
            rust_type=f"[Option<{r.item}>; {r.slot_enum}::COUNT]",
            check=None,
            rust_lines=[
                f"for (slot, item) in x.{r.name}.iter().enumerate() {{",
                base,
                "    if let Some(item) = item {",
                f"        {writer}(&mut out, base, item);",
                "    }",
                "}",
            ],
        )
        return view
    view["check"] = rust_layout.statement(
        "",
        rust_layout.Call(
            "check_items",
            (
                rust_layout.Atom(rust_str(r.name)),
                rust_layout.Atom(f"x.{r.name}.len()"),
                rust_layout.Atom(c["slots"]),
            ),
        ),
        4,
        "?;",
    )
    if r.keyed == "sorted":
        view.update(
            rust_type=f"BTreeMap<String, {r.item}>",
            rust_lines=[
                f"for (slot, item) in x.{r.name}.values().enumerate() {{",
                base,
                f"    {writer}(&mut out, base, item);",
                "}",
            ],
        )
    else:
        view.update(
            rust_type=f"Vec<Option<{r.item}>>",
            rust_lines=[
                f"for (slot, item) in x.{r.name}.iter().enumerate() {{",
                base,
                "    if let Some(item) = item {",
                f"        {writer}(&mut out, base, item);",
                "    }",
                "}",
            ],
        )
    return view


def commented_lines(items: list[str], comments: list[str], indent: int) -> list[str]:
    """Vertical list items, each with a trailing `// comment` aligned as rustfmt aligns them."""
    texts = [" " * indent + item + "," for item in items]
    column = max(len(t) for t in texts) + 1
    return [f"{t.ljust(column)}// {c}" for t, c in zip(texts, comments)]


def render_features(c: Contract, layout: FeatureLayout) -> str:
    shapes, region_records = feature_records(layout)
    records = []
    for rec in shapes:
        view = record_view(rec)
        for f, fv in zip(rec.fields, view["fields"]):
            fv.update(rust_type=_rust_field_type(f), doc=_field_doc(rec, f))
        records.append(
            dict(
                view,
                doc=rec.doc or f"A `{rec.name}` record of `{layout.name}`.",
                rust_lines=_rust_record_lines(rec, c.enum_defaults),
            )
        )
    regions = [_rust_region(r, region_records.get(r.name)) for r in layout.regions]
    enums = {f.onehot for rec in shapes for f in rec.fields if f.onehot}
    enums |= {r.slot_enum for r in layout.regions if r.slot_enum}
    leaves = list(layout.leaves)
    return (
        environment()
        .get_template("rust/features.rs.j2")
        .render(
            header=comment_header(c, "//"),
            L=layout,
            records=records,
            top=names.top_type(layout.name),
            regions=regions,
            check_lines=[r["check"] for r in regions if r["check"]],
            uses_btreemap=any(r.keyed == "sorted" for r in layout.regions),
            enum_imports=sorted(enums),
            name_lines=commented_lines(
                [rust_str(n) for n in leaves], [str(i) for i in range(len(leaves))], 4
            ),
        )
    )


def _rust_output_field(head: str, f: OutputFieldShape) -> View:
    form = field_form(f.spec, f.width)
    decode = form.rust_decode(names.head_field_constant(head, f.name))
    return dict(
        name=f.name,
        rust_type=form.rust_type(),
        rust_decode=decode,
        line=rust_layout.statement(f"{f.name}: ", rust_layout.parse_call(decode), 12, ","),
        doc=f.spec.doc or f"The `{f.name}` output of head `{head}`.",
    )


# The decode helpers outputs.rs defines when a field's decoding calls them.
DECODE_HELPERS = ("argmax", "round_clamp", "round_or_none", "cut", "flag", "each")


def render_outputs(c: Contract, layout: OutputLayout) -> str:
    heads: list[View] = []
    fields: list[View] = []
    for h in layout.heads:
        heads.append(
            dict(
                head_view(h),
                doc=h.doc or f"Head `{h.name}` of `{layout.name}`.",
                fields=[_rust_output_field(h.name, f) for f in h.fields],
            )
        )
        fields.extend(
            dict(
                head=h.name,
                name=f.name,
                offset=f.offset,
                offset_const=names.head_field_constant(h.name, f.name),
            )
            for f in h.fields
        )
    leaves = list(layout.leaves)
    enums = sorted({f.spec.enum for h in layout.heads for f in h.fields if f.spec.enum})
    decodes = [f["rust_decode"] for h in heads for f in h["fields"]]
    helpers = {name for name in DECODE_HELPERS if any(f"{name}(" in d for d in decodes)}
    return (
        environment()
        .get_template("rust/outputs.rs.j2")
        .render(
            header=comment_header(c, "//"),
            O=layout,
            heads=heads,
            fields=fields,
            helpers=helpers,
            top=names.top_type(layout.name),
            enum_imports=enums,
            head_names=[rust_str(h.name) for h in layout.heads],
            name_lines=commented_lines(
                [rust_str(n) for n in leaves], [str(i) for i in range(len(leaves))], 4
            ),
        )
    )


def render_rust(c: Contract, python_files: dict[str, str] | None = None) -> dict[str, str]:
    """The Rust crate; its golden tests run the generated Python (`python_files`, when the
    caller has already rendered it)."""
    env = environment()
    mlp = c.specs.one(MlpModelFile)
    models = [
        dict(
            name=name,
            consts=names.model_constants(name),
            file=m.file,
            int8_file=m.int8_file,
            inputs=[rust_str(i) for i in m.inputs],
            outputs=[rust_str(o) for o in c.head_outputs(name)],
        )
        for name, m in c.artifacts.models.items()
    ]
    files = {
        f"{CRATE}/Cargo.toml": env.get_template("rust/Cargo.toml.j2").render(
            header=comment_header(c, "#"), version=c.version.version
        ),
        f"{CRATE}/Cargo.lock": _CARGO_LOCK.format(version=c.version.version),
        f"{CRATE}/src/lib.rs": env.get_template("rust/lib.rs.j2").render(
            header=comment_header(c, "//"),
            c=c,
            mlp=mlp,
            artifacts=c.artifacts,
            models=models,
            int8_suffix=INT8_SUFFIX,
            roles=c.model_roles(mlp.output),
            modules=sorted(["enums", "text", *c.features, *c.outputs]),
        ),
        f"{CRATE}/src/enums.rs": env.get_template("rust/enums.rs.j2").render(
            header=comment_header(c, "//"),
            enums=[
                dict(
                    name=n,
                    variants=v,
                    doc=c.enum_docs[n] or f"The `{n}` enum of the contract.",
                    default=c.enum_defaults[n],
                    qualified=[f"{n}::{x}" for x in v],
                )
                for n, v in c.enums.items()
            ],
        ),
        f"{CRATE}/src/text.rs": env.get_template("rust/text.rs.j2").render(
            header=comment_header(c, "//"),
            c=c,
            event_logit_threshold=_logit(c.event_threshold),
            labels=label_lists(c, rust_str),
            events=[(names.pascal_identifier(x), x) for x in c.event_kinds],
            events_qualified=[f"EventKind::{names.pascal_identifier(x)}" for x in c.event_kinds],
            categories=[(names.pascal_identifier(x), x) for x in c.entity_categories],
            categories_qualified=[
                f"EntityCategory::{names.pascal_identifier(x)}" for x in c.entity_categories
            ],
            bio_begins=[
                "true" if x.startswith("B-") and i else "false" for i, x in enumerate(c.bio_labels)
            ],
            bio_category=["None"]
            + [
                f"Some(EntityCategory::{names.pascal_identifier(x)})"
                for x in c.entity_categories
                for _ in ("B", "I")
            ],
            inside_of_category=[str(c.bio_labels.index("I-" + x)) for x in c.entity_categories],
            begin_before_inside=[
                f"Some({c.bio_labels.index('B-' + x[2:])})" if x.startswith("I-") else "None"
                for x in c.bio_labels
            ],
        ),
    }
    for name, features in c.features.items():
        files[f"{CRATE}/src/{name}.rs"] = render_features(c, features)
    for name, outputs in c.outputs.items():
        files[f"{CRATE}/src/{name}.rs"] = render_outputs(c, outputs)
    files[f"{CRATE}/tests/golden.rs"] = render_golden_tests(c, python_files)
    return files


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


# Cargo writes this lock file for a crate without dependencies; committing it
# keeps `cargo test --offline` from touching the tree.
_CARGO_LOCK = """# This file is automatically @generated by Cargo.
# It is not intended for manual editing.
version = 4

[[package]]
name = "storyml-contract"
version = "{version}"
"""
