"""Render the `storyml_contract` Python package from the contract.

The package is written already formatted (`py_layout`) and typed for `mypy --strict`.
"""

from __future__ import annotations

import ast
import math

import jinja2

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
from codegen.generators.py_layout import bracketed, call_line, py_str
from codegen.spec import names
from codegen.spec.contract import Contract
from codegen.spec.layout import (
    FeatureLayout,
    HeadShape,
    OutputFieldShape,
    OutputLayout,
    RecordShape,
    RegionShape,
)
from codegen.spec.models import FP32_SUFFIX, INT8_SUFFIX, MlpModelFile
from codegen.spec.output_kinds import LOSSES, OUTPUT_KINDS, field_form

PACKAGE = "python/storyml_contract"


def _tuple_of(lead: str, items: list[str], indent: int = 0) -> str:
    return bracketed(lead, "(", items, ")", indent, one_tuple=True)


def _env() -> jinja2.Environment:
    env = environment()
    env.filters["pyq"] = lambda v: (
        "None" if v is None else py_str(v) if isinstance(v, str) else repr(v)
    )
    env.globals["tuple_of"] = _tuple_of
    return env


def _import_line(module: str, idents: list[str]) -> str:
    idents = sorted(idents)
    one = f"from {module} import {', '.join(idents)}"
    return one if len(one) <= 100 else bracketed(f"from {module} import ", "(", idents, ")", 0)


def _record_fields(rec: RecordShape) -> list[View]:
    fields = []
    for f, view in zip(rec.fields, record_view(rec)["fields"]):
        if f.onehot is not None:
            ann, default = f"{f.onehot} | None", "None"
            doc = f.doc or f"The `{f.name}` of a {rec.name}: one of {f.onehot}, encoded one-hot."
        elif f.type is not None:
            ann, default = f"{f.type} | None", "None"
            doc = f.doc or f"The `{f.name}` of a {rec.name}."
        else:
            ann, default = "float", "0.0"
            doc = f.doc or f"The `{f.name}` of a {rec.name}."
        fields.append(dict(view, annotation=ann, default=default, doc=doc))
    return fields


def _record_lines(rec: RecordShape, enum_defaults: dict[str, str | None]) -> list[str]:
    """Straight-line writes of one record's fields at `base`, every offset by its named constant."""
    lines = []
    for f in rec.fields:
        at = f"base + {names.record_field_constant(rec.name, f.name)}"
        if f.onehot is not None:
            default = enum_defaults.get(f.onehot)
            if default is not None:
                lines.append(f"# a missing {f.name} counts as {f.onehot}.{default}")
                local = names.field_local(f.name)
                lines.append(
                    f"{local} = {f.onehot}.{default} if x.{f.name} is None else x.{f.name}"
                )
                lines.append(f"out[{at} + int({local})] = 1.0")
            else:
                lines.append(f"if x.{f.name} is not None:")
                lines.append(f"    out[{at} + int(x.{f.name})] = 1.0")
        elif f.type is not None:
            lines.append(f"if x.{f.name} is not None:")
            lines.append(f"    _{names.writer(f.type)}(out, {at}, x.{f.name})")
        else:
            lines.append(f"out[{at}] = float(x.{f.name})")
    return lines


def _region_view(r: RegionShape, record_name: str | None) -> View:
    view = region_view(r)
    c = view["consts"]
    view["checks"] = []
    if not r.is_slots:
        assert record_name is not None
        view.update(
            annotation=record_name,
            default=f"field(default_factory={record_name})",
            comment=f"{r.width} floats of {record_name}",
            doc=r.doc or f"The `{r.name}` region: one `{record_name}`.",
            lines=[f"_{names.writer(record_name)}(out, {c['offset']}, x.{r.name})"],
        )
        return view
    item = r.item or ""
    writer, var = f"_{names.writer(item)}", names.item_variable(item)
    base = f"    base = {c['offset']} + {c['slot_width']} * slot"
    view["doc"] = r.doc or f"Up to {r.slot_count} `{item}` items."
    if r.slot_enum is not None:
        view.update(
            annotation=f"Mapping[{r.slot_enum}, {item}]",
            default="field(default_factory=dict)",
            comment=f"one {item} per {r.slot_enum} member, in member order; missing ones are zeros",
            checks=[
                f"for member in x.{r.name}:",
                f"    if not isinstance(member, {r.slot_enum}):",
                f'        raise EncodeError(f"{r.name}: {{member!r}} is not a {r.slot_enum}")',
            ],
            lines=[
                f"for slot, {var} in x.{r.name}.items():",
                base,
                f"    {writer}(out, base, {var})",
            ],
        )
    elif r.keyed == "sorted":
        view.update(
            annotation=f"Mapping[str, {item}]",
            default="field(default_factory=dict)",
            comment=f"up to {r.slot_count} {item}s keyed by name, in sorted name order",
            checks=[f"_check_items({py_str(r.name)}, len(x.{r.name}), {c['slots']})"],
            lines=[
                f"for slot, key in enumerate(sorted(x.{r.name})):",
                base,
                f"    {writer}(out, base, x.{r.name}[key])",
            ],
        )
    else:
        view.update(
            annotation=f"Sequence[{item} | None]",
            default="()",
            comment=f"up to {r.slot_count} {item}s in the given order; None and missing slots "
            "are zeros",
            checks=[f"_check_items({py_str(r.name)}, len(x.{r.name}), {c['slots']})"],
            lines=[
                f"for slot, {var} in enumerate(x.{r.name}):",
                f"    if {var} is not None:",
                "    " + base,
                f"        {writer}(out, base, {var})",
            ],
        )
    return view


