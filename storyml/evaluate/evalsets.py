"""The evaluation sets: where they live, what they are called, and a validating reader.

The build writes the template-derived test splits and the character validation split as JSONL
into its data directory under the names below; the hand-written real-prose set ships in the
repository (`evalsets/real_prose.jsonl`, see `evalsets/README.md`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyml_contract.text import ENTITY_CATEGORIES, ENTITY_ROLES, EVENT_KIND_LABELS, REGISTERS

from storyml.data.jsonl import read_jsonl_lines
from storyml.data.records import TextRecord, is_text_record
from storyml.data.splits import SPLITS, test_file
from storyml.errors import UserError

EVALSETS_DIR = Path(__file__).resolve().parents[2] / "evalsets"
REAL_PROSE_FILE = EVALSETS_DIR / "real_prose.jsonl"  # the test set: reported, never tuned on
DEV_PROSE_FILE = EVALSETS_DIR / "dev_prose.jsonl"  # the development set: every choice is made on it
CHARACTERS_VALIDATION_FILE = "characters.val.jsonl"


@dataclass(frozen=True)
class TextEvalSet:
    name: str  # key in report.json
    title: str  # heading in report.md
    file: str  # file name in the data directory ("" for the real-prose set)
    template_derived: bool  # generated from the training templates (same distribution)
    label: str  # what its scores mean, printed beside them


TEMPLATE_LABEL = "template data (not a measure of generalization)"
GENERALIZATION_LABEL = "generalization estimate"
DEVELOPMENT_LABEL = "development set (choices are made on it)"


# Evaluated in this order; the real-prose test set last, as the generalization estimate.
SPLIT_TITLES = {
    "random": "random test split",
    "held_out_template": "held-out-template split",
    "held_out_vocabulary": "held-out-vocabulary split",
}
TEMPLATE_SETS: tuple[TextEvalSet, ...] = tuple(
    TextEvalSet(split, SPLIT_TITLES[split], test_file(split), True, TEMPLATE_LABEL)
    for split in SPLITS
)
REAL_PROSE_SET = TextEvalSet(
    "real_prose", "hand-written real prose (test)", "", False, GENERALIZATION_LABEL
)
DEV_PROSE_SET = TextEvalSet(
    "dev_prose", "hand-written real prose (development)", "", False, DEVELOPMENT_LABEL
)


def _problem(path: Path, line: int, message: str) -> UserError:
    return UserError(f"{path}:{line}: {message}")


def check_event_record(record: Any, path: Path, line: int) -> TextRecord:
    """One events-format record, checked: known labels, entities whose offsets index the text."""
    if not isinstance(record, dict):
        raise _problem(path, line, "a record must be a JSON object")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise _problem(path, line, "'text' must be a non-empty string")
    kinds = record.get("event_kinds")
    if not isinstance(kinds, list) or not kinds:
        raise _problem(path, line, "'event_kinds' must be a non-empty list")
    unknown = [k for k in kinds if k not in EVENT_KIND_LABELS]
    if unknown or len(set(kinds)) != len(kinds):
        raise _problem(
            path,
            line,
            f"'event_kinds' {kinds}: each must be one of {list(EVENT_KIND_LABELS)}, once",
        )
    if record.get("register") not in REGISTERS:
        raise _problem(path, line, f"'register' must be one of {list(REGISTERS)}")
    entities = record.get("entities")
    if not isinstance(entities, list):
        raise _problem(path, line, "'entities' must be a list")
    previous_end = 0
    for n, entity in enumerate(
        sorted(
            entities,
            key=lambda e: (
                (e.get("start", -1), e.get("end", -1)) if isinstance(e, dict) else (-1, -1)
            ),
        )
    ):
        _check_entity(entity, text, path, line, n)
        if entity["start"] < previous_end:
            raise _problem(path, line, f"entity {entity['text']!r} overlaps the one before it")
        previous_end = entity["end"]
    if not is_text_record(record):  # the checks above cover every key a TextRecord requires
        raise _problem(path, line, "not an events record")
    return record


def _check_entity(entity: Any, text: str, path: Path, line: int, n: int) -> None:
    where = f"entity {n}"
    if not isinstance(entity, dict):
        raise _problem(path, line, f"{where} must be a JSON object")
    start, end = entity.get("start"), entity.get("end")
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
        raise _problem(
            path,
            line,
            f"{where}: start {start!r} and end {end!r} must satisfy 0 <= start < end <= {len(text)}",
        )
    if text[start:end] != entity.get("text"):
        raise _problem(
            path,
            line,
            f"{where}: text[{start}:{end}] is {text[start:end]!r}, not {entity.get('text')!r}",
        )
    if entity.get("category") not in ENTITY_CATEGORIES:
        raise _problem(
            path,
            line,
            f"{where}: category {entity.get('category')!r} is not one of {list(ENTITY_CATEGORIES)}",
        )
    if "role" in entity and entity["role"] not in ENTITY_ROLES:
        raise _problem(
            path, line, f"{where}: role {entity['role']!r} is not one of {list(ENTITY_ROLES)}"
        )
    if "byte_start" in entity or "byte_end" in entity:
        byte_start = len(text[:start].encode("utf-8"))
        byte_end = len(text[:end].encode("utf-8"))
        if (entity.get("byte_start"), entity.get("byte_end")) != (byte_start, byte_end):
            raise _problem(
                path,
                line,
                f"{where}: byte offsets ({entity.get('byte_start')}, {entity.get('byte_end')}) should be ({byte_start}, {byte_end})",
            )


def load_event_records(path: Path) -> list[TextRecord]:
    """Every record of an events-format JSONL file, each checked (error names file and line)."""
    path = Path(path)
    return [check_event_record(record, path, line) for line, record in read_jsonl_lines(path)]


def load_character_records(path: Path, features: int, labels: int) -> list[dict[str, Any]]:
    """Records of a characters-format JSONL file, with `features`/`labels` vectors of the given widths."""
    path = Path(path)
    records = []
    for line, record in read_jsonl_lines(path):
        if not isinstance(record, dict):
            raise _problem(path, line, "a record must be a JSON object")
        for key, width in (("features", features), ("labels", labels)):
            value = record.get(key)
            if not isinstance(value, list) or len(value) != width:
                raise _problem(path, line, f"'{key}' must be a list of {width} numbers")
        records.append(record)
    return records
