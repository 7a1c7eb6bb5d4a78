"""`storyml data characters`: character-prediction examples from the matrix specs.

A matrix cell is archetype A x archetype B (A != B) x relational dynamic x role
assignment x scene profile (specs/matrix/). The full product is much larger
than a useful dataset, so `max_cells` cells are drawn from it with the seed;
each cell gives `variations_per_cell` examples, alternating whose point of view
is predicted (even variations: A seeing B; odd: B seeing A). Every value is
drawn uniformly inside its spec range and rounded to `decimals`.

Inputs are `CharacterFeatures` records encoded by the generated
`encode_features`; targets are `CharacterOutputs` built from the labelling
rule table and encoded by `encode_labels`. No offset is written here.

Train/serve skew (defect 8): the engine fills no relational edges and fixes
tension at 0.5 at inference. Edge counts here vary from 0 to the slot count,
the partner's edge lands in any filled slot, and a `serving.fraction` of
examples copy the engine's input shape exactly (no edges, fixed tension); the
manifest counts them.

Each example gets a coherence score from the spec's weighted checks; those
below the threshold are dropped and counted by the checks they failed.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import struct
import typing
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import storyml_contract
from storyml_contract import enums as contract_enums
from storyml_contract.character_features import (
    AxisSlot,
    AxisValue,
    CharacterFeatures,
    HistoryTurn,
    PlayerEvent,
    PrimaryState,
    RelationalEdge,
    SceneContext,
    SelfEdge,
    encode_features,
)
from storyml_contract.character_outputs import CharacterOutputs, encode_labels

from codegen.spec.build import default_seed
from codegen.spec.contract import fingerprint
from codegen.spec.loader import SpecSet, load_specs
from codegen.spec.matrix import (
    AXIS_REGION,
    DISTRIBUTION,
    EDGE_REGION,
    EDGE_ROLE,
    EVENT,
    EVENT_REGION,
    FEELING,
    FEELING_REGION,
    HISTORY_REGION,
    HISTORY_VALENCE,
    MATRIX_KINDS,
    SCENE,
    SCENE_REGION,
    SELF_REGION,
    SLOT,
    Archetype,
    ArchetypesFile,
    Bystanders,
    CharacterMatrixFile,
    Compare,
    Dynamic,
    LabellingRulesFile,
    RelationalDynamicsFile,
    SceneProfile,
    SceneProfilesFile,
    Vocabulary,
    vocabulary_for,
)
from codegen.spec.models import OutputField
from codegen.spec.output_kinds import field_form
from storyml.data.jsonl import write_jsonl
from storyml.data.records import CharacterRecord
from storyml.errors import UserError
from storyml.fsutil import atomic_write_text

DEFAULT_SPECS = Path("specs")

# ---------------------------------------------------------------- the rule language, compiled

Predicate = Callable[[Any], bool]
_MISSING = object()
# Where the partner's edge sits; read by `partner_slot` targets, not a path rules may name.
PARTNER_SLOT = "#partner_slot"
# The label whose class balance the manifest reports.
ACTION_LABEL = "action.action_type"

_NUMBER_TESTS: dict[str, Callable[[float], Predicate]] = {
    "gt": lambda b: lambda v: v > b,
    "ge": lambda b: lambda v: v >= b,
    "lt": lambda b: lambda v: v < b,
    "le": lambda b: lambda v: v <= b,
}


def _bound(op: str, bound: float) -> Predicate:
    return _NUMBER_TESTS[op](bound)


def _predicate(matcher: Any) -> Predicate:
    """One condition entry as a test of the value at its path (see codegen/spec/matrix.py)."""
    if isinstance(matcher, bool):
        return lambda v: v is matcher
    if isinstance(matcher, str):
        return lambda v: v == matcher
    assert isinstance(matcher, Compare)
    if matcher.family == "number":
        tests = [
            _bound(op, getattr(matcher, op))
            for op in _NUMBER_TESTS
            if getattr(matcher, op) is not None
        ]
        if len(tests) == 1:  # the common case, kept to a single call: rules run per example
            return tests[0]
        return lambda v: all(t(v) for t in tests)
    if matcher.family == "enum":
        inside = frozenset(matcher.in_) if matcher.in_ is not None else None
        outside = frozenset(matcher.not_in or ())
        return lambda v: (inside is None or v in inside) and v not in outside
    most, least = matcher.at_most, matcher.at_least
    return lambda v: (most is None or sum(v) <= most) and (least is None or sum(v) >= least)


@dataclass(frozen=True)
class Condition:
    tests: tuple[tuple[str, Predicate], ...]

    @classmethod
    def compile(cls, cond: dict[str, Any]) -> Condition:
        return cls(tuple((path, _predicate(m)) for path, m in cond.items()))

    def holds(self, ctx: dict[str, Any]) -> bool:
        for path, test in self.tests:
            value = ctx.get(path, _MISSING)
            if value is _MISSING or not test(value):
                return False
        return True


@dataclass(frozen=True)
class CompiledRule:
    when: Condition
    effects: tuple[
        tuple[str, str | None, float], ...
    ]  # (head.field, variant or None, signed amount)


# ---------------------------------------------------------------- labelling


def _label_enum(f: OutputField) -> type[Enum] | None:
    """The contract enum whose members an enum-valued output field's labels are, else None."""
    if field_form(f).rule.value != "variant":
        return None
    if f.enum is None:
        raise ValueError(f"output field {f.name!r} decodes to a variant but names no enum")
    enum_class: type[Enum] = getattr(contract_enums, f.enum)
    return enum_class


