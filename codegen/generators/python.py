"""Render the `storyml_contract` Python package from the contract."""

from __future__ import annotations

from codegen.generators.common import (
    comment_header,
    environment,
    feature_records,
    head_view,
    record_view,
    region_view,
)
from codegen.spec import names
from codegen.spec.contract import Contract
from codegen.spec.layout import FeatureLayout, OutputLayout, RecordShape, RegionShape
from codegen.spec.models import FP32_SUFFIX, INT8_SUFFIX
from codegen.spec.output_kinds import LOSSES, OUTPUT_KINDS, field_form

PACKAGE = "python/storyml_contract"


def _record_fields(rec: RecordShape) -> list[dict]:
    fields = []
    for f, view in zip(rec.fields, record_view(rec)["fields"]):
        if f.onehot is not None:
            ann, default = f"{f.onehot} | None", "None"
        elif f.type is not None:
            ann, default = f"{f.type} | None", "None"
        else:
            ann, default = "float", "0.0"
        fields.append(dict(view, annotation=ann, default=default))
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
            lines.append(f"    _{names.writer(f.type)}(out, {at}, x.{f.name})")
        else:
            lines.append(f"out[{at}] = float(x.{f.name})")
    return lines


def _region_view(r: RegionShape, record_name: str | None) -> dict:
    view = region_view(r)
    c = view["consts"]
    if not r.is_slots:
        view.update(annotation=record_name, default=f"field(default_factory={record_name})",
                    comment=f"{r.width} floats of {record_name}",
                    lines=[f"_{names.writer(record_name)}(out, {c['offset']}, x.{r.name})"])
        return view
    item, writer = r.item, f"_{names.writer(r.item)}"
    if r.slot_enum is not None:
        view.update(annotation=f"Mapping[{r.slot_enum}, {item}]", default="field(default_factory=dict)",
                    comment=f"one {item} per {r.slot_enum} variant, in variant order; missing ones are zeros",
                    lines=[f"for variant, item in x.{r.name}.items():",
                           f"    {writer}(out, {c['offset']} + {c['slot_width']} * int({r.slot_enum}(variant)), item)"])
    elif r.keyed == "sorted":
        view.update(annotation=f"Mapping[str, {item}]", default="field(default_factory=dict)",
                    comment=f"up to {r.slot_count} {item}s keyed by name, taken in sorted name order; "
                            f"names past the {r.slot_count}th are dropped",
                    lines=[f"for slot, key in enumerate(sorted(x.{r.name})[:{c['slots']}]):",
                           f"    {writer}(out, {c['offset']} + {c['slot_width']} * slot, x.{r.name}[key])"])
    else:
        view.update(annotation=f"Sequence[{item} | None]", default="()",
                    comment=f"up to {r.slot_count} {item}s in the given order; None and missing slots are "
                            f"zeros, items past the {r.slot_count}th are dropped",
                    lines=[f"for slot, item in enumerate(x.{r.name}[:{c['slots']}]):",
                           "    if item is not None:",
                           f"        {writer}(out, {c['offset']} + {c['slot_width']} * slot, item)"])
    return view


def render_features(c: Contract, layout: FeatureLayout) -> str:
    shapes, region_records = feature_records(layout)
    records = [dict(record_view(rec), fields=_record_fields(rec), lines=_record_lines(rec, c.enum_defaults))
               for rec in shapes]
    used = sorted({f.onehot for rec in shapes for f in rec.fields if f.onehot}
                  | {r.slot_enum for r in layout.regions if r.slot_enum})
    return environment().get_template("python/features.py.j2").render(
        header=comment_header(c, "#"), L=layout, records=records, top=names.top_type(layout.name),
        regions=[_region_view(r, region_records.get(r.name)) for r in layout.regions],
        enum_imports=used)


def _output_field_view(h, f) -> dict:
    s = f.spec
    form = field_form(s, f.width)
    param = s.decode.param
    return dict(head=h.name, name=f.name, offset_const=names.head_field_constant(h.name, f.name), kind=s.kind, offset=f.offset, width=f.width, loss=s.loss,
                enum=s.enum, rule=s.decode.rule, param=repr(float(param)) if param is not None else "None",
                annotation=form.py_annotation(),
                encode=form.py_encode(f"y.{h.name}.{f.name}", f.offset, f"{h.name}.{f.name}"),
                decode=form.py_decode(f.offset))


def render_outputs(c: Contract, layout: OutputLayout) -> str:
    heads, fields, encode_lines = [], [], []
    for h in layout.heads:
        views = [_output_field_view(h, f) for f in h.fields]
        heads.append(dict(head_view(h), fields=views))
        fields.extend(views)
        encode_lines.append(f"# {h.name}")
        for v in views:
            encode_lines.extend(v["encode"])
    used = sorted({f.spec.enum for h in layout.heads for f in h.fields if f.spec.enum})
    text = environment().get_template("python/outputs.py.j2").render(
        header=comment_header(c, "#"), O=layout, heads=heads, fields=fields,
        encode_lines=encode_lines, top=names.top_type(layout.name), enum_imports=used,
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
