"""The labelling functions of a `kind: corpus` spec, on a parsed sentence (no spaCy here).

`label_sentence(parsed, rules)` turns one parsed sentence (tokens with character offsets,
lemma, POS, tag, dependency, head; noun chunks; NER entities) into silver entity spans and
the character ranges confidently outside every entity. spaCy only fills `Parsed`
(storyml/silver/label.py), so the rules are testable on hand-made token data.

Rules, in order (declared in the spec, see specs/text/corpus.yaml):
- A pronoun chunk is never an entity (its tokens are confidently O), except `I` outside
  quotation marks when `first_person` is set (GUIDELINES 4).
- Chunks rooted in a skipped dependency (predicates, time phrases) or opened by a skipped
  determiner (`no`) get no label and no O: their tokens train at the ignore index.
- A possessive proper name (`Søren's hands`) is its own CHARACTER span when the spec splits
  possessive names; the rest of the chunk is labelled like a chunk of its own.
- A proper-noun chunk governed by a place preposition (`in`, `from`, ...) is a place.
- A chunk whose root lies in an NER entity takes that NER rule's category (the chunk's
  extent: "Father Anselm", "the Ōkami Pass"); a rule without a category makes it O.
- Otherwise the root's lemma (or lower-cased form) is looked up in the head words of the
  categories; a plural person head becomes `plural_people` (COLLECTIVE).
- A SENSORY/ABSTRACT head keeps a following `of` phrase ("the smell of tar").
- NER entities outside every chunk are labelled by their NER rule.
- A span is kept when its category is enabled and its confidence reaches the category's
  threshold. Tokens outside every chunk and span whose POS is listed under `outside` are O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from codegen.spec.templates import QUOTED

PERSON_TAGS = ("NNS", "NNPS")  # plural noun tags


@dataclass(frozen=True)
class Token:
    text: str
    start: int  # character offset in the sentence
    lemma: str
    pos: str  # coarse universal POS (NOUN, PROPN, PRON, VERB...)
    tag: str  # fine Penn tag (NN, NNS, PRP, POS...)
    dep: str
    head: int  # index of the syntactic head (itself for the root)

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    @property
    def lower_text(self) -> str:
        return self.text.lower()


@dataclass(frozen=True)
class Parsed:
    text: str
    tokens: tuple[Token, ...]
    chunks: tuple[tuple[int, int, int], ...]  # (first token, end token exclusive, root token)
    ents: tuple[tuple[int, int, str], ...]  # (first token, end token exclusive, NER label)


@dataclass(frozen=True)
class Rules:
    """The spec's labelling functions, resolved (head words merged from the vocabulary)."""

    ner: Mapping[
        str, tuple[str | None, float, str | None]
    ]  # label -> (category, confidence, single PROPN)
    heads: Mapping[str, str]  # head word -> category
    chunk_confidence: Mapping[str, float]
    plural_people: str | None
    skip_dependencies: frozenset[str]
    skip_determiners: frozenset[str]
    keep_of_phrase: frozenset[str]
    possessive_names_split: bool
    place_prepositions: frozenset[str]
    place_category: str | None
    first_person: tuple[str, float] | None
    outside_enabled: bool
    outside_pos: frozenset[str]
    outside_pronouns: bool
    thresholds: Mapping[str, float]  # enabled categories -> minimum confidence


@dataclass
class Labelled:
    spans: list[tuple[int, int, str, float, int]] = field(
        default_factory=list
    )  # start, end, cat, conf, root
    outside: list[tuple[int, int]] = field(default_factory=list)  # merged character ranges


def quoted_ranges(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in QUOTED.finditer(text)]


def _inside(position: int, ranges: Sequence[tuple[int, int]]) -> bool:
    return any(a <= position < b for a, b in ranges)