class Labeller:
    """Turns an example's feature context into `CharacterOutputs` by the spec's rule table."""

    def __init__(self, rules_spec: Any, vocab: Vocabulary, decimals: int):
        self.vocab = vocab
        self.decimals = decimals
        self.targets = dict(rules_spec.targets)
        self.fields = [(h, f) for h, head in vocab.heads.items() for f in head.fields]
        self.rules = [self._compile_rule(r) for r in rules_spec.rules]
        # Derived fields read fields resolved from rules, so they are resolved after them.
        order = sorted(
            self.fields, key=lambda hf: self.targets[f"{hf[0]}.{hf[1].name}"].of is not None
        )
        self.resolvers = [
            (f"{h}.{f.name}", f, self._resolver(f"{h}.{f.name}", f)) for h, f in order
        ]
        self.head_types = typing.get_type_hints(CharacterOutputs)
        # (head, [(field, head.field, enum class for enum-valued fields)]): how labels fill the records
        self.head_plans = [
            (h, [(f.name, f"{h}.{f.name}", _label_enum(f)) for f in head.fields])
            for h, head in vocab.heads.items()
        ]

    def _compile_rule(self, rule: Any) -> CompiledRule:
        effects = []
        for sign, table in ((1.0, rule.raise_), (-1.0, rule.lower)):
            for key, amount in table.items():
                resolved = self.vocab.effect_field(key)
                if isinstance(
                    resolved, str
                ):  # why the key names no output field; `storyml check` says it
                    raise ValueError(resolved)
                name, variant = resolved
                effects.append((name, variant, sign * amount))
        return CompiledRule(Condition.compile(rule.when), tuple(effects))

    def scores(self, ctx: dict[str, Any]) -> dict[tuple[str, str | None], float]:
        """Sum of every firing rule's effects, keyed by (head.field, variant)."""
        totals: dict[tuple[str, str | None], float] = {}
        get = ctx.get
        for rule in self.rules:
            for path, test in rule.when.tests:
                value = get(path, _MISSING)
                if value is _MISSING or not test(value):
                    break
            else:
                for name, variant, amount in rule.effects:
                    totals[(name, variant)] = totals.get((name, variant), 0.0) + amount
        return totals

    def label(self, ctx: dict[str, Any]) -> tuple[CharacterOutputs, dict[str, Any]]:
        """The target outputs, and the label paths coherence checks read."""
        scores = self.scores(ctx)
        resolved: dict[str, Any] = {}  # head.field -> label value (variant names for enums)
        labels: dict[str, Any] = {}  # label path -> value, as the rule language names them
        for name, f, resolve in self.resolvers:
            value = resolve(scores, resolved, ctx)
            resolved[name] = value
            labels.update(self._label_paths(name, f, value))
        return self._outputs(resolved), labels

    def _variants(self, f: Any) -> list[str]:
        return self.vocab.enums[f.enum]

    def _resolver(self, name: str, f: Any) -> Callable[[dict, dict, dict], Any]:
        """The function that turns the scores (and already resolved fields) into this field's label."""
        target = self.targets[name]
        rule = target.resolve
        variants = self._variants(f) if f.enum else []
        keys = [(name, v) for v in variants]
        one_value = not field_form(f).per_variant_values
        decimals = self.decimals
        if rule == "argmax":  # ties go to the lowest index, as the decoders break them
            return lambda scores, resolved, ctx: variants[
                _argmax([scores.get(k, 0.0) for k in keys])
            ]
        if rule == "positive" and one_value:
            return lambda scores, resolved, ctx: scores.get((name, None), 0.0) > 0.0
        if rule == "positive":
            return lambda scores, resolved, ctx: tuple(scores.get(k, 0.0) > 0.0 for k in keys)
        if rule == "sum":
            lo, hi = target.clamp
            if one_value:
                return lambda scores, resolved, ctx: round(
                    min(max(scores.get((name, None), 0.0), lo), hi), decimals
                )
            return lambda scores, resolved, ctx: tuple(
                round(min(max(scores.get(k, 0.0), lo), hi), decimals) for k in keys
            )
        source = self.vocab.output_field(target.of)
        of = target.of
        if rule == "winner_probability":  # softmax probability of the chosen variant
            source_variants = self._variants(source)
            source_keys = [(of, v) for v in source_variants]

            def winner_probability(scores: dict, resolved: dict, ctx: dict) -> float:
                row = [scores.get(k, 0.0) for k in source_keys]
                top = max(row)
                weights = [math.exp(x - top) for x in row]
                return round(weights[source_variants.index(resolved[of])] / sum(weights), decimals)

            return winner_probability
        if rule == "partner_slot":
            takes_target = frozenset(target.when_in)

            def partner_slot(scores: dict, resolved: dict, ctx: dict) -> int | None:
                slot = ctx.get(PARTNER_SLOT)
                return slot if slot is not None and resolved[of] in takes_target else None

            return partner_slot
        if rule == "strongest_primary":  # the primary that is strongest after this turn's change
            feelings = [f"feeling.{v}" for v in variants]
            return lambda scores, resolved, ctx: variants[
                _argmax([ctx.get(p, 0.0) + d for p, d in zip(feelings, resolved[of])])
            ]
        raise AssertionError(f"unhandled resolve rule {rule!r}")  # spec validation lists them all

    def _label_paths(self, name: str, f: Any, value: Any) -> dict[str, Any]:
        return field_form(f).label_values(name, self._variants(f) if f.enum else [], value)

    def _outputs(self, resolved: dict[str, Any]) -> CharacterOutputs:
        heads = {}
        for head, fields in self.head_plans:
            heads[head] = self.head_types[head](
                **{
                    field: resolved[name] if enum is None else enum[resolved[name]]
                    for field, name, enum in fields
                }
            )
        return CharacterOutputs(**heads)


