"""Spec kinds `vocabulary` and `templates`: the source of the event/NER training sentences.

A vocabulary file names word lists. An entry is a plain string ("the stone",
"Zoë") or, in a verb list, the forms of one verb (present, past, third). A
templates file holds sentence templates: a pattern with `{slot}` placeholders,
the event kinds it expresses, the registers it is written in, and one
declaration per slot saying which list fills it and whether the filler is an
entity (category + role). Articles belong to the entries and so to the spans.

A template is written once and expands into each of its registers: a slot may
draw from a different list per register (`I` for the player, a name for the
narrator), and a verb slot picks the verb form by register (`present` for the
player, `past` for the narrator, unless the slot overrides it).

Each file checks its own shape here; `check_templates` checks what spans files
(labels, enums, list references) and reports every problem at once.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Sequence, Union, get_args

from pydantic import BeforeValidator, Field, field_validator, model_validator

from codegen.spec.errors import Loc, SpecProblem, one_of
from codegen.spec.models import EnumsFile, SpecModel, TextLabelsFile, _snake, _unique
from codegen.spec.source import SourceDoc
from codegen.spec.specset import Entry, SpecSet

# Register names come from the text_labels spec; what each means for generated
# text (its verb form, whether it speaks in the first person) from the
# register_rules spec. A template's slots may override the verb form.
Register = str

SLOT_RE = re.compile(r"\{([^{}]*)\}")
# Quoted speech, straight or curly: what is said, where "I" is the speaker's pronoun. Patterns,
# generated records and silver-labelled text all read quotes by this one pattern.
QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”")


def pattern_slots(pattern: str) -> list[str]:
    """Slot names in the order they appear (repeats kept)."""
    return SLOT_RE.findall(pattern)


# ---------------------------------------------------------------- registers


class RegisterRule(SpecModel):
    doc: str = ""
    verb_form: VerbForm = Field(
        description="Form a verb slot takes unless the slot says otherwise."
    )
    first_person: Literal["required", "forbidden"] = Field(
        description="required: a first-person word outside quotes (an order is also accepted); "
        "forbidden: none outside quoted speech."
    )


class RegisterRulesFile(SpecModel):
    kind: Literal["register_rules"]
    registers: dict[str, RegisterRule] = Field(min_length=1)
    first_person_words: list[str] = Field(
        min_length=1, description="Words that make a sentence first person."
    )
    self_mention: str | None = Field(
        None,
        description='Vocabulary list of the player\'s own mention ("I"): a CHARACTER mention '
        "outside quoted speech, the speaker's pronoun inside it (evalsets/GUIDELINES.md section "
        "4). Patterns fill it from a slot, never as literal text, and quote clauses leave it "
        "untagged.",
    )

    @field_validator("first_person_words")
    @classmethod
    def _unique_words(cls, v: list[str]) -> list[str]:
        return _unique(v, "word")


# ---------------------------------------------------------------- vocabulary


# Verb forms a slot (or a verb phrase) can ask for. `present` is the first person
# present and the imperative ("pick up"), `base` the bare infinitive after a modal
# ("could not pick up"); they differ only for `be`.
VerbForm = Literal["present", "past", "third", "gerund", "participle", "base"]
VERB_FORMS: tuple[str, ...] = get_args(VerbForm)
# Penn Treebank tag of each form that lemminflect derives from the lemma.
INFLECTION_TAGS = {"past": "VBD", "third": "VBZ", "gerund": "VBG", "participle": "VBN"}


def inflect(lemma: str, form: str) -> str:
    """`form` of a verb lemma; a multi-word lemma ("pick up") inflects its first word only."""
    if form in ("present", "base"):
        return lemma
    # Imported on first use: `storyml gen` never inflects, and lemminflect imports numpy (0.1 s)
    # and, where spaCy is installed, spaCy too (3.4 s) when it is imported.
    from lemminflect import getInflection

    head, _, rest = lemma.partition(" ")
    (inflected, *_) = getInflection(head, INFLECTION_TAGS[form])
    return f"{inflected} {rest}" if rest else inflected


class Verb(SpecModel):
    """A verb by its lemma; each form is inflected from it unless the entry overrides it."""

    lemma: str = Field(min_length=1, description="The base form: 'pick up', 'run a finger along'.")
    present: str | None = Field(None, description="Override: first person present ('am' for 'be').")
    past: str | None = Field(None, description="Override: simple past ('lay' for 'lie').")
    third: str | None = Field(None, description="Override: third person singular present.")
    gerund: str | None = Field(None, description="Override: the -ing form.")
    participle: str | None = Field(
        None, description="Override: past participle ('lain' for 'lie')."
    )

    def form(self, name: str) -> str:
        override = getattr(self, name) if name != "base" else None
        return override if override is not None else inflect(self.lemma, name)


def _bare_lemma(data: object) -> object:
    return {"lemma": data} if isinstance(data, str) else data


# A verb entry: a bare lemma string, or a mapping with overrides.
VerbEntry = Annotated[Verb, BeforeValidator(_bare_lemma, json_schema_input_type=Union[str, Verb])]


class WordList(SpecModel):
    doc: str = ""
    words: list[str] | None = Field(
        None, description="Plain entries, articles included: 'the stone'."
    )
    verbs: list[VerbEntry] | None = Field(
        None,
        description="Verb entries: a lemma, or a lemma with the "
        "forms it does not inflect regularly.",
    )
    fixed_form: bool = Field(
        False,
        description="Verb lists only: the slot's form is used as it is; "
        "verb phrases (negation, perfect, modals) never apply ('was' never "
        "becomes 'did not be').",
    )
    include: list[str] = Field(
        default_factory=list,
        description="Word lists whose entries this "
        "list also offers (after its own), e.g. lexicon lists from "
        "`storyml vocab import`.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> "WordList":
        if (self.words is None) == (self.verbs is None):
            raise ValueError("give exactly one of `words` or `verbs`")
        return self

    @property
    def is_verbs(self) -> bool:
        return self.verbs is not None

    @property
    def entry_ids(self) -> list[str]:
        """One id per own entry: the word itself, or a verb's lemma."""
        return list(self.words) if self.words is not None else [v.lemma for v in self.verbs or []]