def label_sentence(parsed: Parsed, rules: Rules) -> Labelled:
    tokens = parsed.tokens
    quotes = quoted_ranges(parsed.text)
    ent_of = {}  # token index -> (first, end, label)
    for first, end, label in parsed.ents:
        for t in range(first, end):
            ent_of[t] = (first, end, label)
    candidates: list[
        tuple[int, int, str, float, int]
    ] = []  # token first, token end, cat, conf, root
    outside_tokens: set[int] = set()
    in_chunk: set[int] = set()
    consumed: set[int] = set()  # chunks swallowed by an `of` phrase
    chunks = sorted(parsed.chunks)
    for ci, (first, end, root) in enumerate(chunks):
        in_chunk.update(range(first, end))
        if ci in consumed:
            continue
        root_tok = tokens[root]
        if root_tok.pos == "PRON":
            if root_tok.text == "I" and rules.first_person and not _inside(root_tok.start, quotes):
                candidates.append((root, root + 1, *rules.first_person, root))
            elif rules.outside_pronouns:
                outside_tokens.update(range(first, end))
            continue
        if root_tok.dep in rules.skip_dependencies:
            continue
        if tokens[first].text.lower() in rules.skip_determiners:
            continue
        if rules.possessive_names_split:
            split = _possessive_name(tokens, first, end, root, ent_of, rules)
            if split is not None:
                name_end, name_category, name_confidence = split
                candidates.append((first, name_end, name_category, name_confidence, name_end - 1))
                first = name_end + 1  # past the 's
                if first >= end:
                    continue
        found = _chunk_category(tokens, first, end, root, ent_of, rules)
        if found is None:
            continue
        category, confidence = found
        if category is None:
            outside_tokens.update(range(first, end))
            continue
        if category in rules.keep_of_phrase and ci + 1 < len(chunks):
            nxt = chunks[ci + 1]
            if end < len(tokens) and tokens[end].lower_text == "of" and nxt[0] == end + 1:
                end = nxt[1]
                consumed.add(ci + 1)
        candidates.append((first, end, category, confidence, root))
    # NER entities outside every chunk.
    for first, end, label in parsed.ents:
        if any(t in in_chunk for t in range(first, end)) or label not in rules.ner:
            continue
        category, confidence, _ = rules.ner[label]
        if category is None:
            outside_tokens.update(range(first, end))
        else:
            candidates.append((first, end, category, confidence, end - 1))
    result = Labelled()
    taken: set[int] = set()
    for first, end, category, confidence, root in sorted(candidates):
        if category not in rules.thresholds or confidence < rules.thresholds[category]:
            continue
        first, end = _trim(tokens, first, end)
        if first >= end or any(t in taken for t in range(first, end)):
            continue
        if any(c in tokens[t].text for t in range(first, end) for c in '"“”'):
            continue  # a quotation mark inside: the chunk crosses a quotation's edge
        taken.update(range(first, end))
        result.spans.append((tokens[first].start, tokens[end - 1].end, category, confidence, root))
    if rules.outside_enabled:
        for i, tok in enumerate(tokens):
            if i not in in_chunk and i not in ent_of and tok.pos in rules.outside_pos:
                outside_tokens.add(i)
        result.outside = _ranges(tokens, sorted(outside_tokens - taken))
    return result


def _possessive_name(tokens, first, end, root, ent_of, rules) -> tuple[int, str, float] | None:
    """(end token of the name, category, confidence) when the chunk opens with `Name 's`."""
    for i in range(first, end - 1):
        if tokens[i + 1].tag == "POS":
            name = range(first, i + 1)
            if i + 1 == root or not all(tokens[t].pos == "PROPN" for t in name):
                return None
            label = ent_of.get(i, (0, 0, "PERSON"))[2]
            category, confidence, single = rules.ner.get(
                label, rules.ner.get("PERSON", (None, 0.0, None))
            )
            if single is not None:
                category = single
            return (i + 1, category, confidence) if category else None
    return None


def _chunk_category(tokens, first, end, root, ent_of, rules) -> tuple[str | None, float] | None:
    """The chunk's (category, confidence); (None, 1) for a confident O; None when unknown."""
    ent = ent_of.get(root)
    head = tokens[root].head
    if (
        rules.place_category
        and tokens[root].pos == "PROPN"
        and tokens[root].dep == "pobj"
        and tokens[head].text.lower() in rules.place_prepositions
    ):
        return rules.place_category, rules.chunk_confidence.get(rules.place_category, 0.0)
    if ent is not None and ent[2] in rules.ner:
        category, confidence, single = rules.ner[ent[2]]
        if single is not None and ent[1] - ent[0] == 1 and tokens[root].pos == "PROPN":
            category = single
        return category, confidence
    if tokens[root].pos == "PROPN":
        return None
    word = tokens[root].lemma.lower()
    category = rules.heads.get(word) or rules.heads.get(tokens[root].text.lower())
    if category is None:
        return None
    person = (
        rules.first_person[0] if rules.first_person else None
    )  # the spec's category of a person
    if category == person and rules.plural_people and tokens[root].tag in PERSON_TAGS:
        category = rules.plural_people
    return category, rules.chunk_confidence.get(category, 0.0)


_EDGE_PUNCT = frozenset("\"'“”‘’,.;:!?()-")


def _trim(tokens, first, end) -> tuple[int, int]:
    """Drop edge punctuation and leading adverbs (`only the glow`, `even their mother`)."""
    while first < end and (
        all(c in _EDGE_PUNCT for c in tokens[first].text) or tokens[first].pos == "ADV"
    ):
        first += 1
    while end > first and all(c in _EDGE_PUNCT for c in tokens[end - 1].text):
        end -= 1
    return first, end


def _ranges(tokens, indices: Sequence[int]) -> list[tuple[int, int]]:
    """Character ranges of the given tokens, adjacent tokens merged (the gap between them too)."""
    out: list[tuple[int, int]] = []
    previous = None
    for i in indices:
        if previous is not None and i == previous + 1:
            out[-1] = (out[-1][0], tokens[i].end)
        else:
            out.append((tokens[i].start, tokens[i].end))
        previous = i
    return out
