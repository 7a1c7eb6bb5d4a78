"""`storyml data events`: expand the templates and vocabulary specs into labelled sentences.

Every record is one sentence with its event kinds (multi-label, primary kind
first), its register, and its entities as exact character spans plus UTF-8
byte spans (the Rust side slices bytes). Spans are exact by construction: a
sentence is assembled piece by piece and an entity's offsets are taken while
its filler is appended, never searched for afterwards.

Determinism: one `random.Random(seed)`, templates and lists visited in sorted
or declared order, JSON written with sorted keys. Same specs and seed ->
byte-identical JSONL and manifest (the manifest has no timestamp for that
reason).
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import storyml_contract
from storyml_contract.enums import ActionType
from storyml_contract.text import ENTITY_CATEGORIES, ENTITY_ROLES, EVENT_KIND_LABELS, REGISTERS

from codegen.spec.build import default_seed
from codegen.spec.contract import fingerprint
from codegen.spec.loader import SpecSet
from codegen.spec.models import TextLabelsFile
from codegen.spec.templates import QUOTED, RegisterRule, RegisterRulesFile, vocabulary_lists
from storyml.errors import UserError
from storyml.fsutil import atomic_write_text

from .compose import (
    MAX_DUPLICATES_IN_A_ROW,
    Composition,
    Piece,
    Plan,
    Variation,
    all_templates,
    compile_plans,
    compose,
    pick_fillers,
    realize,
)
from .jsonl import read_jsonl, write_jsonl
from .profile import profile
from .records import EntitySpan, TextRecord

__all__ = [
    "generate_events",
    "build_events",
    "validate_record",
    "read_jsonl",
    "write_events",
    "make_entity",
    "byte_offset",
    "register_rules",
    "specs_fingerprint",
]

# A sentence ends in one of these, possibly followed by closing quotes.
SENTENCE_END = ".!?…"
CLOSING_QUOTES = "\"”’'"
WORD = re.compile(r"[^\W\d_]+")


# ---------------------------------------------------------------- span arithmetic


def byte_offset(text: str, index: int) -> int:
    """UTF-8 byte offset of character `index` of `text`."""
    return len(text[:index].encode("utf-8"))


def make_entity(text: str, start: int, end: int, category: str, role: str) -> EntitySpan:
    """An entity record for text[start:end], with character and byte offsets."""
    return {
        "start": start,
        "end": end,
        "byte_start": byte_offset(text, start),
        "byte_end": byte_offset(text, end),
        "text": text[start:end],
        "category": category,
        "role": role,
    }


def capitalize_first_letter(text: str) -> str:
    """Upper-case the first letter, past any leading quote; never changes the length.

    A letter whose capital is longer (ß -> SS) is left alone so that every
    offset measured before the fix-up stays exact.
    """
    for i, ch in enumerate(text):
        if ch.isalpha():
            up = ch.upper()
            return text[:i] + up + text[i + 1 :] if len(up) == 1 else text
    return text


def ends_sentence(text: str) -> bool:
    last = text.rstrip(CLOSING_QUOTES)[-1:]
    return bool(last) and last in SENTENCE_END


def finish_sentence(text: str) -> str:
    """Capital first letter and final punctuation; appends only, so offsets hold."""
    text = capitalize_first_letter(text)
    return text if ends_sentence(text) else text + "."


# ---------------------------------------------------------------- the record validator


@dataclass(frozen=True)
class RegisterRules:
    """What the register_rules spec says, plus which template sentences are orders."""

    rules: dict[str, RegisterRule]
    first_person_words: frozenset[str]
    orders: frozenset[
        tuple[str, str]
    ]  # (template id, register): the sentence opens with a verb slot


def register_rules(specs: SpecSet) -> RegisterRules:
    spec = specs.one(RegisterRulesFile)
    return RegisterRules(
        dict(spec.registers), frozenset(spec.first_person_words), order_templates(specs)
    )


def order_templates(specs: SpecSet) -> frozenset[tuple[str, str]]:
    """(template, register) pairs whose sentence opens with a verb slot: orders need no first-person word."""
    lists = vocabulary_lists(specs)
    out = set()
    for t in all_templates(specs):
        for register, pattern in t.patterns.items():
            m = re.match(r"\{([^{}]*)\}", pattern)
            if m and m.group(1) in t.slots:
                name = t.slots[m.group(1)].list_for(register)
                if name in lists and lists[name][1].is_verbs:
                    out.add((t.id, register))
    return frozenset(out)


def outside_quotes(text: str) -> str:
    return QUOTED.sub(" ", text)


def validate_record(record: Mapping[str, Any], rules: RegisterRules) -> list[str]:
    """Every problem of one events record (an empty list means it is valid).

    Checks labels against the generated contract, spans (bounds, order,
    overlap, text, byte offsets), sentence form (capital, final punctuation)
    and register, by the register_rules spec: a register that requires the
    first person gets a first-person word unless its sentence is an order; one
    that forbids it has none outside quoted speech.
    """
    problems: list[str] = []
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        return ["text is missing or empty"]
    if text != text.strip():
        problems.append("text has leading or trailing whitespace")
    first = next((c for c in text if c.isalpha()), "")
    if first and first.islower():
        problems.append("sentence starts with a lower-case letter")
    if not ends_sentence(text):
        problems.append("sentence has no final punctuation")
    kinds = record.get("event_kinds")
    if not isinstance(kinds, list) or not kinds:
        problems.append("event_kinds is missing or empty")
    else:
        problems += [f"unknown event kind {k!r}" for k in kinds if k not in EVENT_KIND_LABELS]
        if len(set(map(str, kinds))) != len(kinds):
            problems.append("an event kind is listed twice")
    action = record.get("action_type")
    if action is not None and action not in ActionType.__members__:
        problems.append(f"unknown action type {action!r}")
    register = record.get("register")
    if register not in REGISTERS:
        problems.append(f"unknown register {register!r}")
    else:
        is_order = (record.get("template"), register) in rules.orders
        problems += _register_problems(text, register, rules, is_order)
    problems += _entity_problems(text, record.get("entities"))
    return problems


def _register_problems(text: str, register: str, rules: RegisterRules, is_order: bool) -> list[str]:
    first_person = any(w in rules.first_person_words for w in WORD.findall(outside_quotes(text)))
    rule = rules.rules[register].first_person
    if rule == "required" and not first_person and not is_order:
        return [f"{register} sentence is neither first person nor an order"]
    if rule == "forbidden" and first_person:
        return [f"{register} sentence uses the first person outside quoted speech"]
    return []


def _entity_problems(text: str, entities: object) -> list[str]:
    if not isinstance(entities, list):
        return ["entities is not a list"]
    problems = []
    previous_end = 0
    for i, e in enumerate(entities):
        where = f"entity {i}"
        try:
            start, end = int(e["start"]), int(e["end"])
        except (KeyError, TypeError, ValueError):
            problems.append(f"{where}: start/end missing or not integers")
            continue
        if not 0 <= start < end <= len(text):
            problems.append(f"{where}: span {start}:{end} outside the text (length {len(text)})")
            continue
        if start < previous_end:
            problems.append(f"{where}: overlaps or precedes the previous entity")
        previous_end = max(previous_end, end)
        if text[start:end] != e.get("text"):
            problems.append(
                f"{where}: text {e.get('text')!r} != text[{start}:{end}] {text[start:end]!r}"
            )
        if text[start:end] != text[start:end].strip():
            problems.append(f"{where}: span has leading or trailing whitespace")
        if (e.get("byte_start"), e.get("byte_end")) != (
            byte_offset(text, start),
            byte_offset(text, end),
        ):
            problems.append(f"{where}: byte offsets do not match the character offsets")
        if e.get("category") not in ENTITY_CATEGORIES:
            problems.append(f"{where}: unknown category {e.get('category')!r}")
        if e.get("role") not in ENTITY_ROLES:
            problems.append(f"{where}: unknown role {e.get('role')!r}")
    return problems


# ---------------------------------------------------------------- sentences from pieces


# The clause name of a sentence that is one template alone (records name every clause's template).
UNFRAMED_CLAUSE = "sentence"


def assemble(pieces: list[Piece]) -> tuple[str, list[EntitySpan]]:
    """The finished sentence and its entities: each span is where its piece was appended."""
    spans: list[tuple[int, int, str, str]] = []
    length = 0
    for piece in pieces:
        if piece.entity is not None:
            spans.append((length, length + len(piece.text), *piece.entity))
        length += len(piece.text)
    text = finish_sentence("".join(p.text for p in pieces))
    return text, [make_entity(text, s, e, cat, role) for s, e, cat, role in spans]


def generate_one(plan: Plan, composition: Composition | None, rng: random.Random) -> TextRecord:
    """One record around `plan`: framed with other clauses (as often as the spec says) or alone."""
    t = plan.template
    frame = composition.frame_for(plan, rng) if composition is not None else None
    if composition is not None and frame is not None:
        composed = compose(frame, plan, composition, rng)
        text, entities = assemble(composed.pieces)
        return {
            "text": text,
            "register": plan.register,
            "event_kinds": composed.event_kinds,
            "action_type": t.action_type,
            "entities": entities,
            "template": t.id,
            "clauses": composed.clauses,
            "frame": frame.frame.id,
            "fillers": composed.fillers,
        }
    picked = pick_fillers(plan.slots, rng)
    variation = composition.variation(plan, rng) if composition is not None else Variation()
    text, entities = assemble(realize(plan, picked, "sentence", variation))
    fillers = {name: plan.slots[name].ids[i] for name, i in sorted(picked.items())}
    return {
        "text": text,
        "register": plan.register,
        "event_kinds": list(t.event_kinds),
        "action_type": t.action_type,
        "entities": entities,
        "template": t.id,
        "clauses": {UNFRAMED_CLAUSE: t.id},
        "frame": None,
        "fillers": fillers,
    }


# ---------------------------------------------------------------- balanced generation


@dataclass
class EventsResult:
    records: list[TextRecord]
    rejected: Counter = field(default_factory=Counter)


def check_labels_match_contract(specs: SpecSet) -> None:
    """The specs' labels must be the ones the generated contract (and so training) uses."""
    labels = specs.one(TextLabelsFile)
    pairs = [
        ("event kinds", tuple(labels.event_kinds.labels), EVENT_KIND_LABELS),
        ("entity categories", tuple(labels.entity_categories.categories), ENTITY_CATEGORIES),
        ("entity roles", tuple(labels.entity_roles), ENTITY_ROLES),
    ]
    for what, in_specs, generated in pairs:
        if in_specs != tuple(generated):
            raise UserError(
                f"the {what} in {specs.root} differ from the generated contract "
                f"({list(in_specs)} vs {list(generated)}): run `storyml gen`"
            )