def _argmax(row: Sequence[float]) -> int:
    """Index of the largest value; the lowest index wins a tie."""
    best = 0
    for i in range(1, len(row)):
        if row[i] > row[best]:
            best = i
    return best


@dataclass(frozen=True)
class CompiledCheck:
    name: str
    weight: float
    implications: tuple[tuple[Condition, Condition], ...]

    def score(self, ctx: dict[str, Any]) -> float:
        """Share of applicable implications that hold; 1 when none applies."""
        applicable = [then for cond, then in self.implications if cond.holds(ctx)]
        if not applicable:
            return 1.0
        return sum(then.holds(ctx) for then in applicable) / len(applicable)


class CoherenceScorer:
    def __init__(self, coherence_spec: Any):
        self.threshold = coherence_spec.threshold
        self.checks = [
            CompiledCheck(
                name,
                c.weight,
                tuple(
                    (Condition.compile(i.if_), Condition.compile(i.then)) for i in c.implications
                ),
            )
            for name, c in coherence_spec.checks.items()
        ]
        self.total_weight = sum(c.weight for c in self.checks)

    def score(self, ctx: dict[str, Any]) -> tuple[float, list[str]]:
        """Weighted mean of the checks' scores, and the checks that did not fully hold."""
        scores = [(c, c.score(ctx)) for c in self.checks]
        total = sum(c.weight * s for c, s in scores) / self.total_weight
        return total, [c.name for c, s in scores if s < 1.0]


