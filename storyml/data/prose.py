"""Training records from the written prose specs (`kind: annotated_prose`, specs/text/prose).

The spec holds each sentence with its mentions marked inline; a record holds the plain text with
character and byte offsets, as every other text record does. A written record is kept as it was
written: mention resampling (storyml/data/resample.py) leaves it alone, since its fillers are
already real English and its offsets the annotator's.
"""

from __future__ import annotations

from collections.abc import Sequence

from codegen.spec.loader import SpecSet
from codegen.spec.prose import AnnotatedProseFile

from .events import byte_offset
from .records import EntitySpan, TextRecord


def prose_records(specs: SpecSet, names: Sequence[str] | None = None) -> list[TextRecord]:
    """Every sentence of the named annotated_prose specs (None: all), in spec-name order.

    A sentence of a file with `train_event_kinds: false` gets no event kinds, which the training
    reads as not decided (as in a silver record): the event classifier leaves it out."""
    chosen = sorted(
        (e.model for e in specs.of_kind(AnnotatedProseFile)),
        key=lambda spec: spec.name,
    )
    records: list[TextRecord] = []
    for spec in chosen:
        if names is not None and spec.name not in names:
            continue
        for n, sentence in enumerate(spec.sentences, 1):
            text, mentions = sentence.parsed
            entities: list[EntitySpan] = [
                {
                    "start": m.start,
                    "end": m.end,
                    "byte_start": byte_offset(text, m.start),
                    "byte_end": byte_offset(text, m.end),
                    "text": text[m.start : m.end],
                    "category": m.category,
                }
                for m in mentions
            ]
            records.append(
                {
                    "id": f"{spec.name}-{n:03d}",
                    "text": text,
                    "event_kinds": list(sentence.kinds) if spec.train_event_kinds else [],
                    "register": sentence.voice,
                    "entities": entities,
                    "prose": spec.name,
                }
            )
    return records


def is_written(record: TextRecord) -> bool:
    """A sentence of a written prose spec (kept as written, never resampled)."""
    return "prose" in record
