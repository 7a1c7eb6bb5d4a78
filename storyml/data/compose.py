"""Templates and frames compiled into plans, and plans filled into sentences with exact spans.

A `Plan` is one template in one register: its pattern split into literal pieces and slot
names, with what may fill each slot. `realize` fills a plan as a clause in one of the
forms of the composition spec (finite, participle, coordinate, quote) and returns
`Piece`s: text with the entity it is, if any. A `FramePlan` is one frame in one register
with the plans that may fill each of its clause slots; `compose` realises a frame around
a main plan. Offsets are never searched for: a sentence is the concatenation of its
pieces, so each entity's span is where its piece was appended.

All randomness comes from the `random.Random` passed in, drawn in a fixed order.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field

from storyml_contract.text import REGISTERS

from codegen.spec.composition import ClauseSlot, CompositionFile, Frame
from codegen.spec.loader import SpecSet
from codegen.spec.templates import (
    SLOT_RE,
    RegisterRulesFile,
    Slot,
    Template,
    TemplatesFile,
    Verb,
    VocabularyLists,
    resolved_entries,
    self_mention_words,
    vocabulary_lists,
)

# Give up on a (template, register) after this many duplicates in a row: its
# combinations are (nearly) all used.
MAX_DUPLICATES_IN_A_ROW = 60
EMBEDDED_END = ".!"  # final punctuation a clause may drop when it is embedded
QUOTE_CHARS = '"“”'
ACTOR_ROLE = "Actor"
SUBJECTLESS_FORMS = ("participle", "coordinate", "relative")
RELATIVE_PRONOUN = "who "
FIRST_PERSON_FORM = "present"  # the player's verb form (Verb.present: "am" for "be")


@dataclass(frozen=True)
class Piece:
    text: str
    entity: tuple[str, str] | None = None  # (category, role)


@dataclass(frozen=True)
class SlotChoices:
    """What may fill one slot in one register: surface texts, filler ids, verbs behind them."""

    list_name: str
    texts: tuple[str, ...]
    ids: tuple[str, ...]
    entity: tuple[str, str] | None  # (category, role)
    verbs: tuple[Verb, ...] | None = None  # verb lists: the entries, for other forms
    fixed_form: bool = False
    form: str | None = None  # verb lists: the form `texts` hold


def slot_entity(slot: Slot) -> tuple[str, str] | None:
    """(category, role) of an entity slot, None for a plain one."""
    if slot.entity is None:
        return None
    if slot.entity.category is None or slot.entity.role is None:  # `storyml check` refuses this
        raise ValueError("an entity slot names no category or no role")
    return slot.entity.category, slot.entity.role


def slot_choices(
    slot: Slot, register: str, lists: VocabularyLists, rules: RegisterRulesFile
) -> SlotChoices:
    list_name = slot.list_for(register)
    wl = lists[list_name][1]
    entries = resolved_entries(list_name, lists)
    entity = slot_entity(slot)
    if wl.is_verbs:
        verbs = tuple(e for _, e in entries if isinstance(e, Verb))
        form = slot.form_for(register, rules)
        return SlotChoices(
            list_name,
            tuple(v.form(form) for v in verbs),
            tuple(f"{src}:{e.lemma}" for src, e in entries if isinstance(e, Verb)),
            entity,
            verbs,
            wl.fixed_form,
            form,
        )
    words = [(src, e) for src, e in entries if isinstance(e, str)]
    return SlotChoices(
        list_name, tuple(w for _, w in words), tuple(f"{src}:{w}" for src, w in words), entity
    )


@dataclass
class Plan:
    """One template in one register, compiled: pattern pieces and slot choices."""

    template: Template
    register: str
    pieces: tuple[str, ...]  # even indexes literal text, odd indexes slot names
    slots: dict[str, SlotChoices]
    capacity: int  # how many distinct filler combinations exist
    made: int = 0
    duplicates_in_a_row: int = 0
    rejected: Counter = field(default_factory=Counter)  # why its sentences were rejected

    @property
    def exhausted(self) -> bool:
        return self.made >= self.capacity or self.duplicates_in_a_row >= MAX_DUPLICATES_IN_A_ROW

    @property
    def subject_slot(self) -> str | None:
        """The Actor slot of a subject-led clause ("{actor} {verb} ..."), else None."""
        if len(self.pieces) < 5 or self.pieces[0] or self.pieces[2] != " ":
            return None
        subject, verb = self.slots[self.pieces[1]], self.slots[self.pieces[3]]
        if subject.entity is None or subject.entity[1] != ACTOR_ROLE or verb.verbs is None:
            return None
        return self.pieces[1]

    @property
    def takes_verb_phrase(self) -> bool:
        """Subject-led, and its first verb may change form ("had opened"): not the copula."""
        return self.subject_slot is not None and not self.slots[self.pieces[3]].fixed_form

    @property
    def last_entity_category(self) -> str | None:
        """The category of the entity slot that ends the clause (only punctuation after it), if any."""
        if len(self.pieces) < 3 or self.pieces[-1].strip() not in ("", *EMBEDDED_END):
            return None
        entity = self.slots[self.pieces[-2]].entity
        return entity[0] if entity else None

    @property
    def opens_with_slot(self) -> bool:
        return not self.pieces[0]

    @property
    def is_order(self) -> bool:
        """Opens with a verb: an order in the player register."""
        return self.opens_with_slot and self.slots[self.pieces[1]].verbs is not None

    @property
    def embeddable(self) -> bool:
        """Ends in '.' or '!' and holds no quote or question: it can stand inside a longer sentence."""
        text = "".join(self.pieces[::2])
        return (
            text.rstrip()[-1:] in EMBEDDED_END
            and not any(q in text for q in QUOTE_CHARS)
            and "?" not in text
        )


def all_templates(specs: SpecSet) -> list[Template]:
    """Every template, sorted by id (file order must not change the data)."""
    return sorted(
        (t for e in specs.of_kind(TemplatesFile) for t in e.model.templates), key=lambda t: t.id
    )


def compile_plans(specs: SpecSet) -> list[Plan]:
    lists = vocabulary_lists(specs)
    rules = specs.one(RegisterRulesFile)
    plans = []
    for t in all_templates(specs):
        for register in REGISTERS:
            if register not in t.patterns:
                continue
            pieces = tuple(SLOT_RE.split(t.pattern_for(register)))
            used = list(dict.fromkeys(pieces[1::2]))
            slots = {name: slot_choices(t.slots[name], register, lists, rules) for name in used}
            plans.append(Plan(t, register, pieces, slots, capacity(slots)))
    return plans


def capacity(slots: dict[str, SlotChoices]) -> int:
    """Distinct combinations, given that slots sharing a list draw distinct entries."""
    total = 1
    taken: Counter = Counter()
    for choice in slots.values():
        total *= max(len(choice.texts) - taken[choice.list_name], 0)
        taken[choice.list_name] += 1
    return total


def pick_fillers(slots: dict[str, SlotChoices], rng: random.Random) -> dict[str, int]:
    """An entry index per slot; slots that share a list get different entries."""
    picked: dict[str, int] = {}
    taken: dict[str, set[int]] = {}
    for name, choice in slots.items():
        used = taken.setdefault(choice.list_name, set())
        index = rng.randrange(len(choice.texts))
        while index in used:
            index = rng.randrange(len(choice.texts))
        used.add(index)
        picked[name] = index
    return picked


# ---------------------------------------------------------------- clauses


@dataclass(frozen=True)
class Variation:
    """How a clause departs from its template: a verb phrase and a pronoun subject, both optional."""

    verb_phrase: str | None = None  # "had {participle}"
    pronoun: str | None = None


def realize(
    plan: Plan, picked: dict[str, int], form: str = "finite", variation: Variation = Variation()
) -> list[Piece]:
    """The clause's pieces in `form` ("sentence" keeps the template exactly as a whole sentence)."""
    subject = plan.subject_slot
    start = 3 if form in SUBJECTLESS_FORMS else 0  # drop "{actor} "
    pieces: list[Piece] = [Piece(RELATIVE_PRONOUN)] if form == "relative" else []
    verb_done = False
    for i in range(start, len(plan.pieces)):
        name = plan.pieces[i]
        if i % 2 == 0:
            if name:
                pieces.append(Piece(name))
            continue
        choice = plan.slots[name]
        text = choice.texts[picked[name]]
        entity = choice.entity
        if choice.verbs is not None and not verb_done:
            verb_done = True
            text = _first_verb(choice, picked[name], form, variation, subject is not None)
        elif choice.verbs is not None and _agrees_with_who(choice, form):
            text = choice.verbs[picked[name]].form("third")  # "who confronts Hasan and leaves"
        elif name == subject and variation.pronoun is not None:
            text, entity = variation.pronoun, None
        pieces.append(Piece(text, entity))
    if form != "sentence":
        pieces = _drop_final_punctuation(pieces)
    return pieces