def render_features(c: Contract, layout: FeatureLayout) -> str:
    shapes, region_records = feature_records(layout)
    records = [
        dict(
            record_view(rec),
            doc=rec.doc or f"A `{rec.name}` record of `{layout.name}`.",
            fields=_record_fields(rec),
            lines=_record_lines(rec, c.enum_defaults),
        )
        for rec in shapes
    ]
    used = sorted(
        {f.onehot for rec in shapes for f in rec.fields if f.onehot}
        | {r.slot_enum for r in layout.regions if r.slot_enum}
    )
    return (
        _env()
        .get_template("python/features.py.j2")
        .render(
            header=comment_header(c, "#"),
            L=layout,
            records=records,
            top=names.top_type(layout.name),
            regions=[_region_view(r, region_records.get(r.name)) for r in layout.regions],
            enum_imports=used,
            import_line=_import_line(".enums", used),
        )
    )


def _output_field_view(h: HeadShape, f: OutputFieldShape) -> View:
    s = f.spec
    form = field_form(s, f.width)
    param = s.decode.param
    offset_const = names.head_field_constant(h.name, f.name)
    decode = form.py_decode(offset_const)
    return dict(
        head=h.name,
        name=f.name,
        offset_const=offset_const,
        kind=s.kind,
        offset=f.offset,
        width=f.width,
        loss=s.loss,
        enum=s.enum,
        rule=s.decode.rule,
        param=repr(float(param)) if param is not None else "None",
        annotation=form.py_annotation(),
        doc=s.doc or f"The `{f.name}` output of head `{h.name}`.",
        encode=form.py_encode(f"y.{h.name}.{f.name}", offset_const, f"{h.name}.{f.name}"),
        decode_line=call_line(f"{f.name}=", decode, 12, ","),
    )


def _encode_line(line: str) -> str:
    """One statement of `encode_labels` (4 spaces in), its right-hand call split when too long."""
    indent = len(line) - len(line.lstrip(" ")) + 4
    lead, sep, rhs = line.strip().partition(" = ")
    return call_line(lead + sep, rhs, indent) if sep else " " * indent + line.strip()


def render_outputs(c: Contract, layout: OutputLayout) -> str:
    heads, fields, encode_lines = [], [], []
    for h in layout.heads:
        views = [_output_field_view(h, f) for f in h.fields]
        heads.append(
            dict(head_view(h), fields=views, doc=h.doc or f"Head `{h.name}` of `{layout.name}`.")
        )
        fields.extend(views)
        encode_lines.append(f"    # {h.name}")
        for v in views:
            encode_lines.extend(_encode_line(line) for line in v["encode"])
    used = sorted({f.spec.enum for h in layout.heads for f in h.fields if f.spec.enum})
    head_infos = [
        bracketed(
            "HeadInfo",
            "(",
            [py_str(h.name), str(h.offset), str(h.width), repr(float(h.weight))],
            ")",
            4,
            ",",
        )
        for h in layout.heads
    ]
    field_infos = [
        bracketed(
            "FieldInfo",
            "(",
            [
                py_str(f["head"]),
                py_str(f["name"]),
                py_str(f["kind"]),
                str(f["offset"]),
                str(f["width"]),
                py_str(f["loss"]),
                "None" if f["enum"] is None else py_str(f["enum"]),
                py_str(f["rule"]),
                f["param"],
            ],
            ")",
            4,
            ",",
        )
        for f in fields
    ]
    return (
        _env()
        .get_template("python/outputs.py.j2")
        .render(
            header=comment_header(c, "#"),
            O=layout,
            heads=heads,
            fields=fields,
            encode_lines=encode_lines,
            top=names.top_type(layout.name),
            enum_imports=used,
            import_line=_import_line(".enums", used),
            head_infos=head_infos,
            field_infos=field_infos,
            kinds=list(OUTPUT_KINDS),
            losses=list(LOSSES),
        )
    )


