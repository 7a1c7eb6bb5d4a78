"""Spec kind `composition`: sentences built from clauses instead of one flat template.

A template is also a clause. A *frame* puts clauses together ("{conj} {sub}, {main}",
"{main}, {participle}", a quote with its attribution) and may add event kinds of its
own (quoted speech adds SpeechAct). A sentence's event kinds are derived, never listed:
the main clause's kinds, then those each clause slot's `labels` lets through, then
the frame's `adds`, each once.

Clause forms (what a clause slot asks of the template that fills it):

| form | text | which templates can fill it |
|---|---|---|
| finite | the clause as written, final '.' or '!' dropped | any that ends in '.' or '!' and holds no quote or '?' |
| participle | subject dropped, first verb as its -ing form: "muttering about the debt" | subject-led ones |
| coordinate | subject dropped, first verb in the register's form: "and then opened the gate" | subject-led ones |
| relative | subject replaced by "who", verb phrases allowed: "who had lost the key" | subject-led ones |
| quote | a player-register clause as quoted speech, first letter capitalised | as finite, in the player register |

A template is *subject-led* when its pattern opens with an entity slot whose role is
Actor followed by a space and a verb slot. A clause slot that is not the first thing in
the frame's pattern also needs a template whose pattern opens with a slot (so no
capitalised literal such as "When" lands mid-sentence).

Verb phrases vary the first verb of a subject-led clause per register ("had left", "did
not open", "am waiting"); a verb list marked `fixed_form` (the copula) never takes one.
Pronoun subjects replace a CHARACTER Actor filler with a pronoun that is not an entity,
so the models meet "he", "she" and "they" without learning to tag them.
"""

from __future__ import annotations

import math
import re
import string
from typing import Literal

from pydantic import Field, field_validator, model_validator

from codegen.spec.errors import Loc, SpecProblem, one_of
from codegen.spec.models import SnakeName, SpecModel, TextLabelsFile
from codegen.spec.specset import SpecSet
from codegen.spec.templates import VERB_FORMS, Slot, pattern_slots, vocabulary_lists

ClauseForm = Literal["finite", "participle", "coordinate", "relative", "quote"]
PHRASED_FORMS = ("finite", "relative")
SHARED_SUBJECT_FORMS = (
    "participle",
    "coordinate",
)  # clause forms that borrow the main clause's subject  # the forms whose first verb a verb phrase may replace


def _finite_weight(v: float) -> float:
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"must be a finite number above 0, got {v}")
    return v


def _finite_share(v: float) -> float:
    if not math.isfinite(v):
        raise ValueError(f"must be a finite number from 0 to 1, got {v}")
    return v


class VerbPhrase(SpecModel):
    pattern: str = Field(description="Verb forms in braces: 'had {participle}', 'did not {base}'.")
    weight: float = Field(1.0, description="Relative chance among the register's phrases.")

    _weight = field_validator("weight")(classmethod(lambda cls, v: _finite_weight(v)))

    @field_validator("pattern")
    @classmethod
    def _forms(cls, v: str) -> str:
        names = [f for _, f, _, _ in string.Formatter().parse(v) if f is not None]
        if len(names) != 1 or names[0] not in VERB_FORMS:
            raise ValueError(
                f"a verb phrase holds exactly one verb form in braces, one of "
                f"{', '.join('{' + f + '}' for f in VERB_FORMS)}; got {v!r}"
            )
        return v


class PronounSubjects(SpecModel):
    share: float = Field(
        ge=0, le=1, description="Chance that an Actor filler of `category` becomes a pronoun."
    )
    category: str = Field(description="The entity category a pronoun may stand for (persons).")
    lists: dict[str, str] = Field(
        description="Register -> vocabulary list of pronouns (not entities)."
    )


