"""Spec model of `kind: corpus`: unlabelled real text and the rules that silver-label it.

Opt-in (issue 8, item 5): only `storyml data silver` and a build profile that asks for silver
records read it, and only those need spaCy (`pip install -e '.[silver]'`). The labelling
functions are data: which spaCy NER labels give which entity category, which noun-chunk head
words give which category (the vocabulary lists drawn under that category, plus extra heads
declared here), which tokens are confidently outside every entity, and which event kinds a
rule can assign. Every function carries a confidence (its exact-span precision measured on
evalsets/dev_prose.jsonl); a category keeps the spans whose confidence reaches its threshold.

Cross-file rules (categories and event kinds exist in the text labels spec; the corpus file
exists beside the spec with the declared sha256) are in `check_corpus`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from codegen.spec.errors import SpecProblem, one_of
from codegen.spec.models import SpecModel, TextLabelsFile
from codegen.spec.specset import Entry, SpecSet

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Confidence = Annotated[float, Field(ge=0.0, le=1.0)]
Category = Annotated[str, Field(pattern=r"^[A-Z][A-Z_]*$")]


class CorpusSource(SpecModel):
    """The committed sentence file and where it came from."""

    file: str = Field(
        description="`id<TAB>text` lines (`#` lines are comments), relative to this spec file."
    )
    sha256: Sha256 = Field(description="Of the committed file; `storyml check` compares.")
    package: str = Field(min_length=1, description="The package the sentences were extracted from.")
    version: str = Field(min_length=1)
    registry: Literal["npm", "pypi"]
    package_sha256: Sha256 = Field(description="Of the downloaded package archive.")
    licence: str = Field(min_length=1, description="The licence or permission the source states.")
    extractor: str = Field(
        min_length=1, description="The command that rewrites `file` from the package."
    )


class Pipeline(SpecModel):
    """The spaCy pipeline the labelling functions read (parser, tagger, NER)."""

    module: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Import name of the model package."
    )
    pip: str = Field(min_length=1, description="Pinned requirement of the model package.")
    extra: str = Field(
        pattern=r"^[a-z][a-z0-9_-]*$", description="The pyproject extra that installs it."
    )


class NerRule(SpecModel):
    """A spaCy NER label: an entity category (with a confidence), or a confident non-entity."""

    category: Category | None = Field(
        description="null: the label's tokens are confidently outside (O)."
    )
    confidence: Confidence = 1.0
    single_proper_noun: Category | None = Field(
        None,
        description="Category instead, when the entity is one proper-noun token that heads a noun "
        "chunk (the small model calls unfamiliar names NORP or ORG).",
    )


class ChunkRules(SpecModel):
    """Noun chunks whose head lemma is a known word of a category."""

    vocabulary: bool = Field(
        description="Head words of every vocabulary list drawn under a category."
    )
    heads: dict[Category, list[str]] = Field(
        default_factory=dict, description="More head lemmas per category."
    )
    drop_heads: list[str] = Field(
        default_factory=list,
        description="Head words never labelled (body parts "
        "that are GESTURE only after a gesture verb).",
    )
    place_prepositions: list[str] = Field(
        default_factory=list, description="A proper-noun chunk these govern is a place (`in Oulu`)."
    )
    place_category: Category | None = None
    confidence: dict[Category, Confidence] = Field(
        description="Per category: the exact-span precision."
    )
    plural_people: Category | None = Field(
        description="Category of a plural CHARACTER head (COLLECTIVE)."
    )
    skip_dependencies: list[str] = Field(
        default_factory=list,
        description="spaCy dependency labels of chunk roots never tagged "
        "(predicates: `attr`; time phrases: `npadvmod`).",
    )
    skip_determiners: list[str] = Field(
        default_factory=list, description="Chunks opening with these are not tagged (`no`)."
    )
    keep_of_phrase: list[Category] = Field(
        default_factory=list,
        description="Heads of these categories keep an `of` phrase (`the smell of tar`).",
    )
    possessive_names_split: bool = Field(
        description="`Søren's hands`: the name is its own span, the rest only if its head is known."
    )


class FirstPerson(SpecModel):
    """The word `I` outside quotation marks (the player's or a first-person narrator's)."""

    category: Category
    confidence: Confidence


class Outside(SpecModel):
    """Tokens confidently outside every entity: labelled O; all other unlabelled tokens are ignored."""

    enabled: bool
    pos: list[str] = Field(
        default_factory=list,
        description="spaCy coarse POS tags (VERB, ADV, PUNCT...) "
        "of tokens outside every noun chunk.",
    )
    pronouns: bool = Field(description="Pronoun chunks (he, them, someone...), never entities.")


class CategorySetting(SpecModel):
    enabled: bool
    min_confidence: Confidence = Field(
        description="Spans of lower confidence are dropped (their tokens "
        "then train at the ignore index)."
    )


class EventRule(SpecModel):
    """An event kind a rule assigns reliably. Silver records carry only these kinds, so the event
    classifier never trains on them unless every kind of the sentence is decided."""

    rule: Literal["quoted_speech"]
    kind: str = Field(min_length=1)
    enabled: bool
    doc: str = ""


class LabelledRecords(SpecModel):
    """Silver records of the corpus, committed like generated code so that builds need no spaCy."""

    file: str = Field(
        min_length=1,
        description="JSONL written by `storyml data silver --limit N --out FILE` "
        "(its manifest beside it), relative to this spec file.",
    )
    sentences: int = Field(ge=1, description="N: the records label the corpus's first N sentences.")


class CorpusFile(SpecModel):
    kind: Literal["corpus"]
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    doc: str = ""
    source: CorpusSource
    pipeline: Pipeline
    sentence_register: str = Field(min_length=1, description="Register of the silver records.")
    ner: dict[str, NerRule] = Field(
        description="spaCy NER label -> category (labels not listed are ignored)."
    )
    noun_chunks: ChunkRules
    first_person: FirstPerson | None = None
    outside: Outside
    categories: dict[Category, CategorySetting]
    events: list[EventRule] = Field(default_factory=list)
    min_spans: int = Field(1, ge=0, description="Sentences with fewer silver spans are left out.")
    labelled: LabelledRecords | None = Field(
        None,
        description="The committed silver records a build reads instead of labelling the corpus "
        "itself; a build refuses them when the labelling rules have changed since.",
    )

    @model_validator(mode="after")
    def _categories_listed(self) -> CorpusFile:
        used = {r.category for r in self.ner.values() if r.category} | set(self.noun_chunks.heads)
        used |= set(self.noun_chunks.confidence)
        missing = sorted(used - set(self.categories))
        if missing:
            raise ValueError(
                f"categories {missing} are labelled but have no entry under `categories`"
            )
        return self


def check_corpus(specs: SpecSet) -> list[SpecProblem]:
    """Categories and event kinds exist in the text labels; the corpus file is there, unchanged."""
    problems: list[SpecProblem] = []
    labels = specs.of_kind(TextLabelsFile)
    for entry in specs.of_kind(CorpusFile):
        spec = entry.model
        if labels:
            text = labels[0].model
            categories, kinds = set(text.entity_categories.categories), set(text.event_kinds.labels)
            registers = set(text.registers)
            for name in spec.categories:
                if name not in categories:
                    problems.append(
                        entry.doc.problem(
                            ("categories", name),
                            f"not an entity category (one of: {', '.join(sorted(categories))})",
                        )
                    )
            for i, rule in enumerate(spec.events):
                if rule.kind not in kinds:
                    problems.append(
                        entry.doc.problem(
                            ("events", i, "kind"),
                            f"{rule.kind!r} is not an "
                            f"event kind {one_of(rule.kind, sorted(kinds))}",
                        )
                    )
            if spec.sentence_register not in registers:
                problems.append(
                    entry.doc.problem(
                        ("sentence_register",),
                        f"{spec.sentence_register!r} is not a register "
                        f"{one_of(spec.sentence_register, sorted(registers))}",
                    )
                )
        path = corpus_path(entry)
        if not path.is_file():
            problems.append(entry.doc.problem(("source", "file"), f"{path} does not exist"))
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != spec.source.sha256:
            problems.append(
                entry.doc.problem(
                    ("source", "sha256"),
                    f"{path} has sha256 {digest}; rerun "
                    f"`{spec.source.extractor}` or update the sha256",
                )
            )
    return problems


def labelled_path(entry: Entry[CorpusFile]) -> Path | None:
    """The committed silver records of a loaded corpus spec entry, if it declares them."""
    labelled = entry.model.labelled
    return Path(entry.doc.path).parent / labelled.file if labelled is not None else None


def labelled_manifest_path(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".jsonl") + ".manifest.json")


def corpus_path(entry: Entry[CorpusFile]) -> Path:
    """The sentence file of a loaded corpus spec entry (relative to the spec file)."""
    return Path(entry.doc.path).parent / entry.model.source.file