def build_events(specs: SpecSet, seed: int | None = None, per_kind: int = 1000) -> EventsResult:
    """Generate the events dataset, balanced by event kind and register (seed: the build spec's).

    Balancing. The dataset has `len(EVENT_KIND_LABELS) * per_kind` examples,
    and every kind is a label of at least `per_kind` of them. A multi-label
    example counts toward each of its kinds. Each step picks the kind with the
    fewest labelled examples so far (ties in label order) and expands a
    template whose *primary* kind it is, so kinds that appear often as a
    secondary label (speech that informs, movement out of anger) get fewer
    primary examples and the labelled counts stay level; generation goes on
    past the total if a kind is still short. Within a kind the least-used
    template is taken (ties broken by the seeded generator), and within a
    template the register with fewer examples overall, so both registers end
    near half. Duplicate texts are rejected and counted; a template and
    register whose combinations run out is retired.

    Bounded: as soon as a kind is still short and no live template lists it,
    generation stops with a UserError naming the kind and its templates (and
    any template that could not be filled at all), instead of searching on
    through the other kinds' templates.
    """
    if per_kind < 1:
        raise UserError(f"--per-kind must be at least 1, got {per_kind}")
    check_labels_match_contract(specs)
    rng = random.Random(default_seed(specs) if seed is None else seed)
    rules = register_rules(specs)
    plans = compile_plans(specs)
    composition = Composition.from_specs(specs, plans)
    by_primary: dict[str, list[list[Plan]]] = {k: [] for k in EVENT_KIND_LABELS}
    for t_plans in _group_by_template(plans):
        by_primary[t_plans[0].template.event_kinds[0]].append(t_plans)
    labelled = Counter({k: 0 for k in EVENT_KIND_LABELS})
    registers = Counter({r: 0 for r in REGISTERS})
    seen: set[str] = set()
    records: list[TextRecord] = []
    rejected: Counter[str] = Counter()
    target = len(EVENT_KIND_LABELS) * per_kind
    _fail_if_stuck(labelled, per_kind, plans)
    while len(records) < target or min(labelled.values()) < per_kind:
        kind = _neediest_kind(labelled, by_primary)
        if kind is None:
            short = sorted(k for k, n in labelled.items() if n < per_kind)
            raise UserError(
                f"templates ran out of new sentences before reaching {per_kind} "
                f"per kind (short: {', '.join(short) or 'total'}): add templates or vocabulary"
            )
        plan = _pick_plan(by_primary[kind], registers, rng)
        record: TextRecord = {"id": "", **generate_one(plan, composition, rng)}
        text = record["text"]
        problems = ["duplicate text"] if text in seen else validate_record(record, rules)
        if problems:
            plan.duplicates_in_a_row += 1
            for p in problems:
                rejected[
                    p if p == "duplicate text" else f"invalid: {re.sub(r'[0-9]+', 'N', p)}"
                ] += 1
                plan.rejected[p] += 1
        else:
            seen.add(text)
            plan.made += 1
            plan.duplicates_in_a_row = 0
            record["id"] = f"ev-{len(records):06d}"
            records.append(record)
            registers[plan.register] += 1
            for k in record["event_kinds"]:
                labelled[k] += 1
        if plan.exhausted:  # only then can a kind have lost its last live template
            _fail_if_stuck(labelled, per_kind, plans)
    return EventsResult(records, rejected)