class ClauseSlot(SpecModel):
    clause: ClauseForm
    main: bool = Field(
        False,
        description="The balanced clause: its template is the one the generator "
        "picked for the kind it needs; exactly one per frame.",
    )
    labels: bool | list[str] = Field(
        True,
        description="Which of the clause's event kinds join the "
        "sentence's: all (true), none (false: quoted words are said, not "
        "done), or only those listed (a participle clause adds speech and "
        "shown feeling, not incidental business; evalsets/GUIDELINES.md 2.1).",
    )

    def counted(self, kinds: list[str]) -> list[str]:
        """The clause's kinds that the sentence reports, by `labels`."""
        if isinstance(self.labels, bool):
            return list(kinds) if self.labels else []
        return [k for k in kinds if k in self.labels]

    kinds: list[str] | None = Field(
        None, description="Only templates whose primary kind is listed."
    )
    ends_with: list[str] | None = Field(
        None,
        description="Only templates whose last slot (before the "
        "final punctuation) is an entity of one of these categories: "
        "what a relative clause after this one refers to.",
    )
    written_in: str | None = Field(
        None,
        description="The register the clause is written in "
        "(default: the sentence's); quotes use the player's.",
    )
    verb_phrases: dict[str, list[VerbPhrase]] | None = Field(
        None,
        description="Register -> the only verb phrases this clause takes, instead of the "
        "composition's: 'had {participle}' for background, 'could {base}' for what "
        "has not happened. Set, it admits only templates the phrase applies to "
        "(subject-led, first verb not of a fixed-form list).",
    )
    shares_subject: bool = Field(
        False,
        description="Words after this clause take its subject "
        '("{main} and {say}"): only subject-led templates '
        "fill it. Implied for a main clause whose frame has a "
        "participle or coordinate clause.",
    )
    same_kind: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Chance that the clause's template shares the "
        "main clause's primary event kind: real prose "
        "chains events of one kind more often than chance.",
    )

    _same_kind = field_validator("same_kind")(classmethod(lambda cls, v: _finite_share(v)))


class Frame(SpecModel):
    id: SnakeName
    doc: str = ""
    registers: list[str] = Field(min_length=1)
    pattern: str = Field(description="Clause and word slots in braces: '{conj} {sub}, {main}'.")
    weight: float = Field(
        1.0, description="Relative chance among the frames that fit a main clause."
    )
    adds: list[str] = Field(
        default_factory=list, description="Event kinds the frame itself expresses."
    )
    clauses: dict[str, ClauseSlot] = Field(min_length=1)
    slots: dict[str, Slot] = Field(default_factory=dict, description="Word slots, as in templates.")

    _weight = field_validator("weight")(classmethod(lambda cls, v: _finite_weight(v)))

    @property
    def main_clause(self) -> str:
        return next(name for name, c in self.clauses.items() if c.main)

    def needs_subject(self, name: str) -> bool:
        """Whether clause slot `name` must be subject-led: it shares its subject with what follows."""
        clause = self.clauses[name]
        return clause.shares_subject or (
            clause.main
            and any(c.clause in SHARED_SUBJECT_FORMS for n, c in self.clauses.items() if n != name)
        )

    def opens_with(self, name: str) -> bool:
        return self.pattern.startswith("{" + name + "}")

    @model_validator(mode="after")
    def _one_main(self) -> "Frame":
        mains = [name for name, c in self.clauses.items() if c.main]
        if len(mains) != 1:
            raise ValueError(f"exactly one clause slot has `main: true` (found {len(mains)})")
        if self.clauses[mains[0]].clause == "quote":
            raise ValueError("the main clause cannot be a quote: quoted words are not the event")
        return self


class CompositionFile(SpecModel):
    kind: Literal["composition"]
    doc: str = ""
    share: float = Field(ge=0, le=1, description="Share of generated sentences built from a frame.")
    verb_phrases: dict[str, list[VerbPhrase]] = Field(
        default_factory=dict,
        description="Register -> how the first verb of a subject-led clause is "
        "realised; none listed: the register's own verb form.",
    )
    pronoun_subjects: PronounSubjects | None = None
    frames: list[Frame] = Field(min_length=1)


SLOT_OPEN = re.compile(r"^\{[^{}]*\}")


