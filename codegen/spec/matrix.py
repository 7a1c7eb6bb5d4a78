"""Spec kinds of the character-prediction training matrix, and their cross-file check.

The matrix is data: personality axes, archetypes, relational dynamics, scene
profiles, and a labelling file whose rules and coherence checks are tables in
a small condition/effect language. This module validates all of it against
the enums, the feature layout and the output heads, so a typo in a rule fails
`storyml check` with a file:line:key message instead of silently labelling
nothing.

The rule language
-----------------
A *condition* maps a path to a matcher; all entries must hold. A path whose
value is absent (no partner edge, no history) never matches.

Feature paths (what the predicted character sees):
  axis.<axis>                 central tendency of a personality axis
  feeling.<Primary>           intensity of a primary in the emotional state
  partner.<field>             the edge to the relationship partner: a substrate's
                              central tendency, or its role
  last_turn.<field>           the most recent history turn
  count.<region>              how many slots of a slot region are filled
  <region>.<field>            a field of a plain region (scene_context.tension)
Label paths (what the rules produced; coherence checks only):
  <head>.<field>              a categorical, flag, scalar, index or flags field
  <head>.<field>.<Variant>    one entry of a per-variant field
Matchers: a variant name, `true`/`false`, or a mapping of
  gt/ge/lt/le (numbers), in/not_in (variant lists), at_most/at_least (flag counts).

An *effect* (`raise`/`lower` of a rule) adds to a label score:
  <head>.<field>.<Variant>    categorical, flags and scalars fields
  <head>.<field>              flag and scalar fields
How each output field turns its scores into a label is its `targets` entry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Callable, Iterable, Literal, NamedTuple, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from codegen.spec.errors import Loc, SpecProblem, one_of
from codegen.spec.models import (
    EnumsFile,
    FeatureField,
    FeatureLayoutFile,
    FeatureType,
    Head,
    OutputField,
    OutputHeadsFile,
    Region,
    Slots,
    SnakeName,
    SpecModel,
)
from codegen.spec.output_kinds import OUTPUT_KINDS, PathKind, field_form
from codegen.spec.specset import Entry, SpecSet

T = TypeVar("T")

# ---------------------------------------------------------------- value types


def _span(v: list[float]) -> list[float]:
    if len(v) != 2:
        raise ValueError(f"a range is [low, high]; got {len(v)} value{'s' if len(v) != 1 else ''}")
    low, high = v
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("range bounds must be finite numbers")
    if low > high:
        raise ValueError(f"empty range: low {low} is above high {high}")
    return v


def _within(lo: float, hi: float) -> Callable[[list[float]], list[float]]:
    def check(v: list[float]) -> list[float]:
        if v[0] < lo or v[1] > hi:
            raise ValueError(f"range {v} leaves the scale [{lo}, {hi}]")
        return v

    return check


Span = Annotated[list[float], AfterValidator(_span)]
UnitSpan = Annotated[list[float], AfterValidator(_span), AfterValidator(_within(0.0, 1.0))]
SignedSpan = Annotated[list[float], AfterValidator(_span), AfterValidator(_within(-1.0, 1.0))]
CountSpan = Annotated[list[int], AfterValidator(_span), AfterValidator(_within(0, 1_000_000))]


def _unique_list(v: list[str]) -> list[str]:
    dupes = sorted({x for x in v if v.count(x) > 1})
    if dupes:
        raise ValueError(f"listed twice: {', '.join(dupes)}")
    return v


Variants = Annotated[list[str], Field(min_length=1), AfterValidator(_unique_list)]

# ---------------------------------------------------------------- personality axes


class AxisGroup(SpecModel):
    doc: str = ""
    axes: dict[SnakeName, str] = Field(
        min_length=1, description="Axis name -> what a high value means."
    )


class PersonalityAxesFile(SpecModel):
    kind: Literal["personality_axes"]
    groups: dict[SnakeName, AxisGroup] = Field(min_length=1)

    @model_validator(mode="after")
    def _axes_unique(self) -> PersonalityAxesFile:
        seen: dict[str, str] = {}
        for g, group in self.groups.items():
            for axis in group.axes:
                if axis in seen:
                    raise ValueError(f"axis {axis!r} is in groups {seen[axis]!r} and {g!r}")
                seen[axis] = g
        return self

    @property
    def axis_names(self) -> list[str]:
        return [a for g in self.groups.values() for a in g.axes]


# ---------------------------------------------------------------- archetypes


class AxisTrait(SpecModel):
    value: UnitSpan = Field(description="Central tendency is drawn uniformly from this range.")
    variance: UnitSpan | None = Field(
        None, description="Overrides the file's default variance range."
    )
    layer: str = Field(description="TemporalLayer variant.")
    provenance: str = Field(description="Provenance variant.")


class EmotionTrait(SpecModel):
    intensity: UnitSpan
    awareness: Variants = Field(description="AwarenessLevel variants, one drawn per example.")


class Archetype(SpecModel):
    doc: str = ""
    axes: dict[str, AxisTrait] = Field(min_length=1)
    emotions: dict[str, EmotionTrait] = Field(description="One entry per EmotionalPrimary variant.")
    self_edge: dict[str, SignedSpan] = Field(description="One range per self_edge field.")


class ArchetypesFile(SpecModel):
    kind: Literal["archetypes"]
    min_axes: int = Field(ge=1, description="Fewest axes an archetype may define.")
    variance: UnitSpan = Field(description="Default variance range of an axis value.")
    archetypes: dict[SnakeName, Archetype] = Field(min_length=1)


# ---------------------------------------------------------------- relational dynamics


class RoleAssignment(SpecModel):
    a: str = Field(description="TopologicalRole of the first character.")
    b: str = Field(description="TopologicalRole of the second character.")


class Dynamic(SpecModel):
    doc: str = ""
    a_to_b: dict[str, SignedSpan] = Field(description="How A sees B: one range per edge substrate.")
    b_to_a: dict[str, SignedSpan] = Field(description="How B sees A: one range per edge substrate.")
    roles: list[RoleAssignment] = Field(
        min_length=1, description="Role assignments; each is a matrix axis."
    )


class Bystanders(SpecModel):
    substrate: dict[str, SignedSpan] = Field(
        description="Edges to other cast members: one range per substrate."
    )
    roles: Variants


class RelationalDynamicsFile(SpecModel):
    kind: Literal["relational_dynamics"]
    variance: UnitSpan = Field(description="Variance range of every edge substrate value.")
    bystanders: Bystanders
    dynamics: dict[SnakeName, Dynamic] = Field(min_length=1)


# ---------------------------------------------------------------- scene profiles


class WeightedEvent(SpecModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    event_type: str
    register_: str = Field(alias="register")  # `register` would shadow a pydantic attribute
    weight: float = Field(gt=0.0)


class SceneProfile(SpecModel):
    doc: str = ""
    scene_type: str
    tension: UnitSpan
    cast_size: CountSpan
    events: list[WeightedEvent] = Field(min_length=1)


class SceneProfilesFile(SpecModel):
    kind: Literal["scene_profiles"]
    profiles: dict[SnakeName, SceneProfile] = Field(min_length=1)


# ---------------------------------------------------------------- labelling rules


class Compare(SpecModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    in_: Variants | None = Field(None, alias="in")
    not_in: Variants | None = None
    at_most: int | None = Field(None, ge=0)
    at_least: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _one_family(self) -> Compare:
        families = [
            name
            for name, keys in MATCHER_FAMILIES.items()
            if any(getattr(self, k) is not None for k in keys)
        ]
        if not families:
            raise ValueError("give a comparison: gt/ge/lt/le, in/not_in or at_most/at_least")
        if len(families) > 1:
            raise ValueError(f"mixes {' and '.join(families)} comparisons")
        return self

    @property
    def family(self) -> str:
        return next(
            n
            for n, keys in MATCHER_FAMILIES.items()
            if any(getattr(self, k) is not None for k in keys)
        )


# Which path kind each comparison family applies to.
MATCHER_FAMILIES: dict[str, tuple[str, ...]] = {
    "number": ("gt", "ge", "lt", "le"),
    "enum": ("in_", "not_in"),
    "flags": ("at_most", "at_least"),
}

Matcher = bool | str | Compare
Condition = dict[str, Matcher]


class Rule(SpecModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: SnakeName
    doc: str = ""
    when: Condition = Field(default_factory=dict, description="All must hold; empty means always.")
    raise_: dict[str, Annotated[float, Field(gt=0.0)]] = Field(default_factory=dict, alias="raise")
    lower: dict[str, Annotated[float, Field(gt=0.0)]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _has_effect(self) -> Rule:
        if not self.raise_ and not self.lower:
            raise ValueError("a rule needs `raise` or `lower`")
        return self


Resolve = Literal[
    "argmax", "positive", "sum", "winner_probability", "partner_slot", "strongest_primary"
]

# resolve -> (output kinds it applies to, whether rules may add to the field's scores)
RESOLVE_RULES: dict[str, tuple[tuple[str, ...], bool]] = {
    "argmax": (("categorical",), True),  # highest score wins; ties go to the lowest index
    "positive": (("flag", "flags"), True),  # true when the score is above zero
    "sum": (("scalar", "scalars"), True),  # the score itself, clamped
    "winner_probability": (("scalar",), False),  # softmax probability of `of`'s winner
    "partner_slot": (("scalar",), False),  # partner's edge slot when `of` is in `when_in`
    "strongest_primary": (("index",), False),  # argmax of feeling + `of` (a delta per variant)
}


class Target(SpecModel):
    resolve: Resolve
    clamp: Span | None = Field(None, description="`sum`: bounds of the result.")
    of: str | None = Field(None, description="The output field this one is derived from.")
    when_in: Variants | None = Field(
        None, description="`partner_slot`: variants of `of` that take a target."
    )

    @model_validator(mode="after")
    def _params(self) -> Target:
        needs = {
            "sum": {"clamp"},
            "winner_probability": {"of"},
            "partner_slot": {"of", "when_in"},
            "strongest_primary": {"of"},
        }.get(self.resolve, set())
        for key in ("clamp", "of", "when_in"):
            given = getattr(self, key) is not None
            if key in needs and not given:
                raise ValueError(f"`{self.resolve}` needs `{key}`")
            if key not in needs and given:
                raise ValueError(f"`{self.resolve}` takes no `{key}`")
        return self


class Implication(SpecModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    if_: Condition = Field(
        default_factory=dict, alias="if", description="Empty means always applicable."
    )
    then: Condition = Field(min_length=1)


class CoherenceCheck(SpecModel):
    doc: str = ""
    weight: float = Field(gt=0.0)
    implications: list[Implication] = Field(min_length=1)


class Coherence(SpecModel):
    threshold: float = Field(
        gt=0.0, le=1.0, description="Examples scoring below this are rejected."
    )
    checks: dict[SnakeName, CoherenceCheck] = Field(min_length=1)


class LabellingRulesFile(SpecModel):
    kind: Literal["labelling_rules"]
    targets: dict[str, Target] = Field(
        min_length=1, description="How each output field is resolved."
    )
    rules: list[Rule] = Field(min_length=1)
    coherence: Coherence

    @field_validator("rules")
    @classmethod
    def _unique_rule_names(cls, v: list[Rule]) -> list[Rule]:
        _unique_list([r.name for r in v])
        return v


# ---------------------------------------------------------------- generation


class Serving(SpecModel):
    fraction: float = Field(
        ge=0.0, le=1.0, description="Share of examples shaped like engine inputs."
    )
    tension: float = Field(ge=0.0, le=1.0, description="The tension the engine fixes at inference.")


class CharacterMatrixFile(SpecModel):
    kind: Literal["character_matrix"]
    features: str = Field(description="Name of the feature_layout the examples encode.")
    outputs: str = Field(description="Name of the output_heads the labels encode.")
    max_cells: int = Field(
        ge=1, description="Cells drawn (deterministically) from the full product."
    )
    variations_per_cell: int = Field(ge=1)
    edge_count_weights: list[Annotated[float, Field(ge=0.0)]] = Field(
        min_length=1, description="Weight of 0, 1, 2, ... filled relational edge slots."
    )
    history_length_weights: list[Annotated[float, Field(ge=0.0)]] = Field(
        min_length=1, description="Weight of 0, 1, 2, ... history turns."
    )
    serving: Serving
    event_confidence: UnitSpan
    target_count: CountSpan
    history_valence: SignedSpan
    decimals: int = Field(
        ge=1, le=12, description="Sampled values are rounded to this many decimals."
    )

    @field_validator("edge_count_weights", "history_length_weights")
    @classmethod
    def _some_weight(cls, v: list[float]) -> list[float]:
        if sum(v) <= 0:
            raise ValueError("at least one weight must be above zero")
        return v


MATRIX_KINDS = (
    "personality_axes",
    "archetypes",
    "relational_dynamics",
    "scene_profiles",
    "labelling_rules",
    "character_matrix",
)
SINGLE_MATRIX_KINDS = ("personality_axes", "labelling_rules", "character_matrix")

# ---------------------------------------------------------------- vocabulary

# The rule language's feature prefixes and the feature regions they read. These
# are names of the language, not contract facts: the check below proves each
# region exists with the shape the prefix needs.
AXIS_REGION = "tensor"  # keyed slots of AxisSlot(value, layer, provenance)
FEELING_REGION = "emotional_state"  # one PrimaryState(intensity, awareness) per variant
SELF_REGION = "self_edge"  # plain floats
EDGE_REGION = "relational_edges"  # slots of RelationalEdge(<substrates>, role)
SCENE_REGION = "scene_context"
EVENT_REGION = "player_event"
HISTORY_REGION = "history"  # slots of HistoryTurn, most recent first


# The fields the example sampler (storyml.data.characters) fills by name: names of the generator,
# like the regions above. The check below proves each exists with the shape the sampler needs, and
# `Vocabulary.unwritten` names (at the field in the layout file) every feature it would leave at zero
# that the layout does not declare `constant: true`. The sampler reads its fields through the same
# `region_fields`/`item_fields`, so "what the generator writes" has one home.
class DistributionNames(NamedTuple):
    """An axis as a distribution: a value drawn in its range, a variance, the range itself."""

    central: str = "central_tendency"
    variance: str = "variance"
    low: str = "range_low"
    high: str = "range_high"


class SlotNames(NamedTuple):
    value: str = "value"  # a distribution
    layer: str = "layer"  # one-hot
    provenance: str = "provenance"  # one-hot


class FeelingNames(NamedTuple):
    intensity: str = "intensity"
    awareness: str = "awareness"  # one-hot


class SceneNames(NamedTuple):
    scene_type: str = "scene_type"  # one-hot
    cast_size: str = "cast_size"
    tension: str = "tension"


class EventNames(NamedTuple):
    event_type: str = "event_type"  # one-hot
    register: str = "register"  # one-hot
    confidence: str = "confidence"
    target_count: str = "target_count"


DISTRIBUTION, SLOT, FEELING, SCENE, EVENT = (
    DistributionNames(),
    SlotNames(),
    FeelingNames(),
    SceneNames(),
    EventNames(),
)
EDGE_ROLE = "role"  # one-hot; every other edge field is a distribution (a substrate)
HISTORY_VALENCE = "emotional_valence"  # every other history field is a one-hot
ANY = "*"  # a field the table does not name

# region -> field -> shape: "number" (a float), "onehot", "distribution" (a type of DISTRIBUTION floats)
SAMPLED_FIELDS: dict[str, dict[str, str]] = {
    AXIS_REGION: {SLOT.value: "distribution", SLOT.layer: "onehot", SLOT.provenance: "onehot"},
    FEELING_REGION: {FEELING.intensity: "number", FEELING.awareness: "onehot"},
    SELF_REGION: {ANY: "number"},
    EDGE_REGION: {EDGE_ROLE: "onehot", ANY: "distribution"},
    SCENE_REGION: {SCENE.scene_type: "onehot", SCENE.cast_size: "number", SCENE.tension: "number"},
    EVENT_REGION: {
        EVENT.event_type: "onehot",
        EVENT.register: "onehot",
        EVENT.confidence: "number",
        EVENT.target_count: "number",
    },
    HISTORY_REGION: {HISTORY_VALENCE: "number", ANY: "onehot"},
}


def written(fields: list[FeatureField]) -> list[FeatureField]:
    """The fields the example sampler fills: all but those the layout declares `constant`."""
    return [f for f in fields if not f.constant]


def _sampled_shape(wanted: dict[str, str], name: str, shape: str) -> str | None:
    """The shape the sampler writes a field as, or None when it leaves the field alone."""
    if name in wanted:
        return wanted[name]
    return shape if wanted.get(ANY) == shape else None


@dataclass(frozen=True)
class PathType:
    kind: PathKind
    enum: str | None = None


def _laid_out(part: T | None, what: str) -> T:
    """A part of the feature layout the shape check (`Vocabulary._shape_problems`) requires."""
    if part is None:
        raise KeyError(f"the feature layout has no {what} (`storyml check` reports it)")
    return part


class Vocabulary:
    """Every path, effect key and enum the matrix specs may name, derived from the other specs."""

    def __init__(
        self,
        enums: dict[str, list[str]],
        layout: FeatureLayoutFile,
        heads: OutputHeadsFile,
        axes: list[str],
    ) -> None:
        self.enums = enums
        self.axes = list(axes)
        self.layout = layout
        self.types: dict[str, FeatureType] = {name: t for name, t in layout.types.items()}
        self.regions: dict[str, Region] = {r.name: r for r in layout.regions}
        self.heads: dict[str, Head] = {h.name: h for h in heads.heads}
        self.problems: list[str] = self._shape_problems()
        self.paths: dict[str, PathType] = {}
        if not self.problems:
            self._feature_paths()
        self._label_paths()

    # -- shape of the regions the language binds to
    def _shape_problems(self) -> list[str]:
        out = []
        wanted = {
            AXIS_REGION: "slots",
            FEELING_REGION: "per",
            SELF_REGION: "fields",
            EDGE_REGION: "slots",
            SCENE_REGION: "fields",
            EVENT_REGION: "fields",
            HISTORY_REGION: "slots",
        }
        for name, shape in wanted.items():
            r = self.regions.get(name)
            if r is None:
                out.append(f"the feature layout has no region {name!r}")
            elif shape == "fields" and r.fields is None:
                out.append(f"region {name!r} must have fields")
            elif shape == "slots" and (
                r.slots is None or r.slots.count is None or r.item not in self.types
            ):
                out.append(f"region {name!r} must be counted slots of a declared type")
            elif shape == "per" and (
                r.slots is None or r.slots.per is None or r.item not in self.types
            ):
                out.append(f"region {name!r} must have one slot per enum variant")
        return out or self._sampled_field_problems()

    def _field_shape(self, f: FeatureField) -> str:
        if f.onehot is not None:
            return "onehot"
        if f.type is None:
            return "number"
        fields = written(self.types[f.type].fields) if f.type in self.types else []
        plain = all(x.onehot is None and x.type is None for x in fields)
        # extra fields are not a shape problem: `unwritten` names each one at its line
        return (
            "distribution"
            if plain and set(DISTRIBUTION) <= {x.name for x in fields}
            else f"type {f.type}"
        )

    def _sampled_field_problems(self) -> list[str]:
        out = []
        for region, wanted in SAMPLED_FIELDS.items():
            r = self.regions[region]
            where = (
                f"region {region!r}"
                if r.fields is not None
                else f"type {r.item!r} (region {region!r})"
            )
            fields = (
                self.region_fields(region) if r.fields is not None else self.item_fields(region)
            )
            declared = {
                f.name
                for f in (r.fields if r.fields is not None else self._item_type(region).fields)
            }
            for name, shape in wanted.items():
                if name != ANY and name not in fields:
                    out.append(
                        f"{where}: field {name!r} is declared `constant`, but the example sampler fills it"
                        if name in declared
                        else f"{where} has no field {name!r}; the example sampler fills it"
                    )
            for name, f in fields.items():
                named_shape = wanted.get(
                    name
                )  # a field only `*` would match is written if its shape fits
                if named_shape is not None and self._field_shape(f) != named_shape:
                    want = {
                        "distribution": f"a type of the floats {', '.join(DISTRIBUTION)}",
                        "onehot": "a one-hot",
                        "number": "a float",
                    }[named_shape]
                    out.append(f"{where}: field {name!r} must be {want} for the example sampler")
        return out

    def unwritten(self) -> list[tuple[Loc, str]]:
        """(key path in the layout file, message) for each feature the example sampler never writes.

        What the sampler writes is SAMPLED_FIELDS applied to the layout's non-`constant` fields (the
        same `region_fields`/`item_fields` the sampler reads); everything else in the vector would be
        silently all zeros in the character data unless the spec declares it `constant`.
        """
        out: dict[Loc, str] = {}
        why = (
            "the character data generator never writes it, so it is all zeros in the data; declare it "
            "`constant: true` if that is on purpose"
        )

        def record(loc: Loc, fields: list[FeatureField], wanted: dict[str, str] | None) -> None:
            for j, f in enumerate(fields):
                if f.constant:
                    continue
                shape = (
                    None if wanted is None else _sampled_shape(wanted, f.name, self._field_shape(f))
                )
                if shape is None:
                    out[loc + ("fields", j)] = f"field {f.name!r}: {why}"
                elif shape == "distribution" and f.type is not None and f.type in self.types:
                    record(
                        ("types", f.type),
                        self.types[f.type].fields,
                        {n: "number" for n in DISTRIBUTION},
                    )

        for ri, r in enumerate(self.layout.regions):
            if r.constant:
                continue
            wanted = SAMPLED_FIELDS.get(r.name)
            if r.fields is not None:
                record(("regions", ri), r.fields, wanted)
            elif wanted is None:
                out[("regions", ri)] = f"region {r.name!r}: {why}"
            elif r.item is not None and r.item in self.types:
                record(("types", r.item), self.types[r.item].fields, wanted)
        return list(out.items())

    def sampled(self, region: str) -> dict[str, FeatureField]:
        """The fields of a SAMPLED_FIELDS region (or of its slot type) the example sampler writes: those
        the table names, and those whose shape fits its `*` entry; never one declared `constant`."""
        wanted = SAMPLED_FIELDS[region]
        fields = (
            self.region_fields(region)
            if self.regions[region].fields is not None
            else self.item_fields(region)
        )
        return {
            n: f
            for n, f in fields.items()
            if _sampled_shape(wanted, n, self._field_shape(f)) is not None
        }

    def _item_type(self, region: str) -> FeatureType:
        return self.types[_laid_out(self.regions[region].item, f"slot type of region {region!r}")]

    def _slots(self, region: str) -> Slots:
        return _laid_out(self.regions[region].slots, f"slots in region {region!r}")

    def item_fields(self, region: str) -> dict[str, FeatureField]:
        """The slot type's fields the example sampler writes (every field not declared `constant`)."""
        return {f.name: f for f in written(self._item_type(region).fields)}

    def region_fields(self, region: str) -> dict[str, FeatureField]:
        """The region's fields the example sampler writes (every field not declared `constant`)."""
        return {
            f.name: f
            for f in written(_laid_out(self.regions[region].fields, f"fields in region {region!r}"))
        }

    def slot_count(self, region: str) -> int:
        return _laid_out(self._slots(region).count, f"slot count of region {region!r}")

    @property
    def primaries(self) -> str:
        return _laid_out(self._slots(FEELING_REGION).per, f"enum of region {FEELING_REGION!r}")

    def onehot(self, fields: dict[str, FeatureField], name: str) -> str | None:
        f = fields.get(name)
        return f.onehot if f is not None else None

    def enum_of(self, fields: dict[str, FeatureField], name: str) -> str:
        """The enum of a one-hot field the shape check requires (a slot's layer, an edge's role, ...)."""
        return _laid_out(self.onehot(fields, name), f"one-hot field {name!r}")

    def substrates(self) -> list[str]:
        """Edge fields that carry a distribution (everything but the one-hot role)."""
        return [n for n in self.sampled(EDGE_REGION) if n != EDGE_ROLE]

    @staticmethod
    def _field_type(f: FeatureField) -> PathType:
        return PathType("enum", f.onehot) if f.onehot is not None else PathType("number")

    def _feature_paths(self) -> None:
        p = self.paths
        for axis in self.axes:
            p[f"axis.{axis}"] = PathType("number")
        for variant in self.enums.get(self.primaries, []):
            p[f"feeling.{variant}"] = PathType("number")
        for region in (SELF_REGION, SCENE_REGION, EVENT_REGION):
            for name, f in self.sampled(region).items():
                p[f"{region}.{name}"] = self._field_type(f)
        for name, f in self.sampled(EDGE_REGION).items():
            p[f"partner.{name}"] = self._field_type(
                f
            )  # a distribution reads as its central tendency
        for name, f in self.sampled(HISTORY_REGION).items():
            p[f"last_turn.{name}"] = self._field_type(f)
        for region in (EDGE_REGION, HISTORY_REGION):
            p[f"count.{region}"] = PathType("number")

    def _label_paths(self) -> None:
        for hname, head in self.heads.items():
            for f in head.fields:
                variants = self.enums.get(f.enum, []) if f.enum else []
                for path, (kind, enum) in (
                    field_form(f).label_paths(f"{hname}.{f.name}", variants).items()
                ):
                    self.paths[path] = PathType(kind, enum)

    def output_field(self, name: str) -> OutputField | None:
        head, _, field = name.partition(".")
        h = self.heads.get(head)
        return next((f for f in h.fields if f.name == field), None) if h else None

    def effect_field(self, key: str) -> tuple[str, str | None] | str:
        """(`head.field`, variant or None) for an effect key, or why it is not one."""
        parts = key.split(".")
        field_name = ".".join(parts[:2])
        f = self.output_field(field_name) if len(parts) >= 2 else None
        if f is None:
            return f"unknown output field {field_name!r} {one_of(field_name, self.output_field_names())}"
        if OUTPUT_KINDS[f.kind].scores_per_variant:
            if len(parts) != 3:
                return (
                    f"{field_name} is one value per {f.enum} variant: write {field_name}.<Variant>"
                )
            if f.enum in self.enums and parts[2] not in self.enums[f.enum]:
                return f"unknown {f.enum} variant {parts[2]!r} {one_of(parts[2], self.enums.get(f.enum, []))}"
            return field_name, parts[2]
        if len(parts) != 2:
            return f"{field_name} is a single value: write {field_name} without a variant"
        return field_name, None

    def output_field_names(self) -> list[str]:
        return [f"{h}.{f.name}" for h, head in self.heads.items() for f in head.fields]

    def matcher_problem(self, path: str, matcher: Matcher) -> str | None:
        """Why `path: matcher` is not a valid condition entry, or None."""
        t = self.paths.get(path)
        if t is None:
            return f"unknown path {path!r}" + _hint(path, self.paths)
        if isinstance(matcher, bool):
            return None if t.kind == "bool" else f"{path} is a {t.kind}, not a yes/no"
        if isinstance(matcher, str):
            if t.kind != "enum":
                return f"{path} is a {t.kind}; a variant name only matches an enum"
            return self._variant_problem(t.enum, [matcher])
        family = matcher.family
        if family != t.kind:
            return f"{path} is a {t.kind}; {family} comparisons do not apply"
        if family == "enum":
            return self._variant_problem(
                t.enum, list(matcher.in_ or []) + list(matcher.not_in or [])
            )
        return None

    def _variant_problem(self, enum: str | None, names: list[str]) -> str | None:
        if enum is None or enum not in self.enums:
            return None  # the unknown enum is reported where it is named; its variants would only echo it
        bad = [n for n in names if n not in self.enums[enum]]
        if bad:
            return f"unknown {enum} variant {bad[0]!r} {one_of(bad[0], self.enums.get(enum, []))}"
        return None