# ---------------------------------------------------------------- the matrix


@dataclass(frozen=True)
class Cell:
    a: str
    b: str
    dynamic: str
    role_a: str
    role_b: str
    profile: str

    @property
    def key(self) -> str:
        return f"{self.a}+{self.b}/{self.dynamic}/{self.role_a}-{self.role_b}/{self.profile}"


@dataclass(frozen=True)
class Matrix:
    """The matrix specs merged across files, with the vocabulary they were checked against."""

    vocab: Vocabulary
    settings: CharacterMatrixFile
    archetypes: dict[str, Archetype]
    archetype_variance: dict[str, list[float]]  # each archetype's file-level default variance
    dynamics: dict[str, Dynamic]
    dynamics_variance: dict[str, list[float]]
    bystanders: dict[str, Bystanders]
    profiles: dict[str, SceneProfile]
    labelling: LabellingRulesFile
    fingerprint: str

    @classmethod
    def from_specs(cls, specs: SpecSet) -> Matrix:
        missing = [k for k in MATRIX_KINDS if not specs.of_kind(k)]
        if missing:
            raise UserError(f"{specs.root}: no training-matrix spec of kind {', '.join(missing)}")
        archetypes: dict[str, Archetype] = {}
        arch_var: dict[str, list[float]] = {}
        dynamics: dict[str, Dynamic] = {}
        dyn_var: dict[str, list[float]] = {}
        bystanders: dict[str, Bystanders] = {}
        profiles: dict[str, SceneProfile] = {}
        for archetypes_file in specs.of_kind(ArchetypesFile):
            archetypes.update(archetypes_file.model.archetypes)
            arch_var.update(
                {n: archetypes_file.model.variance for n in archetypes_file.model.archetypes}
            )
        for dynamics_file in specs.of_kind(RelationalDynamicsFile):
            dynamics.update(dynamics_file.model.dynamics)
            dyn_var.update({n: dynamics_file.model.variance for n in dynamics_file.model.dynamics})
            bystanders.update(
                {n: dynamics_file.model.bystanders for n in dynamics_file.model.dynamics}
            )
        for profiles_file in specs.of_kind(SceneProfilesFile):
            profiles.update(profiles_file.model.profiles)
        models = [e.model for k in MATRIX_KINDS for e in specs.of_kind(k)]
        return cls(
            vocabulary_for(specs),
            specs.one(CharacterMatrixFile),
            archetypes,
            arch_var,
            dynamics,
            dyn_var,
            bystanders,
            profiles,
            specs.one(LabellingRulesFile),
            fingerprint(models),
        )

    def all_cells(self) -> list[Cell]:
        """The full product, in a fixed order (names sorted; role assignments in spec order)."""
        names = sorted(self.archetypes)
        return [
            Cell(a, b, d, r.a, r.b, p)
            for a in names
            for b in names
            if a != b
            for d in sorted(self.dynamics)
            for r in self.dynamics[d].roles
            for p in sorted(self.profiles)
        ]

    def sampled_cells(self, seed: int) -> list[Cell]:
        cells = self.all_cells()
        if len(cells) <= self.settings.max_cells:
            return cells
        picked = random.Random(f"cells/{seed}").sample(range(len(cells)), self.settings.max_cells)
        return [cells[i] for i in sorted(picked)]