def check_composition(specs: SpecSet) -> list[SpecProblem]:
    """Frames name known registers, kinds, lists and slots; every slot is used exactly as declared."""
    entries = specs.of_kind(CompositionFile)
    if not entries:
        return []
    labels = specs.one(TextLabelsFile)
    registers, kinds = list(labels.registers), list(labels.event_kinds.labels)
    categories, roles = list(labels.entity_categories.categories), list(labels.entity_roles)
    lists = vocabulary_lists(specs)
    problems: list[SpecProblem] = []
    for entry in entries:
        doc, spec = entry.doc, entry.model

        def known(loc: Loc, value: object, allowed: list[str], what: str) -> None:
            if value not in allowed:
                problems.append(
                    doc.problem(loc, f"unknown {what} {value!r} {one_of(value, allowed)}")
                )

        for register in spec.verb_phrases:
            known(("verb_phrases", register), register, registers, "register")
        if spec.pronoun_subjects is not None:
            known(
                ("pronoun_subjects", "category"),
                spec.pronoun_subjects.category,
                categories,
                "entity category",
            )
            for register, list_name in spec.pronoun_subjects.lists.items():
                known(("pronoun_subjects", "lists", register), register, registers, "register")
                known(
                    ("pronoun_subjects", "lists", register),
                    list_name,
                    list(lists),
                    "vocabulary list",
                )
        for fi, frame in enumerate(spec.frames):
            at = ("frames", fi)
            for ri, r in enumerate(frame.registers):
                known(at + ("registers", ri), r, registers, "register")
            for ki, k in enumerate(frame.adds):
                known(at + ("adds", ki), k, kinds, "event kind")
            for name, clause in frame.clauses.items():
                if clause.written_in is not None:
                    known(
                        at + ("clauses", name, "written_in"),
                        clause.written_in,
                        registers,
                        "register",
                    )
                for register in clause.verb_phrases or {}:
                    known(
                        at + ("clauses", name, "verb_phrases", register),
                        register,
                        registers,
                        "register",
                    )
                for register in frame.registers:
                    if clause.verb_phrases is not None and register not in clause.verb_phrases:
                        problems.append(
                            doc.problem(
                                at + ("clauses", name, "verb_phrases"),
                                f"no verb phrases for register {register!r}, which "
                                f"the frame is written in",
                            )
                        )
                if clause.verb_phrases is not None and clause.clause not in PHRASED_FORMS:
                    problems.append(
                        doc.problem(
                            at + ("clauses", name, "verb_phrases"),
                            f"a {clause.clause} clause takes no verb phrase (only "
                            f"{', '.join(PHRASED_FORMS)} clauses do)",
                        )
                    )
                for ci, category in enumerate(clause.ends_with or []):
                    known(
                        at + ("clauses", name, "ends_with", ci),
                        category,
                        categories,
                        "entity category",
                    )
                for ki, k in enumerate(clause.labels if isinstance(clause.labels, list) else []):
                    known(at + ("clauses", name, "labels", ki), k, kinds, "event kind")
                for ki, k in enumerate(clause.kinds or []):
                    known(at + ("clauses", name, "kinds", ki), k, kinds, "event kind")
                if name in frame.slots:
                    problems.append(
                        doc.problem(at + ("slots", name), f"{name!r} is both a clause and a slot")
                    )
            used = pattern_slots(frame.pattern)
            declared = {**frame.clauses, **frame.slots}
            for name in dict.fromkeys(used):
                if name not in declared:
                    problems.append(
                        doc.problem(at + ("pattern",), f"slot {{{name}}} is not declared")
                    )
                elif used.count(name) > 1:
                    problems.append(
                        doc.problem(at + ("pattern",), f"slot {{{name}}} is used twice")
                    )
            for name in declared:
                if name not in used:
                    where = "clauses" if name in frame.clauses else "slots"
                    problems.append(
                        doc.problem(
                            at + (where, name), f"{name!r} is declared but not in the pattern"
                        )
                    )
            for name, slot in frame.slots.items():
                for r in frame.registers:
                    slot_list = (
                        slot.list_for(r) if isinstance(slot.from_, str) or r in slot.from_ else None
                    )
                    if slot_list is None:
                        problems.append(
                            doc.problem(at + ("slots", name, "from"), f"no list for register {r}")
                        )
                    elif slot_list not in lists:
                        problems.append(
                            doc.problem(
                                at + ("slots", name, "from"),
                                f"unknown vocabulary list {slot_list!r}",
                            )
                        )
                if slot.entity is not None:
                    known(
                        at + ("slots", name, "entity", "category"),
                        slot.entity.category,
                        categories,
                        "entity category",
                    )
                    known(
                        at + ("slots", name, "entity", "role"),
                        slot.entity.role,
                        roles,
                        "entity role",
                    )
    return problems