def _hint(path: str, paths: dict[str, PathType]) -> str:
    prefix = path.split(".")[0] + "."
    near = sorted(p for p in paths if p.startswith(prefix))
    if near:
        shown = ", ".join(near[:8]) + (", ..." if len(near) > 8 else "")
        return f" (paths under {prefix!r}: {shown})"
    roots = sorted({p.split(".")[0] for p in paths})
    return f" (paths start with: {', '.join(roots)})"


# ---------------------------------------------------------------- the cross-file check


def matrix_entries(specs: SpecSet) -> dict[str, list[Entry[BaseModel]]]:
    return {kind: specs.of_kind(kind) for kind in MATRIX_KINDS}


def vocabulary_for(specs: SpecSet) -> Vocabulary:
    """The vocabulary of a loaded, valid specs set (the generator's entry point)."""
    matrix = specs.one(CharacterMatrixFile)
    enums = {name: e.variants for name, e in specs.one(EnumsFile).enums.items()}
    return Vocabulary(
        enums,
        specs.named(FeatureLayoutFile)[matrix.features],
        specs.named(OutputHeadsFile)[matrix.outputs],
        specs.one(PersonalityAxesFile).axis_names,
    )


def check_matrix(specs: SpecSet) -> list[SpecProblem]:
    """Every reference in the matrix specs resolves; every range and table is usable."""
    found = matrix_entries(specs)
    if not any(found.values()):
        return []  # a specs set without training-matrix files (e.g. contract-only) is fine
    problems: list[SpecProblem] = []
    root = str(specs.root)
    for kind in MATRIX_KINDS:
        entries = found[kind]
        if kind in SINGLE_MATRIX_KINDS and len(entries) > 1:
            for e in entries[1:]:
                problems.append(
                    e.doc.problem(
                        ("kind",),
                        f"a second `kind: {kind}` file (the first is {entries[0].doc.name})",
                    )
                )
        if not entries:
            anchor = next(e for es in found.values() for e in es)
            problems.append(
                anchor.doc.problem(
                    ("kind",), f"the training matrix also needs a `kind: {kind}` file under {root}"
                )
            )
    if problems:
        return problems
    matrix = specs.of_kind(CharacterMatrixFile)[0]
    enums_files = specs.of_kind(EnumsFile)
    if not enums_files:
        return problems
    enums = {name: e.variants for name, e in enums_files[0].model.enums.items()}
    layouts, heads = specs.named(FeatureLayoutFile), specs.named(OutputHeadsFile)
    if matrix.model.features not in layouts:
        problems.append(
            matrix.doc.problem(("features",), f"unknown feature_layout {matrix.model.features!r}")
        )
    if matrix.model.outputs not in heads:
        problems.append(
            matrix.doc.problem(("outputs",), f"unknown output_heads {matrix.model.outputs!r}")
        )
    if problems:
        return problems
    axes_entry = specs.of_kind(PersonalityAxesFile)[0]
    vocab = Vocabulary(
        enums,
        layouts[matrix.model.features],
        heads[matrix.model.outputs],
        axes_entry.model.axis_names,
    )
    layout_entry = next(
        e for e in specs.of_kind(FeatureLayoutFile) if e.model.name == matrix.model.features
    )
    problems += [layout_entry.doc.problem(loc, why) for loc, why in vocab.unwritten()]
    if vocab.problems:
        return problems + [matrix.doc.problem(("features",), why) for why in vocab.problems]
    if vocab.primaries not in enums:
        return (
            problems  # reported where the layout names the enum; every feeling path would echo it
        )
    archetypes = specs.of_kind(ArchetypesFile)
    dynamics = specs.of_kind(RelationalDynamicsFile)
    profiles = specs.of_kind(SceneProfilesFile)
    problems += _duplicate_names([(e, e.model.archetypes) for e in archetypes], "archetypes")
    problems += _duplicate_names([(e, e.model.dynamics) for e in dynamics], "dynamics")
    problems += _duplicate_names([(e, e.model.profiles) for e in profiles], "profiles")
    problems += _check_matrix_file(matrix, vocab)
    for archetypes_entry in archetypes:
        problems += _check_archetypes(archetypes_entry, vocab)
    for dynamics_entry in dynamics:
        problems += _check_dynamics(dynamics_entry, vocab)
    for profiles_entry in profiles:
        problems += _check_profiles(profiles_entry, vocab)
    problems += _check_labelling(specs.of_kind(LabellingRulesFile)[0], vocab)
    return problems


