"""Render the `storyml_contract` Python package from the contract."""

from __future__ import annotations

from codegen.generators.common import comment_header, environment, region_view
from codegen.spec.contract import Contract
from codegen.spec.layout import FeatureLayout, OutputLayout, RecordShape, RegionShape
from codegen.spec.models import FP32_SUFFIX, INT8_SUFFIX
from codegen.spec.names import pascal_identifier, screaming, snake
from codegen.spec.output_kinds import LOSSES, OUTPUT_KINDS, field_form

PACKAGE = "python/storyml_contract"


def _record_fields(rec: RecordShape) -> list[dict]:
    fields = []
    for f in rec.fields:
        if f.onehot is not None:
            ann, default = f"{f.onehot} | None", "None"
        elif f.type is not None:
            ann, default = f"{f.type} | None", "None"
        else:
            ann, default = "float", "0.0"
        fields.append(dict(name=f.name, const=screaming(f.name), offset=f.offset,
                           annotation=ann, default=default))
    return fields


def _record_lines(rec: RecordShape, enum_defaults: dict[str, str | None]) -> list[str]:
    """Straight-line writes of one record's fields at `base`."""
    lines = []
    for f in rec.fields:
        at = f"base + {f.offset}" if f.offset else "base"
        if f.onehot is not None:
            default = enum_defaults.get(f.onehot)
            if default is not None:
                lines.append(f"# a missing {f.name} counts as {f.onehot}.{default}")
                lines.append(f"out[{at} + int({f.onehot}.{default} if x.{f.name} is None "
                             f"else x.{f.name})] = 1.0")
            else:
                lines.append(f"if x.{f.name} is not None:")
                lines.append(f"    out[{at} + int(x.{f.name})] = 1.0")
        elif f.type is not None:
            lines.append(f"if x.{f.name} is not None:")
            lines.append(f"    _write_{snake(f.type)}(out, {at}, x.{f.name})")
        else:
            lines.append(f"out[{at}] = float(x.{f.name})")
    return lines


def _region_view(r: RegionShape, record_name: str | None) -> dict:
    view = region_view(r)
    const = view["const"]
    if not r.is_slots:
        view.update(annotation=record_name, default=f"field(default_factory={record_name})",
                    comment=f"{r.width} floats of {record_name}",
                    lines=[f"_write_{snake(record_name)}(out, {const}_OFFSET, x.{r.name})"])
        return view
    item, writer = r.item, f"_write_{snake(r.item)}"
    if r.slot_enum is not None:
        view.update(annotation=f"Mapping[{r.slot_enum}, {item}]", default="field(default_factory=dict)",
                    comment=f"one {item} per {r.slot_enum} variant, in variant order; missing ones are zeros",
                    lines=[f"for variant, item in x.{r.name}.items():",
                           f"    {writer}(out, {const}_OFFSET + {const}_SLOT_WIDTH * int({r.slot_enum}(variant)), item)"])
    elif r.keyed == "sorted":
        view.update(annotation=f"Mapping[str, {item}]", default="field(default_factory=dict)",
                    comment=f"up to {r.slot_count} {item}s keyed by name, taken in sorted name order; "
                            f"names past the {r.slot_count}th are dropped",
                    lines=[f"for slot, key in enumerate(sorted(x.{r.name})[:{const}_SLOTS]):",
                           f"    {writer}(out, {const}_OFFSET + {const}_SLOT_WIDTH * slot, x.{r.name}[key])"])
    else:
        view.update(annotation=f"Sequence[{item} | None]", default="()",
                    comment=f"up to {r.slot_count} {item}s in the given order; None and missing slots are "
                            f"zeros, items past the {r.slot_count}th are dropped",
                    lines=[f"for slot, item in enumerate(x.{r.name}[:{const}_SLOTS]):",
                           "    if item is not None:",
                           f"        {writer}(out, {const}_OFFSET + {const}_SLOT_WIDTH * slot, item)"])
    return view


