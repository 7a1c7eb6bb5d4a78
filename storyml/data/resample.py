"""Mention resampling: entity mentions redrawn from their category's vocabulary, every epoch.

A model that sees "Tomasz" only in the sentences a template happened to give him learns
the name, not the position. Redrawing a share of the mentions each epoch (the same
record, other fillers of the same category) makes both text models read the context.
Offsets stay exact: the text is rebuilt piece by piece and each span is taken where its
new filler is appended. The player's first-person mentions ("I", "me") are never redrawn: the
verb agrees with them, and "I am soaked" redrawn as "Zalán am soaked" teaches broken English.

Deterministic: the draw for record `i` in epoch `e` comes from `Random(f"{seed}:{e}:{i}")`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Collection, Mapping, Sequence

from codegen.spec.loader import SpecSet
from codegen.spec.templates import (
    RegisterRulesFile,
    entity_categories_of_lists,
    resolved_entries,
    vocabulary_lists,
)

from .events import capitalize_first_letter, make_entity
from .records import EntitySpan, TextRecord

# What comes before a mention that opens a sentence: nothing, the end of a sentence, or an
# opening quotation mark (at the start, or after a space or a comma, colon or semicolon). A closing
# quote is not an opening: in '"Who's there?" Kate asked' Kate is mid-sentence.
SENTENCE_OPENING = re.compile(r'(?:^|[.!?]\s+|(?:^|[\s,:;])["“‘])$')


def first_person_words(specs: SpecSet) -> frozenset[str]:
    """The player's first-person words (specs/templates/registers.yaml), casefolded."""
    return frozenset(w.casefold() for w in specs.one(RegisterRulesFile).first_person_words)


def mention_pools(specs: SpecSet) -> dict[str, tuple[str, ...]]:
    """Category -> every word-list entry drawn under it, first-person words left out."""
    lists = vocabulary_lists(specs)
    first_person = first_person_words(specs)
    pools: dict[str, set[str]] = {}
    for name, categories in entity_categories_of_lists(specs).items():
        if lists[name][1].is_verbs or len(categories) != 1:
            continue
        (category,) = categories
        pools.setdefault(category, set()).update(
            e
            for _, e in resolved_entries(name, lists)
            if isinstance(e, str) and e.casefold() not in first_person
        )
    return {category: tuple(sorted(words)) for category, words in sorted(pools.items())}


def resample_mentions(
    record: TextRecord,
    pools: Mapping[str, Sequence[str]],
    share: float,
    rng: random.Random,
    kept: Collection[str],
) -> TextRecord:
    """A copy of `record` with each entity redrawn from its category's pool with chance `share`.

    A mention whose category has no pool (or only itself) stays, and so does one whose text is in
    `kept` (casefolded: the first-person words). A filler that opens a sentence or a quotation
    gets a capital ("The guard" becomes "The lantern"); elsewhere it keeps its own case, so a
    name's capital does not pass to what replaces it ("told Kate" becomes "told the earl").
    """
    text = record["text"]
    entities = sorted(record["entities"], key=lambda e: e["start"])
    pieces: list[str] = []
    spans: list[tuple[int, int, EntitySpan]] = []
    cursor = length = 0
    for e in entities:
        pieces.append(text[cursor : e["start"]])
        length += e["start"] - cursor
        mention = e["text"]
        pool = pools.get(e["category"], ())
        if rng.random() < share and len(pool) > 1 and mention.casefold() not in kept:
            mention = rng.choice(pool)
            if SENTENCE_OPENING.search(text[: e["start"]]):
                mention = capitalize_first_letter(mention)
        pieces.append(mention)
        spans.append((length, length + len(mention), e))
        length += len(mention)
        cursor = e["end"]
    pieces.append(text[cursor:])
    new_text = "".join(pieces)
    return {
        **record,
        "text": new_text,
        "entities": [
            make_entity(new_text, s, end, e["category"], e["role"]) for s, end, e in spans
        ],
    }
