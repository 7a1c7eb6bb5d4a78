"""The loaded specs: every validated file, grouped by kind.

Its own module so that the loader and the cross-file checks it runs both import it
without importing each other in a circle.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from codegen.spec.source import SourceDoc


@dataclass(frozen=True)
class Entry:
    """A validated spec file with its source, for errors that point into it."""

    doc: SourceDoc
    model: Any


@dataclass
class SpecSet:
    root: Path
    entries: dict[str, list[Entry]] = field(default_factory=lambda: defaultdict(list))

    def of_kind(self, kind: str) -> list[Entry]:
        return self.entries.get(kind, [])

    def one(self, kind: str) -> Any:
        return self.entries[kind][0].model

    def named(self, kind: str) -> dict[str, Any]:
        return {e.model.name: e.model for e in self.of_kind(kind)}

    def __iter__(self) -> Iterator[Entry]:
        for kind in sorted(self.entries):
            yield from self.entries[kind]

    @property
    def files(self) -> list[Path]:
        return sorted(e.doc.path for e in self)
