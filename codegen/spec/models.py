"""Pydantic models of the contract spec files, one model per file `kind`.

Each model checks what one file can check by itself (shapes, names, local
sums). Checks that span files (enum references, declared totals against
computed layouts) live in `crosscheck.py`. Extra keys are refused everywhere.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Literal, Union, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from codegen.spec import output_kinds
from codegen.spec.limits import F32_EXACT_INT, MAX_VECTOR_WIDTH, RUST_INT_TYPES
from codegen.spec.names import check_pascal, check_snake


class SpecModel(BaseModel):
    # strict: `true` is not a count and "3" is not a number; no inf or nan anywhere.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _snake(v: str) -> str:
    if why := check_snake(v):
        raise ValueError(why)
    return v


def _pascal(v: str) -> str:
    if why := check_pascal(v):
        raise ValueError(why)
    return v


# Names that become Python and Rust identifiers; labels are free text.
SnakeName = Annotated[str, AfterValidator(_snake)]
PascalName = Annotated[str, AfterValidator(_pascal)]


def unique(what: str) -> AfterValidator:
    """A list validator refusing repeats, naming the repeated item."""
    return AfterValidator(lambda v: _unique(v, what))


def _not_blank(v: str) -> str:
    if not v.strip():
        raise ValueError(f"{v!r} is blank: a label needs a visible character")
    return v


# Free text that names something (labels, metadata keys): any characters, but not none or only spaces.
Label = Annotated[str, Field(min_length=1), AfterValidator(_not_blank)]


def _unique(items: list[str], what: str) -> list[str]:
    """Refuse repeats; the error names the first repeated item so its line can be found."""
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item in seen:
            raise ValueError(f"duplicate {what}: {item!r} {ITEM_MARK.format(i)}")
        seen.add(item)
    return items


# `loader` moves this mark from the message into the key path: `labels[7]`, not `labels`.
ITEM_MARK = "(item {})"


# ---------------------------------------------------------------- enums


class EnumSpec(SpecModel):
    doc: str = ""
    variants: Annotated[list[PascalName], Field(min_length=1), unique("variant")]
    default: str | None = Field(None, description="Variant used when a value is missing.")

    @model_validator(mode="after")
    def _default_is_variant(self) -> "EnumSpec":
        if self.default is not None and self.default not in self.variants:
            raise ValueError(f"default {self.default!r} is not one of the variants")
        return self


class EnumsFile(SpecModel):
    kind: Literal["enums"]
    enums: dict[PascalName, EnumSpec] = Field(min_length=1)


# ---------------------------------------------------------------- feature layout


class FeatureField(SpecModel):
    """One field of a record: a float (default), a one-hot of an enum, or a nested type."""

    name: SnakeName
    doc: str = ""
    onehot: str | None = Field(None, description="Enum whose one-hot encodes this field.")
    type: str | None = Field(None, description="A composite type declared under `types`.")
    constant: bool = Field(
        False,
        description=(
            "The character data generator leaves this field at its zero/default on purpose. Without it, "
            "a field the generator never writes is an error (it would be silently all zeros in the data)."
        ),
    )

    @model_validator(mode="after")
    def _one_shape(self) -> "FeatureField":
        if self.onehot is not None and self.type is not None:
            raise ValueError("give at most one of `onehot` and `type`")
        return self


class FeatureType(SpecModel):
    doc: str = ""
    fields: list[FeatureField] = Field(min_length=1)

    @field_validator("fields")
    @classmethod
    def _unique_fields(cls, v: list[FeatureField]) -> list[FeatureField]:
        _unique([f.name for f in v], "field name")
        return v


class Slots(SpecModel):
    """Repeated items: `count` slots (filled in order, rest zero) or one slot `per` enum variant."""

    count: int | None = Field(None, ge=1, le=MAX_VECTOR_WIDTH)
    per: str | None = Field(None, description="Enum with one slot per variant, in variant order.")
    keyed: Literal["sorted"] | None = Field(
        None,
        description="Items arrive keyed by name; the first `count` keys in sorted order fill the slots.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> "Slots":
        if (self.count is None) == (self.per is None):
            raise ValueError("give exactly one of `count` and `per`")
        if self.keyed and self.per:
            raise ValueError("`keyed` applies to `count` slots only")
        return self


class Region(SpecModel):
    name: SnakeName
    doc: str = ""
    offset: int | None = Field(
        None, ge=0, description="Declared start; checked against the computed one."
    )
    size: int | None = Field(
        None, ge=1, description="Declared width; checked against the computed one."
    )
    fields: list[FeatureField] | None = None
    slots: Slots | None = None
    item: str | None = Field(None, description="Type of each slot.")
    constant: bool = Field(
        False,
        description=(
            "The character data generator leaves the whole region at zeros on purpose. Without it, a region "
            "the generator never writes is an error (it would be silently all zeros in the data)."
        ),
    )

    @model_validator(mode="after")
    def _shape(self) -> "Region":
        if self.fields is not None:
            if self.slots is not None or self.item is not None:
                raise ValueError("a region has either `fields` or `slots` with `item`, not both")
            _unique([f.name for f in self.fields], "field name")
        elif self.slots is None or self.item is None:
            raise ValueError("a region needs `fields`, or `slots` together with `item`")
        return self


class FeatureLayoutFile(SpecModel):
    kind: Literal["feature_layout"]
    name: SnakeName
    total: int = Field(
        ge=1,
        le=MAX_VECTOR_WIDTH,
        description="Declared vector width; checked against the computed one.",
    )
    types: dict[PascalName, FeatureType] = Field(default_factory=dict)
    regions: list[Region] = Field(min_length=1)

    @field_validator("regions")
    @classmethod
    def _unique_regions(cls, v: list[Region]) -> list[Region]:
        _unique([r.name for r in v], "region name")
        return v


# ---------------------------------------------------------------- output heads

# Kinds and losses come from the output-kind table, in its order (the JSON Schema lists them so).
# A Literal built from a table is beyond a static checker: to mypy they are the strings they hold.
if TYPE_CHECKING:
    OutputKind = str
    Loss = str
else:
    OutputKind = Literal[tuple(output_kinds.OUTPUT_KINDS)]
    Loss = Literal[output_kinds.LOSSES]


class DecodeRule(SpecModel):
    @property
    def param(self) -> float | None:
        """The one number a decoder compares with, as both renderers emit it (None: no number)."""
        return None


class Argmax(DecodeRule):
    rule: Literal["argmax"]


class SigmoidThreshold(DecodeRule):
    rule: Literal["sigmoid_threshold"]
    threshold: float = Field(gt=0.0, lt=1.0, description="True when sigmoid(logit) > threshold.")

    @property
    def logit_threshold(self) -> float:
        """The same cut in logit space: both sides compare logits, never raw sigmoids."""
        return math.log(self.threshold / (1.0 - self.threshold))

    @property
    def param(self) -> float:
        return self.logit_threshold


class Identity(DecodeRule):
    rule: Literal["identity"]


class AbsCutoff(DecodeRule):
    rule: Literal["abs_cutoff"]
    cutoff: float = Field(ge=0.0, description="Values with |x| <= cutoff decode as 0.")

    @property
    def param(self) -> float:
        return self.cutoff


class RoundClamp(DecodeRule):
    rule: Literal["round_clamp"]


class RoundOrNone(DecodeRule):
    rule: Literal["round_or_none"]
    none_below: int = Field(
        ge=-F32_EXACT_INT,
        le=F32_EXACT_INT,
        description="A rounded value below this decodes as 'none'.",
    )

    @property
    def param(self) -> float:
        return float(self.none_below)


AnyDecodeRule = Union[Argmax, SigmoidThreshold, Identity, AbsCutoff, RoundClamp, RoundOrNone]
DECODE_RULES: tuple[type[DecodeRule], ...] = get_args(AnyDecodeRule)
Decode = Annotated[AnyDecodeRule, Field(discriminator="rule")]
# Rules without parameters may be written bare: `decode: argmax` means `decode: {rule: argmax}`.
# Built from the rule models, so only the schema (and pydantic) read it: to mypy it is a string.
if TYPE_CHECKING:
    BareRule = str
else:
    BareRule = Literal[
        tuple(
            get_args(m.model_fields["rule"].annotation)[0]
            for m in DECODE_RULES
            if set(m.model_fields) == {"rule"}
        )
    ]


def _bare_rule(v: object) -> object:
    return {"rule": v} if isinstance(v, str) else v


DecodeField = Annotated[
    Decode, BeforeValidator(_bare_rule, json_schema_input_type=Union[Decode, BareRule])
]

# The rule models above are the spec syntax; their meaning is a row of the output-kind table.
assert [get_args(m.model_fields["rule"].annotation)[0] for m in DECODE_RULES] == list(
    output_kinds.DECODE_RULES
)


class OutputField(SpecModel):
    name: SnakeName
    doc: str = ""
    kind: OutputKind
    enum: str | None = None
    loss: Loss
    decode: DecodeField

    @model_validator(mode="after")
    def _kind_fits(self) -> "OutputField":
        row = output_kinds.OUTPUT_KINDS[self.kind]
        losses, rules, needs_enum = row.losses, row.rules, row.enum
        if self.loss not in losses:
            raise ValueError(
                f"a {self.kind} field trains with {' or '.join(losses)}, not {self.loss}"
            )
        if self.decode.rule not in rules:
            raise ValueError(
                f"a {self.kind} field decodes with {' or '.join(rules)}, not {self.decode.rule}"
            )
        if needs_enum and self.enum is None:
            raise ValueError(f"a {self.kind} field needs `enum`")
        if not needs_enum and self.enum is not None:
            raise ValueError(f"a {self.kind} field takes no `enum`")
        return self


class Head(SpecModel):
    name: SnakeName
    doc: str = ""
    weight: float = Field(gt=0.0, description="Weight of this head's summed loss in the total.")
    size: int | None = Field(
        None, ge=1, description="Declared width; checked against the computed one."
    )
    fields: list[OutputField] = Field(min_length=1)

    @field_validator("fields")
    @classmethod
    def _unique_fields(cls, v: list[OutputField]) -> list[OutputField]:
        _unique([f.name for f in v], "field name")
        return v


class OutputHeadsFile(SpecModel):
    kind: Literal["output_heads"]
    name: SnakeName
    total: int = Field(ge=1, le=MAX_VECTOR_WIDTH)
    heads: list[Head] = Field(min_length=1)

    @field_validator("heads")
    @classmethod
    def _unique_heads(cls, v: list[Head]) -> list[Head]:
        _unique([h.name for h in v], "head name")
        return v


# ---------------------------------------------------------------- text labels


class EventKinds(SpecModel):
    multi_label: bool
    threshold: float = Field(gt=0.0, lt=1.0)
    at_least_one: bool = Field(
        False,
        description="Multi-label only: a sentence always gets its most "
        "likely kind, even when no kind passes the threshold (every sentence "
        "narrates something).",
    )
    labels: list[Label] = Field(min_length=1)
    engine_only: list[Label] = Field(default_factory=list)

    @field_validator("labels", "engine_only")
    @classmethod
    def _unique_labels(cls, v: list[str]) -> list[str]:
        return _unique(v, "label")

    @model_validator(mode="after")
    def _disjoint(self) -> "EventKinds":
        both = sorted(set(self.labels) & set(self.engine_only))
        if both:
            raise ValueError(f"labels also listed as engine_only: {both}")
        return self


class EntityCategories(SpecModel):
    scheme: Literal["BIO"]
    categories: list[Label] = Field(min_length=1)

    @field_validator("categories")
    @classmethod
    def _unique_categories(cls, v: list[str]) -> list[str]:
        return _unique(v, "category")


class TextLabelsFile(SpecModel):
    kind: Literal["text_labels"]
    event_kinds: EventKinds
    entity_categories: EntityCategories
    entity_roles: Annotated[list[PascalName], Field(min_length=1), unique("role")]
    registers: Annotated[
        list[SnakeName],
        Field(min_length=1, description="Voices a sentence may be written in."),
        unique("register"),
    ]
    max_seq_length: int = Field(ge=8, le=RUST_INT_TYPES["max_seq_length"].max)
    ignore_index: int = Field(ge=RUST_INT_TYPES["ignore_index"].min, lt=0)


# ---------------------------------------------------------------- artifacts


# An INT8-quantized model sits beside its FP32 file under this name: `x.onnx` -> `x.int8.onnx`.
# The generated contract publishes each model's INT8 file (INT8_ARTIFACT_FILES, `*_INT8_FILE`).
FP32_SUFFIX = ".onnx"
INT8_SUFFIX = ".int8.onnx"


def int8_file(file: str) -> str:
    return file.removesuffix(FP32_SUFFIX) + INT8_SUFFIX


class ModelArtifact(SpecModel):
    file: str = Field(pattern=r"^[A-Za-z0-9_.-]+\.onnx$")
    inputs: list[str] = Field(min_length=1)
    outputs: list[str] | None = Field(
        None, description="Output names; omitted for a head model, whose outputs are its heads."
    )
    labels: str = Field(description="`event_kinds`, `bio`, or the name of an output_heads spec.")

    @field_validator("inputs", "outputs")
    @classmethod
    def _io_names(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            for name in v:
                _snake(name)
            _unique(v, "name")
        return v

    @property
    def int8_file(self) -> str:
        return int8_file(self.file)


class MetadataKeys(SpecModel):
    """ONNX metadata_props keys an engine reads to refuse a model built for another contract."""

    fingerprint: Label = Field(description="Key holding the contract fingerprint.")
    labels: Label = Field(description="Key holding the label lists (JSON, per output).")


class ArtifactsFile(SpecModel):
    kind: Literal["artifacts"]
    tokenizer: str = Field(pattern=r"^[A-Za-z0-9_.-]+\.json$")
    models: dict[str, ModelArtifact] = Field(min_length=1)
    opset: int = Field(ge=13, le=RUST_INT_TYPES["opset"].max)
    metadata: MetadataKeys

    @field_validator("models")
    @classmethod
    def _model_names(cls, v: dict[str, ModelArtifact]) -> dict[str, ModelArtifact]:
        for name in v:
            _snake(name)
        _unique([m.file for m in v.values()] + [m.int8_file for m in v.values()], "file")
        return v


# ---------------------------------------------------------------- MLP model


class TrunkLayer(SpecModel):
    width: int = Field(ge=1)
    dropout: float = Field(ge=0.0, lt=1.0)


class Plateau(SpecModel):
    factor: float = Field(gt=0.0, lt=1.0)
    patience: int = Field(ge=0)


class MlpTraining(SpecModel):
    optimizer: Literal["adamw"]
    learning_rate: float = Field(gt=0.0)
    weight_decay: float = Field(ge=0.0)
    max_epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    plateau: Plateau
    early_stopping_patience: int = Field(ge=1)
    validation_fraction: float = Field(gt=0.0, lt=1.0)
    split: Literal["by_cell"]


class MlpModelFile(SpecModel):
    kind: Literal["mlp_model"]
    name: SnakeName
    input: str = Field(description="Name of a feature_layout spec.")
    output: str = Field(description="Name of an output_heads spec.")
    trunk: list[TrunkLayer] = Field(min_length=1)
    head_hidden: int = Field(ge=1)
    activation: Literal["relu", "gelu"]
    parameters: int = Field(
        ge=1, description="Declared parameter count; checked against the architecture."
    )
    training: MlpTraining