def _agrees_with_who(choice: SlotChoices, form: str) -> bool:
    """Whether a verb must change to agree with a relative clause's "who": "who" stands for the
    noun before it, a third person ("the smith, who is tired"), where the player's template wrote
    "I am tired". Even a fixed-form list agrees."""
    return form == "relative" and choice.form == FIRST_PERSON_FORM


def _first_verb(
    choice: SlotChoices, index: int, form: str, variation: Variation, subject_led: bool
) -> str:
    verb = choice.verbs[index] if choice.verbs else None
    if verb is None:
        return choice.texts[index]
    if form == "participle":
        return verb.form("gerund")
    if _agrees_with_who(choice, form):
        # No verb phrase either: the player's "do not" and "have" would not agree.
        return verb.form("third")
    if (
        subject_led
        and variation.verb_phrase is not None
        and not choice.fixed_form
        and form != "coordinate"
    ):
        return variation.verb_phrase.format(
            **{f: verb.form(f) for f in _phrase_forms(variation.verb_phrase)}
        )
    return choice.texts[index]


def _phrase_forms(pattern: str) -> list[str]:
    return re.findall(r"\{([a-z]+)\}", pattern)


def _drop_final_punctuation(pieces: list[Piece]) -> list[Piece]:
    last = pieces[-1]
    if last.entity is None and last.text.rstrip()[-1:] in EMBEDDED_END:
        trimmed = last.text.rstrip()[:-1].rstrip()
        return pieces[:-1] + ([Piece(trimmed)] if trimmed else [])
    return pieces