def _public_names(source: str) -> list[str]:
    """Top-level names a module defines or imports, without the private ones."""
    found: list[str] = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            found.append(node.name)
        elif isinstance(node, ast.Assign):
            found += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            found.append(node.target.id)
        elif isinstance(node, ast.ImportFrom):
            found += [a.asname or a.name for a in node.names]
    return [n for n in found if not n.startswith("_")]


def render_init(c: Contract, modules: dict[str, str]) -> str:
    """The package: its modules, what it re-exports from them (by name), and the artifact facts."""
    mlp = c.specs.one(MlpModelFile)
    reexports = [
        _import_line(
            ".enums",
            [n for n in _public_names(modules["enums"]) if n not in ("annotations", "enum")],
        ),
        _import_line(
            ".text",
            [n for n in _public_names(modules["text"]) if n not in ("annotations", "Sequence")],
        ),
        _import_line(f".{mlp.input}", [names.top_type(mlp.input), "encode_features"]),
        _import_line(
            f".{mlp.output}", [names.top_type(mlp.output), "decode_outputs", "encode_labels"]
        ),
    ]
    text = (
        _env()
        .get_template("python/__init__.py.j2")
        .render(
            header=comment_header(c, "#"),
            c=c,
            modules=sorted(["enums", "text", *c.features, *c.outputs]),
            reexports=reexports,
            spec_files=[py_str("specs/" + f) for f in c.source_files],
            mlp=mlp,
            artifacts=c.artifacts,
            int8_suffix=INT8_SUFFIX,
            fp32_suffix=FP32_SUFFIX,
            roles=c.model_roles(mlp.output),
            onnx_inputs=[
                _tuple_of(f"{py_str(name)}: ", [py_str(i) for i in m.inputs], 4) + ","
                for name, m in c.artifacts.models.items()
            ],
            onnx_outputs=[
                _tuple_of(f"{py_str(name)}: ", [py_str(o) for o in c.head_outputs(name)], 4) + ","
                for name in c.artifacts.models
            ],
        )
    )
    public = sorted(_public_names(text))
    return text + "\n" + bracketed("__all__ = ", "[", [py_str(n) for n in public], "]", 0) + "\n"


def render_python(c: Contract) -> dict[str, str]:
    files = {
        f"{PACKAGE}/enums.py": _env()
        .get_template("python/enums.py.j2")
        .render(
            header=comment_header(c, "#"),
            enums=[
                dict(
                    name=n,
                    variants=v,
                    doc=c.enum_docs[n] or f"The `{n}` enum of the contract.",
                    default=c.enum_defaults[n],
                )
                for n, v in c.enums.items()
            ],
        ),
        f"{PACKAGE}/text.py": _env()
        .get_template("python/text.py.j2")
        .render(
            header=comment_header(c, "#"),
            c=c,
            event_logit_threshold=_logit(c.event_threshold),
            labels=label_lists(c, py_str),
            bio_begins=[
                "True" if x.startswith("B-") and i else "False" for i, x in enumerate(c.bio_labels)
            ],
            bio_category=["None"]
            + [str(k) for k in range(len(c.entity_categories)) for _ in ("B", "I")],
            inside_of_category=[str(c.bio_labels.index("I-" + x)) for x in c.entity_categories],
            begin_before_inside=[
                str(c.bio_labels.index("B-" + x[2:])) if x.startswith("I-") else "None"
                for x in c.bio_labels
            ],
        ),
        f"{PACKAGE}/py.typed": "",
    }
    for name, features in c.features.items():
        files[f"{PACKAGE}/{name}.py"] = render_features(c, features)
    for name, outputs in c.outputs.items():
        files[f"{PACKAGE}/{name}.py"] = render_outputs(c, outputs)
    files[f"{PACKAGE}/__init__.py"] = render_init(
        c, {"enums": files[f"{PACKAGE}/enums.py"], "text": files[f"{PACKAGE}/text.py"]}
    )
    return files


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))