MAX_NAMED_TEMPLATES = 8


def _fail_if_stuck(labelled: Counter, per_kind: int, plans: list[Plan]) -> None:
    """Raise for the first kind still short of `per_kind` that no live template lists."""
    live = {k for p in plans if not p.exhausted for k in p.template.event_kinds}
    stuck = next((k for k in EVENT_KIND_LABELS if labelled[k] < per_kind and k not in live), None)
    if stuck is None:
        return
    mine = [p for p in plans if stuck in p.template.event_kinds]
    if not mine:
        raise UserError(
            f"no template generates event kind {stuck!r}: list it in the `event_kinds` of "
            "a template in the templates specs (`storyml check` reports this too)"
        )
    by_template: dict[str, list[Plan]] = {}
    for p in mine:
        by_template.setdefault(p.template.id, []).append(p)
    described = [_template_state(tid, t_plans) for tid, t_plans in by_template.items()]
    # the templates that could not be filled at all first: they are the likely mistakes
    described.sort(key=lambda d: "could not be filled" not in d)
    more = len(described) - MAX_NAMED_TEMPLATES
    listing = "; ".join(described[:MAX_NAMED_TEMPLATES]) + (
        f"; and {more} more" if more > 0 else ""
    )
    raise UserError(
        f"event kind {stuck!r} has {labelled[stuck]} of the {per_kind} sentences asked for, and "
        f"its templates can make no new ones: {listing}. Add templates or vocabulary for it, "
        "or ask for fewer per kind"
    )