# ---------------------------------------------------------------- frames


@dataclass
class FramePlan:
    """One frame in one register: word slots compiled, and the plans each clause slot accepts."""

    frame: Frame
    register: str
    pieces: tuple[str, ...]
    slots: dict[str, SlotChoices]
    candidates: dict[str, list[Plan]] = field(
        default_factory=dict
    )  # clause slot -> plans that fit it
    main_templates: frozenset[str] = frozenset()  # ids of the templates its main clause accepts

    def accepts_main(self, plan: Plan) -> bool:
        return plan.template.id in self.main_templates


def clause_accepts(frame: Frame, name: str, clause: ClauseSlot, plan: Plan) -> bool:
    """Whether `plan` may fill clause slot `name` of `frame` (the table in codegen/spec/composition.py)."""
    if clause.kinds is not None and plan.template.event_kinds[0] not in clause.kinds:
        return False
    if not plan.embeddable:
        return False
    if clause.ends_with is not None and plan.last_entity_category not in clause.ends_with:
        return False
    if clause.verb_phrases is not None and not plan.takes_verb_phrase:
        return False
    if frame.needs_subject(name) and plan.subject_slot is None:
        return False  # "the wind howled, muttering about the debt"
    if clause.clause in SUBJECTLESS_FORMS:
        return plan.subject_slot is not None
    opening = frame.opens_with(name)
    if not opening and not plan.opens_with_slot:
        return False
    if not clause.main and clause.clause == "finite" and plan.is_order:
        return False  # "when open the door" is not English: orders stand only as the main clause
    return True


def compile_frames(specs: SpecSet, plans: list[Plan]) -> list[FramePlan]:
    spec = specs.one(CompositionFile)
    lists = vocabulary_lists(specs)
    rules = specs.one(RegisterRulesFile)
    out = []
    for frame in sorted(spec.frames, key=lambda f: f.id):
        for register in REGISTERS:
            if register not in frame.registers:
                continue
            pieces = tuple(SLOT_RE.split(frame.pattern))
            slots = {
                name: slot_choices(slot, register, lists, rules)
                for name, slot in frame.slots.items()
            }
            fp = FramePlan(frame, register, pieces, slots)
            for name, clause in frame.clauses.items():
                written_in = clause.written_in or register
                fp.candidates[name] = [
                    p
                    for p in plans
                    if p.register == written_in and clause_accepts(frame, name, clause, p)
                ]
            fp.main_templates = frozenset(p.template.id for p in fp.candidates[frame.main_clause])
            if all(fp.candidates.values()):
                out.append(fp)
    return out


@dataclass
class Composed:
    pieces: list[Piece]
    event_kinds: list[str]
    clauses: dict[str, str]  # clause slot -> template id
    fillers: dict[str, str]


