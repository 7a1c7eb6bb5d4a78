"""JSON Lines: one canonical JSON object per line, written atomically."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from storyml.errors import UserError
from storyml.fsutil import atomic_output

from .records import TextRecord, is_text_record


def dumps_line(record: Mapping[str, object]) -> str:
    """The canonical line of a record: sorted keys, UTF-8 kept as is, no spaces."""
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def write_jsonl(path: Path | str, records: Iterable[Mapping[str, object]]) -> str:
    """Write the records atomically; return the sha256 of the file's bytes (for manifests)."""
    digest = hashlib.sha256()
    with atomic_output(path) as f:
        for record in records:
            line = dumps_line(record) + "\n"
            digest.update(line.encode("utf-8"))
            f.write(line)
    return digest.hexdigest()


def read_jsonl_lines(path: Path | str) -> list[tuple[int, dict[str, Any]]]:
    """(line number, record) for every non-blank line; a bad line is a UserError naming file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc})") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise UserError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
        rows.append((number, record))
    return rows


def read_jsonl(path: Path | str) -> list[dict[str, Any]]:
    """Every record of a JSONL file (see read_jsonl_lines for the errors)."""
    return [record for _, record in read_jsonl_lines(path)]


def read_text_records(path: Path | str) -> list[TextRecord]:
    """Every record of an events-format JSONL file (events, splits, silver records), each with
    the keys a TextRecord has (a record without them is a UserError naming file and line)."""
    records = []
    for number, record in read_jsonl_lines(path):
        if not is_text_record(record):
            raise UserError(
                f"{path}:{number}: not an events record (text, event_kinds, register and "
                "entities are required)"
            )
        records.append(record)
    return records