def _duplicate_names(
    named: list[tuple[Entry[BaseModel], Iterable[str]]], key: str
) -> list[SpecProblem]:
    """Names under `key` defined in more than one file of a kind: (file, its names) per file."""
    seen: dict[str, Entry[BaseModel]] = {}
    out = []
    for e, names in named:
        for name in names:
            if name in seen:
                out.append(e.doc.problem((key, name), f"also defined in {seen[name].doc.name}"))
            seen[name] = e
    return out


def _variant(
    entry: Entry[BaseModel], loc: Loc, enum: str | None, value: str, vocab: Vocabulary
) -> list[SpecProblem]:
    if enum is None:
        return [entry.doc.problem(loc, "the feature layout gives this field no enum")]
    why = vocab._variant_problem(enum, [value])
    return [entry.doc.problem(loc, why)] if why else []


def _same_keys(
    entry: Entry[BaseModel], loc: Loc, given: Iterable[str], wanted: list[str], what: str
) -> list[SpecProblem]:
    out = [
        entry.doc.problem(loc + (k,), f"unknown {what} {k!r} {one_of(k, wanted)}")
        for k in given
        if k not in wanted
    ]
    missing = [k for k in wanted if k not in given]
    if missing:
        out.append(entry.doc.problem(loc, f"missing {what}: {', '.join(missing)}"))
    return out