@dataclass(frozen=True)
class Composition:
    """The composition spec with its frames compiled and its pronoun lists resolved."""

    spec: CompositionFile
    frames: list[FramePlan]
    pronouns: dict[str, tuple[str, ...]]  # register -> pronouns
    said_pronouns: frozenset[str]  # the player's "I": untagged inside quoted speech

    @classmethod
    def from_specs(cls, specs: SpecSet, plans: list[Plan]) -> Composition | None:
        entries = specs.of_kind(CompositionFile)
        if not entries:
            return None
        spec: CompositionFile = entries[0].model
        lists = vocabulary_lists(specs)
        subjects = spec.pronoun_subjects
        pronouns = {
            register: tuple(e for _, e in resolved_entries(name, lists) if isinstance(e, str))
            for register, name in (subjects.lists.items() if subjects else ())
        }
        return cls(spec, compile_frames(specs, plans), pronouns, self_mention_words(specs, lists))

    def variation(
        self, plan: Plan, rng: random.Random, clause: ClauseSlot | None = None
    ) -> Variation:
        """A verb phrase and maybe a pronoun subject for a clause, weighed as the spec says
        (the clause slot's own verb phrases, when it has them, instead of the composition's)."""
        if plan.subject_slot is None:
            return Variation()
        own = clause.verb_phrases if clause is not None else None
        phrases = (own if own is not None else self.spec.verb_phrases).get(plan.register, [])
        if not plan.embeddable:
            phrases = []  # a quote or question keeps its speech verb as said: not "did not snap, '...'"
        phrase = (
            rng.choices([p.pattern for p in phrases], [p.weight for p in phrases])[0]
            if phrases
            else None
        )
        subject = plan.slots[plan.subject_slot]
        subjects = self.spec.pronoun_subjects
        share = subjects.share if subjects else 0.0
        pronoun = None
        if (
            subjects is not None
            and plan.register in self.pronouns
            and subject.entity
            and subject.entity[0] == subjects.category
            and rng.random() < share
        ):
            pronoun = rng.choice(self.pronouns[plan.register])
        return Variation(phrase, pronoun)

    def frame_for(self, main: Plan, rng: random.Random) -> FramePlan | None:
        """With the spec's `share`, a frame that takes `main` as its main clause (weighted)."""
        if rng.random() >= self.spec.share:
            return None
        fitting = [
            fp for fp in self.frames if fp.register == main.register and fp.accepts_main(main)
        ]
        if not fitting:
            return None
        return rng.choices(fitting, [fp.frame.weight for fp in fitting])[0]


def compose(fp: FramePlan, main: Plan, composition: Composition, rng: random.Random) -> Composed:
    """Realise a frame around `main`: other clauses drawn from their candidates, word slots filled."""
    frame = fp.frame
    chosen: dict[str, Plan] = {
        name: main if clause.main else _clause_plan(fp.candidates[name], clause, main, rng)
        for name, clause in frame.clauses.items()
    }
    words = pick_fillers(fp.slots, rng)
    pieces: list[Piece] = []
    fillers = {name: fp.slots[name].ids[i] for name, i in words.items()}
    for i, name in enumerate(fp.pieces):
        if i % 2 == 0:
            if name:
                pieces.append(Piece(name))
            continue
        if name in fp.slots:
            choice = fp.slots[name]
            pieces.append(Piece(choice.texts[words[name]], choice.entity))
            continue
        plan, clause = chosen[name], frame.clauses[name]
        picked = pick_fillers(plan.slots, rng)
        variation = composition.variation(plan, rng, clause)
        clause_pieces = realize(plan, picked, clause.clause, variation)
        if clause.clause == "quote":
            clause_pieces = _capitalised(_said(clause_pieces, composition.said_pronouns))
        pieces += clause_pieces
        fillers.update(
            {f"{name}.{slot}": plan.slots[slot].ids[index] for slot, index in picked.items()}
        )
    kinds = list(main.template.event_kinds)
    for name, clause in frame.clauses.items():
        kinds += clause.counted(chosen[name].template.event_kinds)
    kinds += frame.adds
    return Composed(
        _merged(pieces),
        list(dict.fromkeys(kinds)),
        {name: p.template.id for name, p in sorted(chosen.items())},
        dict(sorted(fillers.items())),
    )


def _clause_plan(
    candidates: list[Plan], clause: ClauseSlot, main: Plan, rng: random.Random
) -> Plan:
    """A template for a clause slot; with the slot's `same_kind` chance, one of the main clause's
    primary kind when the slot admits any."""
    if clause.same_kind > 0 and rng.random() < clause.same_kind:
        kind = main.template.event_kinds[0]
        same = [p for p in candidates if p.template.event_kinds[0] == kind]
        if same:
            return rng.choice(same)
    return rng.choice(candidates)


def _said(pieces: list[Piece], pronouns: frozenset[str]) -> list[Piece]:
    """A clause as quoted speech: the speaker's own "I" is a word said, not a mention."""
    return [Piece(p.text) if p.entity and p.text in pronouns else p for p in pieces]


def _capitalised(pieces: list[Piece]) -> list[Piece]:
    first = pieces[0]
    text = (
        first.text[:1].upper() + first.text[1:] if len(first.text[:1].upper()) == 1 else first.text
    )
    return [Piece(text, first.entity), *pieces[1:]]


def _merged(pieces: list[Piece]) -> list[Piece]:
    """Adjacent literal pieces joined (cosmetic: spans do not depend on it)."""
    out: list[Piece] = []
    for p in pieces:
        if out and out[-1].entity is None and p.entity is None:
            out[-1] = Piece(out[-1].text + p.text)
        else:
            out.append(p)
    return out