class VocabularyFile(SpecModel):
    kind: Literal["vocabulary"]
    name: str
    doc: str = ""
    lists: dict[str, WordList] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _snake(v)


# ---------------------------------------------------------------- templates


class EntitySpec(SpecModel):
    category: str | None = Field(None, description="An entity category of the text_labels spec.")
    role: str | None = Field(None, description="An entity role of the text_labels spec.")


PerRegister = dict[Register, str]


class Slot(SpecModel):
    from_: str | PerRegister = Field(
        alias="from", description="Vocabulary list, or one list per register."
    )
    form: VerbForm | dict[Register, VerbForm] | None = Field(
        None,
        description="Verb form, or one per register (verb lists only; default: "
        "present for player, past for narrator).",
    )
    entity: EntitySpec | None = None

    def list_for(self, register: str) -> str:
        return self.from_ if isinstance(self.from_, str) else self.from_[register]

    def form_for(self, register: str, rules: "RegisterRulesFile") -> str:
        if self.form is None:
            return rules.registers[register].verb_form
        return self.form if isinstance(self.form, str) else self.form[register]


class Template(SpecModel):
    id: str
    doc: str = ""
    event_kinds: list[str] = Field(min_length=1, description="Labels, the primary kind first.")
    action_type: str | None = Field(None, description="An ActionType variant of the enums spec.")
    registers: list[Register] = Field(min_length=1)
    pattern: str | dict[Register, str] = Field(
        description="Text with {slot} placeholders, or one pattern per register."
    )
    slots: dict[str, Slot] = Field(default_factory=dict)

    def pattern_for(self, register: str) -> str:
        return self.pattern if isinstance(self.pattern, str) else self.pattern[register]

    @property
    def patterns(self) -> dict[str, str]:
        """The pattern of each register the template is written in (missing ones left out)."""
        return {
            r: self.pattern_for(r)
            for r in self.registers
            if isinstance(self.pattern, str) or r in self.pattern
        }

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return _snake(v)

    @field_validator("event_kinds", "registers")
    @classmethod
    def _no_repeats(cls, v: list[str]) -> list[str]:
        repeated = sorted({x for x in v if v.count(x) > 1})
        if repeated:
            raise ValueError(f"listed twice: {', '.join(repeated)}")
        return v


class TemplatesFile(SpecModel):
    kind: Literal["templates"]
    name: str
    doc: str = ""
    templates: list[Template] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _snake(v)


# ---------------------------------------------------------------- cross-file checks


# Every word list by name, with the entry of the vocabulary file that defines it.
VocabularyLists = dict[str, tuple[Entry[VocabularyFile], WordList]]


def vocabulary_lists(specs: SpecSet) -> VocabularyLists:
    """Every list by name, with the entry of the file that defines it (first one wins)."""
    out: VocabularyLists = {}
    for entry in specs.of_kind(VocabularyFile):
        for name, wl in entry.model.lists.items():
            out.setdefault(name, (entry, wl))
    return out


