"""Render the `storyml-contract` Rust crate from the contract (zero dependencies)."""

from __future__ import annotations

from codegen.generators.common import (
    comment_header,
    environment,
    feature_records,
    head_view,
    record_view,
    region_view,
)
from codegen.generators.golden import render_golden_tests
from codegen.spec import names
from codegen.spec.contract import Contract
from codegen.spec.layout import FeatureLayout, OutputLayout, RecordShape, RegionShape
from codegen.spec.models import INT8_SUFFIX
from codegen.spec.output_kinds import field_form

CRATE = "rust"


def _rust_field_type(f) -> str:
    if f.onehot is not None:
        return f"Option<{f.onehot}>"
    if f.type is not None:
        return f"Option<{f.type}>"
    return "f32"


def _rust_record_lines(rec: RecordShape, enum_defaults: dict[str, str | None]) -> list[str]:
    lines = []
    for f in rec.fields:
        at = f"base + {f.offset}" if f.offset else "base"
        if f.onehot is not None:
            if enum_defaults.get(f.onehot):
                lines.append(f"// a missing {f.name} counts as {f.onehot}::DEFAULT")
                lines.append(f"out[{at} + x.{f.name}.unwrap_or({f.onehot}::DEFAULT).index()] = 1.0;")
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


def _rust_region(r: RegionShape, record_name: str | None) -> dict:
    view = region_view(r)
    c = view["consts"]
    if not r.is_slots:
        view.update(rust_type=record_name, comment=f"{r.width} floats at {r.offset}.",
                    rust_lines=[f"{names.writer(record_name)}(&mut out, {c['offset']}, &x.{r.name});"])
        return view
    writer = names.writer(r.item)
    if r.slot_enum is not None:
        view.update(rust_type=f"[Option<{r.item}>; {r.slot_count}]",
                    comment=f"One slot per {r.slot_enum} variant, indexed by `index()`.",
                    rust_lines=[f"for (i, item) in x.{r.name}.iter().enumerate() {{",
                                "    if let Some(item) = item {",
                                f"        {writer}(&mut out, {c['offset']} + {c['slot_width']} * i, item);",
                                "    }", "}"])
    elif r.keyed == "sorted":
        view.update(rust_type=f"BTreeMap<String, {r.item}>",
                    comment=f"Keyed by name; the first {r.slot_count} names in sorted order fill the slots.",
                    rust_lines=[f"for (slot, item) in x.{r.name}.values().take({c['slots']}).enumerate() {{",
                                f"    {writer}(&mut out, {c['offset']} + {c['slot_width']} * slot, item);",
                                "}"])
    else:
        view.update(rust_type=f"Vec<Option<{r.item}>>",
                    comment=f"Up to {r.slot_count} slots in order; None is an empty slot, extra items are dropped.",
                    rust_lines=[f"for (slot, item) in x.{r.name}.iter().take({c['slots']}).enumerate() {{",
                                "    if let Some(item) = item {",
                                f"        {writer}(&mut out, {c['offset']} + {c['slot_width']} * slot, item);",
                                "    }", "}"])
    return view


def render_features(c: Contract, layout: FeatureLayout) -> str:
    shapes, region_records = feature_records(layout)
    records = []
    for rec in shapes:
        view = record_view(rec)
        for f, fv in zip(rec.fields, view["fields"]):
            fv["rust_type"] = _rust_field_type(f)
        records.append(dict(view, rust_lines=_rust_record_lines(rec, c.enum_defaults)))
    return environment().get_template("rust/features.rs.j2").render(
        header=comment_header(c, "//"), L=layout, records=records, top=names.top_type(layout.name),
        regions=[_rust_region(r, region_records.get(r.name)) for r in layout.regions])


def _rust_output_field(f) -> dict:
    form = field_form(f.spec, f.width)
    return dict(name=f.name, rust_type=form.rust_type(), rust_decode=form.rust_decode(f.offset))


def render_outputs(c: Contract, layout: OutputLayout) -> str:
    heads, fields = [], []
    for h in layout.heads:
        heads.append(dict(head_view(h), fields=[_rust_output_field(f) for f in h.fields]))
        fields.extend(dict(head=h.name, name=f.name, offset=f.offset,
                           offset_const=names.head_field_constant(h.name, f.name)) for f in h.fields)
    return environment().get_template("rust/outputs.rs.j2").render(
        header=comment_header(c, "//"), O=layout, heads=heads, fields=fields,
        top=names.top_type(layout.name))


CRATE_VERSION = "0.1.0"


def render_rust(c: Contract) -> dict[str, str]:
    env = environment()
    mlp = c.specs.one("mlp_model")
    models = [dict(consts=names.model_constants(name), file=m.file, int8_file=m.int8_file, inputs=m.inputs,
                   outputs=c.head_outputs(name))
              for name, m in c.artifacts.models.items()]
    files = {
        f"{CRATE}/Cargo.toml": env.get_template("rust/Cargo.toml.j2").render(
            header=comment_header(c, "#"), version=CRATE_VERSION),
        f"{CRATE}/Cargo.lock": _CARGO_LOCK.format(version=CRATE_VERSION),
        f"{CRATE}/src/lib.rs": env.get_template("rust/lib.rs.j2").render(
            header=comment_header(c, "//"), c=c, mlp=mlp, artifacts=c.artifacts, models=models,
            int8_suffix=INT8_SUFFIX, roles=c.model_roles(mlp.output),
            modules=sorted([*c.features, *c.outputs])),
        f"{CRATE}/src/enums.rs": env.get_template("rust/enums.rs.j2").render(
            header=comment_header(c, "//"),
            enums=[dict(name=n, variants=v, doc=c.enum_docs[n], default=c.enum_defaults[n])
                   for n, v in c.enums.items()]),
        f"{CRATE}/src/text.rs": env.get_template("rust/text.rs.j2").render(
            header=comment_header(c, "//"), c=c, event_logit_threshold=_logit(c.event_threshold),
            event_idents=[names.pascal_identifier(x) for x in c.event_kinds],
            category_idents=[names.pascal_identifier(x) for x in c.entity_categories]),
    }
    for name, layout in c.features.items():
        files[f"{CRATE}/src/{name}.rs"] = render_features(c, layout)
    for name, layout in c.outputs.items():
        files[f"{CRATE}/src/{name}.rs"] = render_outputs(c, layout)
    files[f"{CRATE}/tests/golden.rs"] = render_golden_tests(c)
    return files


def _logit(p: float) -> float:
    import math

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