def _check_matrix_file(entry: Entry[CharacterMatrixFile], vocab: Vocabulary) -> list[SpecProblem]:
    m, out = entry.model, []
    for key, weights, region in (
        ("edge_count_weights", m.edge_count_weights, EDGE_REGION),
        ("history_length_weights", m.history_length_weights, HISTORY_REGION),
    ):
        most = vocab.slot_count(region)
        if len(weights) > most + 1:
            out.append(
                entry.doc.problem(
                    (key,),
                    f"{len(weights)} weights, but {region} has only "
                    f"{most} slots (weights for 0..{most})",
                )
            )
    return out


def _check_archetypes(entry: Entry[ArchetypesFile], vocab: Vocabulary) -> list[SpecProblem]:
    out: list[SpecProblem] = []
    slot_fields = vocab.item_fields(AXIS_REGION)
    feeling_fields = vocab.item_fields(FEELING_REGION)
    most = vocab.slot_count(AXIS_REGION)
    for name, a in entry.model.archetypes.items():
        loc = ("archetypes", name)
        n = len(a.axes)
        if not entry.model.min_axes <= n <= most:
            out.append(
                entry.doc.problem(
                    loc + ("axes",),
                    f"{n} axes; an archetype needs "
                    f"{entry.model.min_axes}..{most} (the feature tensor holds {most})",
                )
            )
        for axis, trait in a.axes.items():
            aloc = loc + ("axes", axis)
            if axis not in vocab.axes:
                out.append(
                    entry.doc.problem(
                        aloc,
                        f"unknown personality axis {axis!r}"
                        + _hint(
                            f"axis.{axis}",
                            {p: t for p, t in vocab.paths.items() if p.startswith("axis.")},
                        ),
                    )
                )
            out += _variant(
                entry, aloc + ("layer",), vocab.onehot(slot_fields, "layer"), trait.layer, vocab
            )
            out += _variant(
                entry,
                aloc + ("provenance",),
                vocab.onehot(slot_fields, "provenance"),
                trait.provenance,
                vocab,
            )
        out += _same_keys(
            entry,
            loc + ("emotions",),
            a.emotions,
            vocab.enums[vocab.primaries],
            f"{vocab.primaries} variant",
        )
        for primary, emotion in a.emotions.items():
            for i, level in enumerate(emotion.awareness):
                out += _variant(
                    entry,
                    loc + ("emotions", primary, "awareness", i),
                    vocab.onehot(feeling_fields, "awareness"),
                    level,
                    vocab,
                )
        out += _same_keys(
            entry,
            loc + ("self_edge",),
            a.self_edge,
            list(vocab.sampled(SELF_REGION)),
            "self_edge field",
        )
    return out


