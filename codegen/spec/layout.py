"""Computed layouts: where every feature and output field sits in its vector.

The spec declares order; this module derives offsets and widths from it.
Renderers and the runtime read offsets from here (via the generated code),
never from numbers written in prose.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from codegen.spec import models
from codegen.spec.errors import Loc
from codegen.spec.limits import MAX_VECTOR_WIDTH
from codegen.spec.output_kinds import OUTPUT_KINDS


class LayoutError(ValueError):
    """A reference that does not resolve, or a vector too wide; crosscheck turns it into a located
    problem at `loc` (a key path in the layout's file)."""

    def __init__(self, message: str, loc: Loc = ("types",)):
        super().__init__(message)
        self.loc = loc


def _check_width(width: int, what: str, loc: Loc) -> None:
    """Sizes are checked as they are summed, before any per-float list exists."""
    if width > MAX_VECTOR_WIDTH:
        raise LayoutError(
            f"{what} is {width} floats wide; a vector holds at most {MAX_VECTOR_WIDTH}", loc
        )


@dataclass(frozen=True)
class FieldShape:
    """A field of a record type, with its offset inside the record."""

    name: str
    offset: int
    width: int
    onehot: str | None = None  # enum name
    type: str | None = None  # composite type name
    doc: str = ""

    @property
    def is_scalar(self) -> bool:
        return self.onehot is None and self.type is None


@dataclass(frozen=True)
class RecordShape:
    name: str
    width: int
    fields: tuple[FieldShape, ...]
    doc: str = ""


@dataclass(frozen=True)
class RegionShape:
    name: str
    offset: int
    width: int
    doc: str = ""
    record: RecordShape | None = None  # inline fields
    item: str | None = None  # slot item type
    slot_count: int = 0
    slot_enum: str | None = None  # one slot per variant of this enum
    keyed: str | None = None
    slot_width: int = 0

    @property
    def is_slots(self) -> bool:
        return self.item is not None


@dataclass(frozen=True)
class FeatureLayout:
    name: str
    total: int
    types: dict[str, RecordShape]
    regions: tuple[RegionShape, ...]
    leaves: tuple[str, ...] = field(repr=False)  # one dotted path per float, in vector order

    def index_of(self, path: str) -> int:
        return self.leaves.index(path)


def compute_feature_layout(
    layout: models.FeatureLayoutFile, enums: dict[str, list[str]]
) -> FeatureLayout:
    types: dict[str, RecordShape] = {}

    def record(
        name: str, fields: list[models.FeatureField], doc: str, stack: tuple[str, ...], loc: Loc
    ) -> RecordShape:
        offset, shapes = 0, []
        for f in fields:
            if f.onehot is not None:
                if f.onehot not in enums:
                    raise LayoutError(f"field {f.name!r}: unknown enum {f.onehot!r}")
                width = len(enums[f.onehot])
            elif f.type is not None:
                width = type_shape(f.type, stack).width
            else:
                width = 1
            shapes.append(FieldShape(f.name, offset, width, f.onehot, f.type, f.doc))
            offset += width
            _check_width(offset, f"record {name!r}", loc)
        return RecordShape(name, offset, tuple(shapes), doc)

    def type_shape(name: str, stack: tuple[str, ...] = ()) -> RecordShape:
        if name in types:
            return types[name]
        if name in stack:
            raise LayoutError(
                f"type {name!r} contains itself ({' -> '.join(stack + (name,))})", ("types", name)
            )
        if name not in layout.types:
            raise LayoutError(f"unknown type {name!r}")
        t = layout.types[name]
        types[name] = shape = record(name, t.fields, t.doc, stack + (name,), ("types", name))
        return shape

    for name in layout.types:
        type_shape(name)

    regions, offset = [], 0
    for ri, r in enumerate(layout.regions):
        if r.fields is not None:
            rec = record(r.name, r.fields, r.doc, (), ("regions", ri))
            regions.append(RegionShape(r.name, offset, rec.width, r.doc, record=rec))
        else:
            assert r.slots is not None and r.item is not None
            if r.slots.per is not None:
                if r.slots.per not in enums:
                    raise LayoutError(f"region {r.name!r}: unknown enum {r.slots.per!r}")
                count = len(enums[r.slots.per])
            else:
                count = r.slots.count or 0
            item = type_shape(r.item)
            regions.append(
                RegionShape(
                    r.name,
                    offset,
                    count * item.width,
                    r.doc,
                    item=r.item,
                    slot_count=count,
                    slot_enum=r.slots.per,
                    keyed=r.slots.keyed,
                    slot_width=item.width,
                )
            )
        offset += regions[-1].width
        _check_width(offset, f"the layout up to region {r.name!r}", ("regions", ri))

    leaves: list[str] = []

    def walk(prefix: str, rec: RecordShape) -> None:
        for f in rec.fields:
            path = f"{prefix}.{f.name}"
            if f.onehot is not None:
                leaves.extend(f"{path}={v}" for v in enums[f.onehot])
            elif f.type is not None:
                walk(path, types[f.type])
            else:
                leaves.append(path)

    for reg in regions:
        if reg.record is not None:
            walk(reg.name, reg.record)
        else:
            labels = enums[reg.slot_enum] if reg.slot_enum else range(reg.slot_count)
            for label in labels:
                walk(f"{reg.name}[{label}]", types[reg.item])  # type: ignore[index]
    return FeatureLayout(layout.name, offset, types, tuple(regions), tuple(leaves))


@dataclass(frozen=True)
class OutputFieldShape:
    name: str
    offset: int  # absolute, in the concatenated output vector
    width: int
    spec: models.OutputField


@dataclass(frozen=True)
class HeadShape:
    name: str
    offset: int
    width: int
    weight: float
    fields: tuple[OutputFieldShape, ...]
    doc: str = ""


@dataclass(frozen=True)
class OutputLayout:
    name: str
    total: int
    heads: tuple[HeadShape, ...]
    leaves: tuple[str, ...] = field(repr=False)


def output_width(f: models.OutputField, enums: dict[str, list[str]]) -> int:
    if not OUTPUT_KINDS[f.kind].per_variant:
        return 1
    if f.enum not in enums:
        raise LayoutError(f"field {f.name!r}: unknown enum {f.enum!r}")
    return len(enums[f.enum])


def compute_output_layout(out: models.OutputHeadsFile, enums: dict[str, list[str]]) -> OutputLayout:
    heads: list[HeadShape] = []
    leaves: list[str] = []
    offset = 0
    for h in out.heads:
        fields, start = [], offset
        for f in h.fields:
            width = output_width(f, enums)
            fields.append(OutputFieldShape(f.name, offset, width, f))
            if OUTPUT_KINDS[f.kind].per_variant:
                assert f.enum is not None  # output_width refused a per-variant field without one
                leaves.extend(f"{h.name}.{f.name}={v}" for v in enums[f.enum])
            else:
                leaves.append(f"{h.name}.{f.name}")
            offset += width
        heads.append(HeadShape(h.name, start, offset - start, h.weight, tuple(fields), h.doc))
        _check_width(offset, f"the outputs up to head {h.name!r}", ("heads", len(heads) - 1))
    return OutputLayout(out.name, offset, tuple(heads), tuple(leaves))


def count_mlp_parameters(model: models.MlpModelFile, n_in: int, head_widths: list[int]) -> int:
    total, width = 0, n_in
    for layer in model.trunk:
        total += width * layer.width + layer.width
        width = layer.width
    for n_out in head_widths:
        total += width * model.head_hidden + model.head_hidden + model.head_hidden * n_out + n_out
    return total