def render_features(c: Contract, layout: FeatureLayout) -> str:
    records = []
    region_records: dict[str, str] = {}
    shapes = list(layout.types.values())
    for r in layout.regions:
        if r.record is not None:
            name = pascal_identifier(r.name)
            region_records[r.name] = name
            shapes.append(RecordShape(name, r.record.width, r.record.fields, r.doc))
    for rec in shapes:
        records.append(dict(name=rec.name, const=screaming(rec.name), snake=snake(rec.name),
                            width=rec.width, doc=rec.doc,
                            fields=_record_fields(rec),
                            lines=_record_lines(rec, c.enum_defaults)))
    used = sorted({f.onehot for rec in shapes for f in rec.fields if f.onehot}
                  | {r.slot_enum for r in layout.regions if r.slot_enum})
    return environment().get_template("python/features.py.j2").render(
        header=comment_header(c, "#"), L=layout, records=records, top=pascal_identifier(layout.name),
        regions=[_region_view(r, region_records.get(r.name)) for r in layout.regions],
        enum_imports=used)


def _output_field_view(h, f) -> dict:
    s = f.spec
    form = field_form(s, f.width)
    param = s.decode.param
    return dict(head=h.name, name=f.name, kind=s.kind, offset=f.offset, width=f.width, loss=s.loss,
                enum=s.enum, rule=s.decode.rule, param=repr(float(param)) if param is not None else "None",
                annotation=form.py_annotation(),
                encode=form.py_encode(f"y.{h.name}.{f.name}", f.offset, f"{h.name}.{f.name}"),
                decode=form.py_decode(f.offset))


def render_outputs(c: Contract, layout: OutputLayout) -> str:
    heads, fields, encode_lines = [], [], []
    for h in layout.heads:
        views = [_output_field_view(h, f) for f in h.fields]
        heads.append(dict(name=h.name, cls=pascal_identifier(h.name) + "Head", offset=h.offset,
                          width=h.width, fields=views))
        fields.extend(views)
        encode_lines.append(f"# {h.name}")
        for v in views:
            encode_lines.extend(v["encode"])
    used = sorted({f.spec.enum for h in layout.heads for f in h.fields if f.spec.enum})
    text = environment().get_template("python/outputs.py.j2").render(
        header=comment_header(c, "#"), O=layout, heads=heads, fields=fields,
        encode_lines=encode_lines, top=pascal_identifier(layout.name), enum_imports=used,
        kinds=list(OUTPUT_KINDS), losses=list(LOSSES))
    return text.replace("def encode_labels(", _CHECK_WIDTH + "\n\ndef encode_labels(", 1)


_CHECK_WIDTH = '''def _check_width(values: Sequence, width: int, name: str) -> None:
    if len(values) != width:
        raise ValueError(f"{name}: expected {width} values, got {len(values)}")
'''


def render_init(c: Contract) -> str:
    return environment().get_template("python/__init__.py.j2").render(
        header=comment_header(c, "#"), c=c, features=sorted(c.features), outputs=sorted(c.outputs),
        mlp=c.specs.one("mlp_model"), artifacts=c.artifacts, int8_suffix=INT8_SUFFIX, fp32_suffix=FP32_SUFFIX,
        roles=c.model_roles(c.specs.one("mlp_model").output),
        model_outputs={name: c.head_outputs(name) for name in c.artifacts.models})


def render_python(c: Contract) -> dict[str, str]:
    files = {
        f"{PACKAGE}/__init__.py": render_init(c),
        f"{PACKAGE}/enums.py": environment().get_template("python/enums.py.j2").render(
            header=comment_header(c, "#"),
            enums=[dict(name=n, variants=v, doc=c.enum_docs[n], default=c.enum_defaults[n])
                   for n, v in c.enums.items()]),
        f"{PACKAGE}/text.py": environment().get_template("python/text.py.j2").render(
            header=comment_header(c, "#"), c=c, event_logit_threshold=_logit(c.event_threshold)),
        f"{PACKAGE}/py.typed": "",
    }
    for name, layout in c.features.items():
        files[f"{PACKAGE}/{name}.py"] = render_features(c, layout)
    for name, layout in c.outputs.items():
        files[f"{PACKAGE}/{name}.py"] = render_outputs(c, layout)
    return files


def _logit(p: float) -> float:
    import math

    return math.log(p / (1.0 - p))