def _template_state(template_id: str, plans: list[Plan]) -> str:
    """What one template made in its registers, and why it stopped."""
    states = sorted({_plan_state(p) for p in plans})
    if all(p.made == 0 for p in plans):
        return f"{template_id} could not be filled at all ({', '.join(states)})"
    return f"{template_id} made {sum(p.made for p in plans)} ({', '.join(states)})"


def _plan_state(plan: Plan) -> str:
    if plan.capacity == 0:
        return "no filler combination: slots that share a list need more entries"
    if plan.made >= plan.capacity:
        return f"all {plan.capacity} combinations used"
    reasons = ", ".join(f"{why} x{n}" for why, n in plan.rejected.most_common(2))
    return f"{MAX_DUPLICATES_IN_A_ROW} rejected in a row: {reasons}"


def _group_by_template(plans: list[Plan]) -> list[list[Plan]]:
    groups: dict[str, list[Plan]] = {}
    for p in plans:
        groups.setdefault(p.template.id, []).append(p)
    return [groups[k] for k in sorted(groups)]


def _neediest_kind(labelled: Counter, by_primary) -> str | None:
    alive = [
        k
        for k in EVENT_KIND_LABELS
        if any(not p.exhausted for t_plans in by_primary[k] for p in t_plans)
    ]
    if not alive:
        return None
    return min(alive, key=lambda k: (labelled[k], EVENT_KIND_LABELS.index(k)))