def resolved_entries(name: str, lists: VocabularyLists) -> list[tuple[str, str | Verb]]:
    """(defining list, entry) for every entry a list offers: its own, then its includes' in order.

    An entry reached twice (through two includes) is offered once, from the first list that has it.
    Assumes the checker has passed (includes exist and form no cycle).
    """
    out: dict[str, tuple[str, str | Verb]] = {}
    wl = lists[name][1]
    own: Sequence[str | Verb] = wl.words if wl.words is not None else wl.verbs or []
    for entry_id, entry in zip(wl.entry_ids, own):
        out.setdefault(entry_id, (name, entry))
    for included in wl.include:
        for source, entry in resolved_entries(included, lists):
            out.setdefault(entry if isinstance(entry, str) else entry.lemma, (source, entry))
    return list(out.values())


def _check_includes(specs: SpecSet) -> list[SpecProblem]:
    """Included lists exist, hold the same kind of entry, and never include themselves."""
    lists = vocabulary_lists(specs)
    problems: list[SpecProblem] = []
    for entry in specs.of_kind(VocabularyFile):
        for name, wl in entry.model.lists.items():
            for i, included in enumerate(wl.include):
                loc = ("lists", name, "include", i)
                if included not in lists:
                    problems.append(entry.doc.problem(loc, f"unknown vocabulary list {included!r}"))
                elif lists[included][1].is_verbs != wl.is_verbs:
                    problems.append(
                        entry.doc.problem(
                            loc,
                            f"{included!r} holds "
                            f"{'verbs' if not wl.is_verbs else 'words'}; "
                            f"{name!r} holds the other kind",
                        )
                    )
                elif name in _reachable(included, lists):
                    problems.append(
                        entry.doc.problem(
                            loc, f"including {included!r} makes {name!r} include itself"
                        )
                    )
    return problems


def _reachable(name: str, lists: VocabularyLists) -> set[str]:
    seen: set[str] = set()
    stack = [name]
    while stack:
        current = stack.pop()
        if current in seen or current not in lists:
            continue
        seen.add(current)
        stack += lists[current][1].include
    return seen


def entity_categories_of_lists(specs: SpecSet) -> dict[str, set[str]]:
    """The entity categories each word list is drawn under (through includes too)."""
    lists = vocabulary_lists(specs)
    drawn: dict[str, set[str]] = {}
    for entry in specs.of_kind(TemplatesFile):
        for t in entry.model.templates:
            for slot in t.slots.values():
                if slot.entity is None or slot.entity.category is None:
                    continue
                names = [slot.from_] if isinstance(slot.from_, str) else list(slot.from_.values())
                for name in names:
                    for reached in _reachable(name, lists):
                        drawn.setdefault(reached, set()).add(slot.entity.category)
    return drawn


def _check_one_category_per_word(specs: SpecSet) -> list[SpecProblem]:
    """A word sits in the lists of one entity category only: two would give one mention two labels
    and let the held-out-vocabulary split see the same word on both sides."""
    categories = entity_categories_of_lists(specs)
    first_seen: dict[str, tuple[str, str]] = {}  # word -> (list, category)
    problems: list[SpecProblem] = []
    for entry in specs.of_kind(VocabularyFile):
        for name, wl in entry.model.lists.items():
            cats = categories.get(name, set())
            if len(cats) > 1:
                problems.append(
                    entry.doc.problem(
                        ("lists", name),
                        f"entity slots draw this list as "
                        f"{' and '.join(sorted(cats))}: one category per list",
                    )
                )
            if wl.words is None or len(cats) != 1:
                continue
            (category,) = cats
            for i, word in enumerate(wl.words):
                other = first_seen.setdefault(word, (name, category))
                if other[1] != category:
                    problems.append(
                        entry.doc.problem(
                            ("lists", name, "words", i),
                            f"{word!r} is a {category} here but a {other[1]} in list {other[0]!r}: "
                            "a word may sit in the lists of one entity category only",
                        )
                    )
    return problems


def _check_vocabulary(specs: SpecSet) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    defined: dict[str, str] = {}
    for entry in specs.of_kind(VocabularyFile):
        doc = entry.doc
        for name, wl in entry.model.lists.items():
            loc = ("lists", name)
            if why := _snake_problem(name):
                problems.append(doc.problem(loc, why))
            if name in defined:
                problems.append(
                    doc.problem(loc, f"list {name!r} is also defined in {defined[name]}")
                )
            defined.setdefault(name, doc.name)
            field = "verbs" if wl.is_verbs else "words"
            ids = wl.entry_ids
            if not ids:
                problems.append(doc.problem(loc + (field,), "empty list: give at least one entry"))
            seen: dict[str, int] = {}
            for i, word in enumerate(ids):
                if not word.strip() or word != word.strip() or "  " in word:
                    problems.append(
                        doc.problem(loc + (field, i), f"entry {word!r} has stray whitespace")
                    )
                if "{" in word or "}" in word:
                    problems.append(
                        doc.problem(loc + (field, i), f"entry {word!r} contains a brace")
                    )
                if word in seen:
                    problems.append(
                        doc.problem(
                            loc + (field, i),
                            f"duplicate entry {word!r} (first at index {seen[word]})",
                        )
                    )
                seen.setdefault(word, i)
    return problems