def _enum(name: str, variant: str) -> Any:
    return getattr(contract_enums, name)[variant]


class ExampleSampler:
    """Draws one example's features (and the feature context the rules read) for a cell."""

    def __init__(self, matrix: Matrix):
        self.m = matrix
        v = matrix.vocab
        self.decimals = matrix.settings.decimals
        slot_fields, feeling_fields = v.item_fields(AXIS_REGION), v.item_fields(FEELING_REGION)
        edge_fields = v.item_fields(EDGE_REGION)
        self.layer_enum = v.enum_of(slot_fields, SLOT.layer)
        self.provenance_enum = v.enum_of(slot_fields, SLOT.provenance)
        self.primary_enum = v.primaries
        self.awareness_enum = v.enum_of(feeling_fields, FEELING.awareness)
        self.role_enum = v.enum_of(edge_fields, EDGE_ROLE)
        self.substrates = v.substrates()
        self.self_fields = list(v.sampled(SELF_REGION))
        scene, event = v.region_fields(SCENE_REGION), v.region_fields(EVENT_REGION)
        self.scene_enum = v.enum_of(scene, SCENE.scene_type)
        self.event_enum, self.register_enum = (
            v.enum_of(event, EVENT.event_type),
            v.enum_of(event, EVENT.register),
        )
        turn_fields = v.sampled(HISTORY_REGION)
        self.turn_enums = {
            name: v.enum_of(turn_fields, name) for name in turn_fields if name != HISTORY_VALENCE
        }
        self.edge_slots = v.slot_count(EDGE_REGION)

        # Per-archetype draws, resolved once: (name, span, variance span, layer, provenance), ...
        self.axis_plans = {
            name: [
                (
                    axis,
                    t.value,
                    t.variance or matrix.archetype_variance[name],
                    _enum(self.layer_enum, t.layer),
                    _enum(self.provenance_enum, t.provenance),
                )
                for axis, t in a.axes.items()
            ]
            for name, a in matrix.archetypes.items()
        }
        self.feeling_plans = {
            name: [
                (
                    p,
                    _enum(self.primary_enum, p),
                    a.emotions[p].intensity,
                    [_enum(self.awareness_enum, x) for x in a.emotions[p].awareness],
                )
                for p in v.enums[self.primary_enum]
            ]
            for name, a in matrix.archetypes.items()
        }

    def _u(self, rng: random.Random, span: Sequence[float]) -> float:
        low, high = span
        return round(low + (high - low) * rng.random(), self.decimals)

    def _axis_value(
        self, rng: random.Random, span: Sequence[float], variance: Sequence[float]
    ) -> AxisValue:
        d = DISTRIBUTION  # field names checked against the layout by `storyml check`
        return AxisValue(
            **{
                d.central: self._u(rng, span),
                d.variance: self._u(rng, variance),
                d.low: float(span[0]),
                d.high: float(span[1]),
            }
        )

    def sample(
        self, cell: Cell, variation: int, rng: random.Random
    ) -> tuple[CharacterFeatures, dict, dict]:
        """(features, rule context, facts for the manifest) of one example."""
        m, s = self.m, self.m.settings
        dyn = m.dynamics[cell.dynamic]
        # Even variations predict A (edge A->B, partner role B's); odd ones predict B.
        if variation % 2 == 0:
            me, edge_side, partner_role = cell.a, dyn.a_to_b, cell.role_b
        else:
            me, edge_side, partner_role = cell.b, dyn.b_to_a, cell.role_a
        ctx: dict[str, Any] = {}
        arch = m.archetypes[me]

        tensor = {}
        for axis, span, variance, layer, provenance in self.axis_plans[me]:
            value = self._axis_value(rng, span, variance)
            tensor[axis] = AxisSlot(
                **{SLOT.value: value, SLOT.layer: layer, SLOT.provenance: provenance}
            )
            ctx["axis." + axis] = getattr(value, DISTRIBUTION.central)

        feelings = {}
        for name, primary, span, awareness in self.feeling_plans[me]:
            intensity = self._u(rng, span)
            feelings[primary] = PrimaryState(
                **{FEELING.intensity: intensity, FEELING.awareness: rng.choice(awareness)}
            )
            ctx["feeling." + name] = intensity

        self_values = {name: self._u(rng, arch.self_edge[name]) for name in self.self_fields}
        ctx.update({f"{SELF_REGION}.{k}": x for k, x in self_values.items()})

        serving = rng.random() < s.serving.fraction
        n_edges = (
            0 if serving else rng.choices(range(len(s.edge_count_weights)), s.edge_count_weights)[0]
        )
        partner_slot = rng.randrange(n_edges) if n_edges else None
        edges = []
        variance = m.dynamics_variance[cell.dynamic]
        bystanders = m.bystanders[cell.dynamic]
        for slot in range(n_edges):
            if slot == partner_slot:
                ranges, role = edge_side, partner_role
            else:
                ranges, role = bystanders.substrate, rng.choice(bystanders.roles)
            values = {k: self._axis_value(rng, ranges[k], variance) for k in self.substrates}
            # Field names come from the layout, so the record is built from one mapping of its fields.
            edge_fields: dict[str, Any] = {**values, EDGE_ROLE: _enum(self.role_enum, role)}
            edges.append(RelationalEdge(**edge_fields))
            if slot == partner_slot:
                ctx.update(
                    {f"partner.{k}": getattr(x, DISTRIBUTION.central) for k, x in values.items()}
                )
                ctx[f"partner.{EDGE_ROLE}"] = role
                ctx[PARTNER_SLOT] = slot
        ctx[f"count.{EDGE_REGION}"] = n_edges

        profile = m.profiles[cell.profile]
        tension = s.serving.tension if serving else self._u(rng, profile.tension)
        cast_size = rng.randint(profile.cast_size[0], profile.cast_size[1])
        event = rng.choices(profile.events, [e.weight for e in profile.events])[0]
        confidence = self._u(rng, s.event_confidence)
        targets = rng.randint(s.target_count[0], s.target_count[1])
        scene_values = {
            SCENE.scene_type: profile.scene_type,
            SCENE.cast_size: cast_size,
            SCENE.tension: tension,
        }
        event_values = {
            EVENT.event_type: event.event_type,
            EVENT.register: event.register_,
            EVENT.confidence: confidence,
            EVENT.target_count: targets,
        }
        ctx.update({f"{SCENE_REGION}.{k}": x for k, x in scene_values.items()})
        ctx.update({f"{EVENT_REGION}.{k}": x for k, x in event_values.items()})

        n_turns = rng.choices(range(len(s.history_length_weights)), s.history_length_weights)[0]
        history = []
        for turn in range(n_turns):
            picks = {
                name: rng.choice(m.vocab.enums[enum]) for name, enum in self.turn_enums.items()
            }
            valence = self._u(rng, s.history_valence)
            turn_values: dict[str, Any] = {
                k: _enum(self.turn_enums[k], x) for k, x in picks.items()
            }
            history.append(HistoryTurn(**{**turn_values, HISTORY_VALENCE: valence}))
            if turn == 0:  # most recent first
                ctx.update({f"last_turn.{k}": x for k, x in picks.items()})
                ctx[f"last_turn.{HISTORY_VALENCE}"] = valence
        ctx[f"count.{HISTORY_REGION}"] = n_turns

        features = CharacterFeatures(
            tensor=tensor,
            emotional_state=feelings,
            self_edge=SelfEdge(**self_values),
            relational_edges=edges,
            scene_context=SceneContext(
                **{**scene_values, SCENE.scene_type: _enum(self.scene_enum, profile.scene_type)}
            ),
            player_event=PlayerEvent(
                **{
                    **event_values,
                    EVENT.event_type: _enum(self.event_enum, event.event_type),
                    EVENT.register: _enum(self.register_enum, event.register_),
                }
            ),
            history=history,
        )
        facts = {
            "archetype": me,
            "edges": n_edges,
            "history": n_turns,
            "serving": serving,
            "serving_tension": tension == s.serving.tension,
        }
        return features, ctx, facts


