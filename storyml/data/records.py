"""The records the models are made from, as types: one home for their keys.

Records travel as JSON lines (storyml/data/jsonl.py) and as plain dicts in memory: from the data
generators (storyml/data/events.py, storyml/data/characters.py, storyml/silver) through the
splits and training (storyml/train) to evaluation (storyml/evaluate). These TypedDicts say what
each record holds. They describe dicts, so a record is written and read exactly as before; a
record read back from a file becomes one only after `is_text_record` (or the evaluation reader,
storyml/evaluate/evalsets.py, which checks every field) has looked at it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NotRequired, TypedDict, TypeGuard


class EntitySpan(TypedDict):
    """An entity mention: text[start:end] (characters, end exclusive) and what it is."""

    start: int
    end: int
    text: str
    category: str  # an entity category of the text labels spec
    # Every generated and silver record has these; a hand-annotated evaluation set may leave them
    # out (the evaluation reader checks them when present).
    role: NotRequired[str]
    byte_start: NotRequired[int]  # the same span in UTF-8 bytes, as the engine indexes text
    byte_end: NotRequired[int]


class TextRecord(TypedDict):
    """One sentence with its event kinds and entity mentions: an example of the events dataset,
    a silver-labelled corpus sentence or a sentence of an evaluation set."""

    text: str
    # The primary kind first. Empty: not decided, so the event classifier does not train on it
    # (a written sentence of a file with `train_event_kinds: false`; nor does it on any silver
    # record, whose kinds are at most a labelling rule's guess).
    event_kinds: list[str]
    register: str
    entities: list[EntitySpan]
    id: NotRequired[str]
    action_type: NotRequired[str | None]
    # Template-generated records (storyml data events): what the sentence was made from.
    template: NotRequired[str]
    clauses: NotRequired[dict[str, str]]  # clause name -> template id
    frame: NotRequired[str | None]  # the composition frame, None for a bare template
    fillers: NotRequired[dict[str, str]]  # slot -> "list:entry" of the vocabulary
    # Silver records (storyml data silver): token labels come only from the entities and from
    # `outside`, [start, end) character ranges confidently outside every entity.
    silver: NotRequired[bool]
    outside: NotRequired[list[list[int]]]
    # Written prose (storyml/data/prose.py): the annotated_prose spec the sentence comes from.
    prose: NotRequired[str]


class CharacterRecord(TypedDict):
    """One example of the characters dataset: a feature vector and the labels the rules give it."""

    id: str
    cell: str  # the matrix cell it was drawn from
    coherence: float  # the coherence score it passed
    features: list[float]  # TOTAL_INPUT_FEATURES wide, as encode_features writes it
    labels: list[float]  # TOTAL_OUTPUT_FEATURES wide, as encode_labels writes it
    hash: str  # content_hash of features and labels (storyml/data/characters.py)


# The keys every TextRecord has, with the JSON type of each value.
_TEXT_RECORD_KEYS: dict[str, type] = {
    "text": str,
    "event_kinds": list,
    "register": str,
    "entities": list,
}


def is_text_record(record: Mapping[str, object]) -> TypeGuard[TextRecord]:
    """Whether a record read from JSON has every key a TextRecord requires, of its JSON type.

    Shallow: the entities themselves are checked by their readers (align_batch, the evaluation
    reader)."""
    return all(isinstance(record.get(key), kind) for key, kind in _TEXT_RECORD_KEYS.items())