def _snake_problem(name: str) -> str | None:
    try:
        _snake(name)
    except ValueError as exc:
        return str(exc)
    return None


def _check_templates(specs: SpecSet) -> list[SpecProblem]:
    labels = specs.one(TextLabelsFile)
    kinds = list(labels.event_kinds.labels)
    registers = list(labels.registers)
    categories = list(labels.entity_categories.categories)
    roles = list(labels.entity_roles)
    action_types = (
        list(specs.one(EnumsFile).enums["ActionType"].variants)
        if "ActionType" in specs.one(EnumsFile).enums
        else []
    )
    lists = vocabulary_lists(specs)
    self_list = self_mention_list(specs)
    self_words = self_mention_words(specs, lists)
    problems: list[SpecProblem] = []
    seen_ids: dict[str, str] = {}
    for entry in specs.of_kind(TemplatesFile):
        doc = entry.doc
        for ti, t in enumerate(entry.model.templates):
            at = ("templates", ti)
            if t.id in seen_ids:
                problems.append(
                    doc.problem(
                        at + ("id",), f"duplicate template id {t.id!r} (first in {seen_ids[t.id]})"
                    )
                )
            seen_ids.setdefault(t.id, doc.name)
            for ki, k in enumerate(t.event_kinds):
                if k not in kinds:
                    problems.append(
                        doc.problem(
                            at + ("event_kinds", ki), f"unknown event kind {k!r} {one_of(k, kinds)}"
                        )
                    )
            if t.action_type is not None and t.action_type not in action_types:
                problems.append(
                    doc.problem(
                        at + ("action_type",),
                        f"unknown action type {t.action_type!r} "
                        f"{one_of(t.action_type, action_types)}",
                    )
                )
            for ri, r in enumerate(t.registers):
                if r not in registers:
                    problems.append(
                        doc.problem(
                            at + ("registers", ri), f"unknown register {r!r} {one_of(r, registers)}"
                        )
                    )
            used: list[str] = []
            if isinstance(t.pattern, dict):
                for r in t.registers:
                    if r not in t.pattern:
                        problems.append(
                            doc.problem(at + ("pattern",), f"no pattern for register {r}")
                        )
                for r in t.pattern:
                    if r not in t.registers:
                        problems.append(
                            doc.problem(at + ("pattern", r), f"register {r} is not in `registers`")
                        )
            for r, pattern in t.patterns.items():
                ploc = at + ("pattern",) if isinstance(t.pattern, str) else at + ("pattern", r)
                if not pattern.strip():
                    problems.append(doc.problem(ploc, "empty pattern"))
                for word in _literal_self_mentions(pattern, self_words):
                    problems.append(
                        doc.problem(
                            ploc,
                            f"{word!r} written as text is a mention left untagged: fill it from "
                            f"a slot on list {self_list!r} (register_rules `self_mention`) with "
                            "an entity category and role",
                        )
                    )
                names = pattern_slots(pattern)
                used += names
                for name in dict.fromkeys(names):
                    if name not in t.slots:
                        problems.append(
                            doc.problem(ploc, f"slot {{{name}}} is not declared in `slots`")
                        )
            for name, slot in t.slots.items():
                problems += _check_slot(
                    doc, at + ("slots", name), name, slot, t, used, lists, categories, roles
                )
    return problems


def self_mention_list(specs: SpecSet) -> str | None:
    """The register rules' `self_mention` list, when there is exactly one rules file."""
    entries = specs.of_kind(RegisterRulesFile)
    return entries[0].model.self_mention if len(entries) == 1 else None


def self_mention_words(specs: SpecSet, lists: VocabularyLists | None = None) -> frozenset[str]:
    """The words of the `self_mention` list ("I"); empty when none is declared or it is unknown.

    `lists` is `vocabulary_lists(specs)` when the caller has it already."""
    name = self_mention_list(specs)
    if name is None:
        return frozenset()
    lists = vocabulary_lists(specs) if lists is None else lists
    # The lists it reaches, not resolved_entries: this runs before the include checks have
    # passed, so an include may be unknown or circular.
    return frozenset(w for n in _reachable(name, lists) for w in lists[n][1].words or [])