# ---------------------------------------------------------------- generation


@dataclass
class Generation:
    records: list[CharacterRecord]
    facts: list[dict]  # per accepted record: archetype, edges, history, ...
    cells_possible: int
    cells_sampled: int
    generated: int
    rejected_by_check: Counter
    rejected: int
    matrix: Matrix
    seed: int
    variations: int


def content_hash(features: Sequence[float], labels: Sequence[float]) -> str:
    """sha256 (first 16 hex digits) of the features then the labels as little-endian float64."""
    values = (*features, *labels)
    return hashlib.sha256(struct.pack(f"<{len(values)}d", *values)).hexdigest()[:16]


def _as_specs(specs: SpecSet | str | Path) -> SpecSet:
    return specs if isinstance(specs, SpecSet) else load_specs(specs)


def run_matrix(
    specs: SpecSet | str | Path, seed: int | None = None, variations: int | None = None
) -> Generation:
    """Generate, label, score and filter every example of the sampled cells (seed: the build spec's)."""
    specs = _as_specs(specs)
    seed = default_seed(specs) if seed is None else seed
    matrix = Matrix.from_specs(specs)
    variations = matrix.settings.variations_per_cell if variations is None else variations
    if variations < 1:
        raise UserError(f"--variations must be at least 1, got {variations}")
    sampler = ExampleSampler(matrix)
    labeller = Labeller(matrix.labelling, matrix.vocab, matrix.settings.decimals)
    scorer = CoherenceScorer(matrix.labelling.coherence)
    cells = matrix.sampled_cells(seed)
    records: list[CharacterRecord] = []
    facts: list[dict[str, Any]] = []
    rejected_by = Counter[str]()
    generated = rejected = 0
    for cell in cells:
        for variation in range(variations):
            rng = random.Random(f"example/{seed}/{cell.key}/{variation}")
            features, ctx, fact = sampler.sample(cell, variation, rng)
            outputs, label_ctx = labeller.label(ctx)
            coherence, failed = scorer.score({**ctx, **label_ctx})
            generated += 1
            if coherence < scorer.threshold:
                rejected += 1
                rejected_by.update(failed)
                continue
            x, y = encode_features(features), encode_labels(outputs)
            records.append(
                {
                    "id": f"{cell.key}#{variation}",
                    "features": x,
                    "labels": y,
                    "cell": cell.key,
                    "coherence": round(coherence, 4),
                    "hash": content_hash(x, y),
                }
            )
            facts.append(
                {
                    **fact,
                    "dynamic": cell.dynamic,
                    "profile": cell.profile,
                    "action": label_ctx[ACTION_LABEL],
                }
            )
    return Generation(
        records,
        facts,
        len(matrix.all_cells()),
        len(cells),
        generated,
        rejected_by,
        rejected,
        matrix,
        seed,
        variations,
    )


