"""Spec model of `kind: annotated_prose`: real sentences written and annotated by hand, for training.

Templates teach the models the shapes a template writer thought of; written prose teaches them
English as it is written (issue 8). A user who finds a kind of sentence the models get wrong
can write a few like it here, annotated by evalsets/GUIDELINES.md, and the build trains on them
(build profile `prose`); `train_event_kinds: false` keeps a file's sentences from the event
classifier, so only the NER tagger learns from them. Each sentence carries its entity mentions
inline:

    - text: "[Folasade|CHARACTER] slipped out through [the kitchen door|OBJECT]."
      kinds: [SpatialChange]
      register: narrator

`[`, `]` and `|` are markup: a sentence cannot hold them otherwise. Offsets come from the markup,
so they are exact by construction.

Cross-file rules (`check_prose`): categories, kinds and registers exist in the text labels; no
sentence appears twice; and no sentence shares a run of OVERLAP_WORDS words with a sentence of
an evaluation set (training prose must be written apart from the sets that measure it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Literal

from pydantic import Field, field_validator

from codegen.spec.coverage import CHECKOUT, read_evalset
from codegen.spec.errors import SpecProblem, one_of
from codegen.spec.models import SpecModel, TextLabelsFile, unique
from codegen.spec.specset import SpecSet
from codegen.spec.training import TextTrainingFile

MARKUP = "[]|"
MENTION = re.compile(r"\[([^\[\]|]*)\|([^\[\]|]*)\]")
OVERLAP_WORDS = 8  # a shared run this long means a sentence was copied or paraphrased closely


@dataclass(frozen=True)
class Mention:
    """text[start:end] of the plain sentence is an entity of `category`."""

    start: int
    end: int
    category: str


def parse_marked(marked: str) -> tuple[str, list[Mention]]:
    """The plain sentence and its mentions; ValueError naming what is wrong and where."""
    plain: list[str] = []
    mentions: list[Mention] = []
    cursor = length = 0
    for match in MENTION.finditer(marked):
        plain.append(marked[cursor : match.start()])
        length += match.start() - cursor
        words, category = match.group(1), match.group(2)
        where = f"mention {len(mentions) + 1} ({match.group(0)!r})"
        if not words.strip():
            raise ValueError(f"{where} has no words")
        if words != words.strip():
            raise ValueError(f"{where} starts or ends with a space")
        if not re.fullmatch(r"[A-Z][A-Z_]*", category):
            raise ValueError(f"{where}: {category!r} is not a category name (like CHARACTER)")
        mentions.append(Mention(length, length + len(words), category))
        plain.append(words)
        length += len(words)
        cursor = match.end()
    plain.append(marked[cursor:])
    text = "".join(plain)
    inside = {i for m in MENTION.finditer(marked) for i in range(m.start(), m.end())}
    position = next((i for i, c in enumerate(marked) if c in MARKUP and i not in inside), None)
    if position is not None:
        raise ValueError(
            f"a {marked[position]!r} at character {position + 1} is not part of a "
            "[words|CATEGORY] mention (the sentence cannot hold [ ] | otherwise; mentions "
            "cannot nest)"
        )
    if not text.strip() or text != text.strip():
        raise ValueError("the sentence is empty or starts or ends with a space")
    return text, mentions


class ProseSentence(SpecModel):
    text: str = Field(
        description="The sentence, each entity mention written [words|CATEGORY] "
        "(evalsets/GUIDELINES.md sections 4-5)."
    )
    kinds: Annotated[
        list[str],
        Field(
            min_length=1,
            description="Event kinds the sentence reports, the primary first (GUIDELINES section 2).",
        ),
        unique("event kind"),
    ]
    # `register` in YAML; the attribute is renamed because pydantic models (ABCs) have a
    # `register` method.
    voice: str = Field(alias="register", description="player or narrator (GUIDELINES section 1).")

    @field_validator("text")
    @classmethod
    def _markup(cls, v: str) -> str:
        parse_marked(v)
        return v

    @cached_property
    def parsed(self) -> tuple[str, list[Mention]]:
        """The plain sentence and its mentions (parsed once; the text validated already)."""
        return parse_marked(self.text)


class AnnotatedProseFile(SpecModel):
    kind: Literal["annotated_prose"]
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    doc: str = ""
    train_event_kinds: bool = Field(
        True,
        description="false: the event classifier does not train on this file's sentences; the "
        "NER tagger still does. For sentences whose mentions help the tagger but whose kinds "
        "were measured to hurt the classifier on the dev set (the kinds stay annotated).",
    )
    sentences: list[ProseSentence] = Field(min_length=1)


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def word_runs(text: str, n: int = OVERLAP_WORDS) -> Iterator[tuple[str, ...]]:
    tokens = words(text)
    return (tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _label_problems(specs: SpecSet) -> list[SpecProblem]:
    labels = specs.of_kind(TextLabelsFile)
    if not labels:
        return []
    text = labels[0].model
    kinds, categories = text.event_kinds.labels, text.entity_categories.categories
    registers = list(text.registers)
    problems: list[SpecProblem] = []
    for entry in specs.of_kind(AnnotatedProseFile):
        for i, sentence in enumerate(entry.model.sentences):
            at = ("sentences", i)
            for kind in sentence.kinds:
                if kind not in kinds:
                    problems.append(
                        entry.doc.problem(
                            at + ("kinds",), f"{kind!r} is not an event kind {one_of(kind, kinds)}"
                        )
                    )
            if sentence.voice not in registers:
                problems.append(
                    entry.doc.problem(
                        at + ("register",),
                        f"{sentence.voice!r} is not a register {one_of(sentence.voice, registers)}",
                    )
                )
            for mention in sentence.parsed[1]:
                if mention.category not in categories:
                    problems.append(
                        entry.doc.problem(
                            at + ("text",),
                            f"{mention.category!r} is not an entity category "
                            f"{one_of(mention.category, categories)}",
                        )
                    )
    return problems


def _evaluation_runs(specs: SpecSet) -> dict[tuple[str, ...], str]:
    """Every OVERLAP_WORDS-word run of the evaluation sets -> the set file and record id."""
    runs: dict[tuple[str, ...], str] = {}
    for training in specs.of_kind(TextTrainingFile):
        for rule in training.model.coverage.evalsets:
            records, _ = read_evalset(CHECKOUT / rule.file)  # coverage reports unreadable sets
            for n, record in enumerate(records, 1):
                text = record.get("text")
                if isinstance(text, str):
                    for run in word_runs(text):
                        runs.setdefault(run, f"{rule.file} ({record.get('id', f'record {n}')})")
    return runs


def _overlap_problems(specs: SpecSet) -> list[SpecProblem]:
    evaluation = _evaluation_runs(specs)
    seen: dict[str, str] = {}
    names: dict[str, str] = {}
    problems: list[SpecProblem] = []
    for entry in specs.of_kind(AnnotatedProseFile):
        if entry.model.name in names:
            problems.append(
                entry.doc.problem(
                    ("name",), f"{entry.model.name!r} is also the name of {names[entry.model.name]}"
                )
            )
        names.setdefault(entry.model.name, entry.doc.name)
        for i, sentence in enumerate(entry.model.sentences):
            text = sentence.parsed[0]
            key = " ".join(words(text))
            if key in seen:
                problems.append(
                    entry.doc.problem(("sentences", i, "text"), f"the same sentence as {seen[key]}")
                )
            seen.setdefault(key, f"{entry.doc.name} sentence {i + 1}")
            shared = next((run for run in word_runs(text) if run in evaluation), None)
            if shared is not None:
                problems.append(
                    entry.doc.problem(
                        ("sentences", i, "text"),
                        f"shares {' '.join(shared)!r} with {evaluation[shared]}: training prose "
                        f"must not repeat {OVERLAP_WORDS} words in a row of an evaluation sentence",
                    )
                )
    return problems


def check_prose(specs: SpecSet) -> list[SpecProblem]:
    """Labels exist; each sentence is written once and apart from the evaluation sets."""
    return _label_problems(specs) + _overlap_problems(specs)