def _pick_plan(templates: list[list[Plan]], registers: Counter, rng: random.Random) -> Plan:
    live = [[p for p in t_plans if not p.exhausted] for t_plans in templates]
    live = [t for t in live if t]
    fewest = min(sum(p.made for p in t) for t in live)
    t_plans = rng.choice([t for t in live if sum(p.made for p in t) == fewest])
    least = min(registers[p.register] for p in t_plans)
    return rng.choice([p for p in t_plans if registers[p.register] == least])


def generate_events(
    specs: SpecSet, seed: int | None = None, per_kind: int = 1000
) -> list[TextRecord]:
    """The events records (see `build_events` for the balancing)."""
    return build_events(specs, seed, per_kind).records


# ---------------------------------------------------------------- manifest and files


def specs_fingerprint(specs: SpecSet) -> str:
    """Fingerprint of everything the dataset is made from: templates, vocabulary, labels."""
    return fingerprint(
        [
            e.model
            for kind in ("templates", "vocabulary", "register_rules", "text_labels")
            for e in specs.of_kind(kind)
        ]
    )


def manifest(
    specs: SpecSet, result: EventsResult, seed: int, per_kind: int, data_sha256: str
) -> dict:
    records = result.records
    return {
        "dataset": "events",
        "seed": seed,
        "per_kind": per_kind,
        "total": len(records),
        "counts": {
            "event_kind": _counts(k for r in records for k in r["event_kinds"]),
            "primary_event_kind": _counts(r["event_kinds"][0] for r in records),
            "multi_label": sum(len(r["event_kinds"]) > 1 for r in records),
            "register": _counts(r["register"] for r in records),
            "category": _counts(e["category"] for r in records for e in r["entities"]),
            "action_type": _counts(str(r["action_type"]) for r in records),
            "template": _counts(r["template"] for r in records),
            "frame": _counts(str(r["frame"]) for r in records),
        },
        # Length and constructions (storyml/data/profile.py), to compare with evalsets/ prose.
        "profile": profile(r["text"] for r in records),
        "rejected": {
            "total": sum(result.rejected.values()),
            "reasons": dict(sorted(result.rejected.items())),
        },
        "templates": len(all_templates(specs)),
        "specs_fingerprint": specs_fingerprint(specs),
        "contract_fingerprint": storyml_contract.CONTRACT_FINGERPRINT,
        "data_sha256": data_sha256,
    }


def _counts(items) -> dict[str, int]:
    return dict(sorted(Counter(items).items()))


def manifest_path(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(".jsonl") + ".manifest.json")


def write_events(specs: SpecSet, result: EventsResult, seed: int, per_kind: int, out: Path) -> Path:
    """Write the JSONL and its manifest, each atomically; returns the manifest path."""
    sha = write_jsonl(out, result.records)
    path = manifest_path(out)
    atomic_write_text(
        path,
        json.dumps(
            manifest(specs, result, seed, per_kind, sha),
            indent=2,
            sort_keys=True,
            ensure_ascii=False,
        )
        + "\n",
    )
    return path