def _check_dynamics(entry: Entry[RelationalDynamicsFile], vocab: Vocabulary) -> list[SpecProblem]:
    out: list[SpecProblem] = []
    substrates = vocab.substrates()
    role_enum = vocab.onehot(vocab.item_fields(EDGE_REGION), "role")
    m = entry.model
    out += _same_keys(
        entry, ("bystanders", "substrate"), m.bystanders.substrate, substrates, "edge substrate"
    )
    for i, role in enumerate(m.bystanders.roles):
        out += _variant(entry, ("bystanders", "roles", i), role_enum, role, vocab)
    for name, d in m.dynamics.items():
        loc = ("dynamics", name)
        for side, substrate in (("a_to_b", d.a_to_b), ("b_to_a", d.b_to_a)):
            out += _same_keys(entry, loc + (side,), substrate, substrates, "edge substrate")
        for i, ra in enumerate(d.roles):
            for who, role in (("a", ra.a), ("b", ra.b)):
                out += _variant(entry, loc + ("roles", i, who), role_enum, role, vocab)
        pairs = [(r.a, r.b) for r in d.roles]
        for i, pair in enumerate(pairs):
            if pair in pairs[:i]:
                out.append(
                    entry.doc.problem(loc + ("roles", i), f"role assignment {pair} is listed twice")
                )
    return out