def generate_characters(
    specs: SpecSet | str | Path, seed: int | None = None, variations: int | None = None
) -> list[CharacterRecord]:
    """The accepted examples."""
    return run_matrix(specs, seed, variations).records


def split_by_cell(
    records: Sequence[CharacterRecord], validation_fraction: float, seed: int
) -> tuple[list[CharacterRecord], list[CharacterRecord]]:
    """(train, validation) with every matrix cell entirely on one side.

    Cells are shuffled with the seed and the first ones go to validation until
    it holds `validation_fraction` of the examples (at least one cell when
    there are two or more and the fraction is above zero). Record order is kept.
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise UserError(f"validation fraction must be in [0, 1), got {validation_fraction}")
    sizes = Counter(r["cell"] for r in records)
    cells = sorted(sizes)
    random.Random(f"split/{seed}").shuffle(cells)
    wanted = validation_fraction * len(records)
    val_cells: set[str] = set()
    held = 0
    for cell in cells[:-1]:  # the last cell always stays in training
        if held >= wanted or validation_fraction == 0.0:
            break
        val_cells.add(cell)
        held += sizes[cell]
    train = [r for r in records if r["cell"] not in val_cells]
    val = [r for r in records if r["cell"] in val_cells]
    return train, val


def _counts(values: Iterable[Any]) -> dict[str, int]:
    return {str(k): v for k, v in sorted(Counter(values).items())}


def manifest(gen: Generation, data_file: str, data_sha256: str) -> dict:
    s = gen.matrix.settings
    serving_like = sum(f["edges"] == 0 and f["serving_tension"] for f in gen.facts)
    return {
        "dataset": "characters",
        "file": data_file,
        "sha256": data_sha256,
        "seed": gen.seed,
        "spec_fingerprint": gen.matrix.fingerprint,
        "contract_fingerprint": storyml_contract.CONTRACT_FINGERPRINT,
        "features": storyml_contract.TOTAL_INPUT_FEATURES,
        "labels": storyml_contract.TOTAL_OUTPUT_FEATURES,
        "cells": {
            "possible": gen.cells_possible,
            "sampled": gen.cells_sampled,
            "with_examples": len({r["cell"] for r in gen.records}),
            "sampling": "uniform without replacement from the full product, seeded"
            if gen.cells_sampled < gen.cells_possible
            else "full product",
        },
        "variations_per_cell": gen.variations,
        "examples": {
            "generated": gen.generated,
            "accepted": len(gen.records),
            "rejected": gen.rejected,
        },
        "rejection_rate": round(gen.rejected / gen.generated, 4) if gen.generated else 0.0,
        "coherence": {
            "threshold": gen.matrix.labelling.coherence.threshold,
            "mean_accepted": round(sum(r["coherence"] for r in gen.records) / len(gen.records), 4)
            if gen.records
            else None,
        },
        "rejections_by_check": dict(sorted(gen.rejected_by_check.items())),
        "per_archetype": _counts(f["archetype"] for f in gen.facts),
        "per_dynamic": _counts(f["dynamic"] for f in gen.facts),
        "per_profile": _counts(f["profile"] for f in gen.facts),
        "per_action": _counts(f["action"] for f in gen.facts),  # class balance of the main target
        "edge_counts": _counts(f["edges"] for f in gen.facts),
        "history_lengths": _counts(f["history"] for f in gen.facts),
        "train_serve_skew": {
            "note": (
                "the engine fills no relational edges and fixes scene tension at inference; examples "
                "with no edges and with exactly that tension are in the training distribution"
            ),
            "serving_tension": s.serving.tension,
            "serving_fraction_spec": s.serving.fraction,
            "no_edges": sum(f["edges"] == 0 for f in gen.facts),
            "serving_tension_examples": sum(f["serving_tension"] for f in gen.facts),
            "serving_like": serving_like,
        },
    }


def write_dataset(gen: Generation, out: Path) -> Path:
    """Write the JSONL and its manifest atomically; return the manifest path."""
    sha256 = write_jsonl(out, gen.records)
    manifest_path = manifest_path_for(out)
    atomic_write_text(
        manifest_path,
        json.dumps(manifest(gen, out.name, sha256), indent=2, sort_keys=True, ensure_ascii=False)
        + "\n",
    )
    return manifest_path


def manifest_path_for(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(".jsonl") + ".manifest.json")