def whole_words(words: frozenset[str]) -> re.Pattern[str] | None:
    """A pattern matching any of `words` as a whole word; None for no words."""
    if not words:
        return None
    return re.compile("|".join(rf"(?<!\w){re.escape(w)}(?!\w)" for w in sorted(words)))


def _literal_self_mentions(pattern: str, words: frozenset[str]) -> list[str]:
    """Self-mention words written as text in a pattern, outside slots and quoted speech."""
    found = whole_words(words)
    text = QUOTED.sub(" ", SLOT_RE.sub(" ", pattern))
    return sorted({m.group(0) for m in found.finditer(text)}) if found else []


def _check_slot(
    doc: SourceDoc,
    loc: Loc,
    name: str,
    slot: Slot,
    t: Template,
    used: list[str],
    lists: VocabularyLists,
    categories: list[str],
    roles: list[str],
) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    if name not in used:
        problems.append(doc.problem(loc, f"slot {name!r} is declared but not used in the pattern"))
    if isinstance(slot.from_, dict):
        missing = [r for r in t.registers if r not in slot.from_]
        if missing:
            problems.append(
                doc.problem(loc + ("from",), f"no list for register(s) {', '.join(missing)}")
            )
    for register in t.registers:
        list_name = slot.from_ if isinstance(slot.from_, str) else slot.from_.get(register)
        if list_name is None:
            continue
        where = loc + ("from",) if isinstance(slot.from_, str) else loc + ("from", register)
        if list_name not in lists:
            problems.append(doc.problem(where, f"unknown vocabulary list {list_name!r}"))
            continue
        is_verbs = lists[list_name][1].is_verbs
        if slot.form is not None and not is_verbs:
            problems.append(
                doc.problem(
                    loc + ("form",), f"`form` is for verb lists; {list_name!r} is a word list"
                )
            )
        if isinstance(slot.form, dict) and register not in slot.form:
            problems.append(doc.problem(loc + ("form",), f"no verb form for register {register}"))
    if slot.entity is not None:
        e = slot.entity
        if e.category is None:
            problems.append(
                doc.problem(
                    loc + ("entity",),
                    f"an entity slot must name its category (one of: {', '.join(categories)})",
                )
            )
        elif e.category not in categories:
            problems.append(
                doc.problem(
                    loc + ("entity", "category"),
                    f"unknown entity category {e.category!r} {one_of(e.category, categories)}",
                )
            )
        if e.role is None:
            problems.append(
                doc.problem(
                    loc + ("entity",),
                    f"an entity slot must name its role (one of: {', '.join(roles)})",
                )
            )
        elif e.role not in roles:
            problems.append(
                doc.problem(
                    loc + ("entity", "role"),
                    f"unknown entity role {e.role!r} {one_of(e.role, roles)}",
                )
            )
    return problems


def _check_register_rules(specs: SpecSet) -> list[SpecProblem]:
    """Exactly one rules file when there are templates, with a rule for every register and no other."""
    entries = specs.of_kind(RegisterRulesFile)
    if len(entries) != 1:
        where = ", ".join(e.doc.name for e in entries) or "none found"
        return [
            SpecProblem(
                str(specs.root),
                1,
                "kind",
                f"templates need exactly one `kind: register_rules` file ({where})",
            )
        ]
    entry = entries[0]
    registers = list(specs.one(TextLabelsFile).registers)
    problems = [
        entry.doc.problem(
            ("registers", r),
            f"not a register of the text_labels spec (one of: {', '.join(registers)})",
        )
        for r in entry.model.registers
        if r not in registers
    ]
    problems += [
        entry.doc.problem(("registers",), f"no rule for register {r!r}")
        for r in registers
        if r not in entry.model.registers
    ]
    lists = vocabulary_lists(specs)
    name = entry.model.self_mention
    if name is not None and name not in lists:
        problems.append(
            entry.doc.problem(
                ("self_mention",), f"unknown vocabulary list {name!r} {one_of(name, list(lists))}"
            )
        )
    return problems


def check_templates(specs: SpecSet) -> list[SpecProblem]:
    """Cross-file rules of the vocabulary, templates and register_rules kinds."""
    if not specs.of_kind(TemplatesFile) and not specs.of_kind(VocabularyFile):
        return []
    return (
        _check_vocabulary(specs)
        + _check_includes(specs)
        + _check_templates(specs)
        + _check_register_rules(specs)
        + _check_one_category_per_word(specs)
    )