def _check_profiles(entry: Entry[SceneProfilesFile], vocab: Vocabulary) -> list[SpecProblem]:
    out: list[SpecProblem] = []
    scene, event = vocab.region_fields(SCENE_REGION), vocab.region_fields(EVENT_REGION)
    for name, p in entry.model.profiles.items():
        loc = ("profiles", name)
        out += _variant(
            entry, loc + ("scene_type",), vocab.onehot(scene, "scene_type"), p.scene_type, vocab
        )
        for i, ev in enumerate(p.events):
            out += _variant(
                entry,
                loc + ("events", i, "event_type"),
                vocab.onehot(event, "event_type"),
                ev.event_type,
                vocab,
            )
            out += _variant(
                entry,
                loc + ("events", i, "register"),
                vocab.onehot(event, "register"),
                ev.register_,
                vocab,
            )
    return out


def _check_condition(
    entry: Entry[LabellingRulesFile],
    loc: Loc,
    cond: Condition,
    vocab: Vocabulary,
    labels_allowed: bool,
) -> list[SpecProblem]:
    out = []
    for path, matcher in cond.items():
        if not labels_allowed and path.split(".")[0] in vocab.heads:
            out.append(
                entry.doc.problem(loc + (path,), f"{path!r} is a label; rules read features only")
            )
            continue
        if why := vocab.matcher_problem(path, matcher):
            out.append(entry.doc.problem(loc + (path,), why))
    return out


def _check_labelling(entry: Entry[LabellingRulesFile], vocab: Vocabulary) -> list[SpecProblem]:
    m, out = entry.model, []
    feature_roots = {p.split(".")[0] for p in vocab.paths if p.split(".")[0] not in vocab.heads}
    for head in vocab.heads:
        if head in feature_roots:
            out.append(
                entry.doc.problem(
                    ("targets",), f"output head {head!r} shadows a feature path prefix"
                )
            )
    # targets: one per output field, resolve fits the field's kind
    names = vocab.output_field_names()
    out += _same_keys(entry, ("targets",), m.targets, names, "output field")
    for name, t in m.targets.items():
        f = vocab.output_field(name)
        if f is None:
            continue
        kinds, _ = RESOLVE_RULES[t.resolve]
        if f.kind not in kinds:
            out.append(
                entry.doc.problem(
                    ("targets", name, "resolve"),
                    f"{name} is a {f.kind} field; "
                    f"`{t.resolve}` resolves {' or '.join(kinds)} fields",
                )
            )
        out += _check_target_source(entry, name, f, t, vocab)
    # rules: conditions read features, effects name scores of rule-fed fields
    for i, rule in enumerate(m.rules):
        out += _check_condition(entry, ("rules", i, "when"), rule.when, vocab, labels_allowed=False)
        for key_name, effects in (("raise", rule.raise_), ("lower", rule.lower)):
            for key in effects:
                effect_loc = ("rules", i, key_name, key)
                resolved = vocab.effect_field(key)
                if isinstance(resolved, str):
                    out.append(entry.doc.problem(effect_loc, resolved))
                    continue
                target = m.targets.get(resolved[0])
                if target is not None and not RESOLVE_RULES[target.resolve][1]:
                    out.append(
                        entry.doc.problem(
                            effect_loc,
                            f"{resolved[0]} is derived (`{target.resolve}`); "
                            "rules cannot add to it",
                        )
                    )
    # coherence: conditions over features and labels
    for cname, check in m.coherence.checks.items():
        for i, imp in enumerate(check.implications):
            loc = ("coherence", "checks", cname, "implications", i)
            out += _check_condition(entry, loc + ("if",), imp.if_, vocab, labels_allowed=True)
            out += _check_condition(entry, loc + ("then",), imp.then, vocab, labels_allowed=True)
    return out


def _check_target_source(
    entry: Entry[LabellingRulesFile], name: str, f: OutputField, t: Target, vocab: Vocabulary
) -> list[SpecProblem]:
    if t.of is None:
        return []
    loc = ("targets", name, "of")
    src = vocab.output_field(t.of)
    want = {
        "winner_probability": "categorical",
        "partner_slot": "categorical",
        "strongest_primary": "scalars",
    }
    if src is None:
        return [entry.doc.problem(loc, f"unknown output field {t.of!r}")]
    if src.kind != want[t.resolve]:
        return [
            entry.doc.problem(
                loc, f"`{t.resolve}` reads a {want[t.resolve]} field; {t.of} is {src.kind}"
            )
        ]
    if t.resolve == "strongest_primary" and not (src.enum == f.enum == vocab.primaries):
        return [
            entry.doc.problem(
                loc, f"`strongest_primary` needs {name} and {t.of} over {vocab.primaries}"
            )
        ]
    if t.resolve == "partner_slot":
        why = vocab._variant_problem(src.enum, list(t.when_in or []))
        return [entry.doc.problem(("targets", name, "when_in"), why)] if why else []
    return []
