"""The loaded specs: every validated file, grouped by kind.

Its own module so that the loader and the cross-file checks it runs both import it
without importing each other in a circle.

Readers ask for a kind by its model class (`specs.one(TextLabelsFile)`) and get that class
back, typed. The class is found among the loaded entries rather than in the kind table
(`codegen.spec.kinds.KINDS`): the table imports every model module, and those modules' checks
take a SpecSet, so importing the table here would close a cycle. The loader files each entry
under the kind its table row names, one model class per row, so the two lookups agree.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Iterator, Protocol, TypeGuard, TypeVar, overload

from pydantic import BaseModel

from codegen.spec.source import SourceDoc

ModelT = TypeVar("ModelT")
# An entry is read, never re-pointed (frozen): an Entry[TextLabelsFile] serves where any entry does.
EntryModelT = TypeVar("EntryModelT", covariant=True)
SpecModelT = TypeVar("SpecModelT", bound=BaseModel)


class NamedFile(Protocol):
    """A kind whose files are told apart by `name` (feature layouts, output heads, ...)."""

    @property
    def name(self) -> str: ...


NamedT = TypeVar("NamedT", bound=NamedFile)


@dataclass(frozen=True)
class Entry(Generic[EntryModelT]):
    """A validated spec file with its source, for errors that point into it."""

    doc: SourceDoc
    model: EntryModelT


def _all_hold(
    entries: list[Entry[BaseModel]], model: type[ModelT]
) -> TypeGuard[list[Entry[ModelT]]]:
    return all(isinstance(e.model, model) for e in entries)


@dataclass
class SpecSet:
    root: Path
    entries: dict[str, list[Entry[BaseModel]]] = field(default_factory=lambda: defaultdict(list))

    @overload
    def of_kind(self, kind: str) -> list[Entry[BaseModel]]: ...

    @overload
    def of_kind(self, kind: type[ModelT]) -> list[Entry[ModelT]]: ...

    def of_kind(self, kind: str | type[ModelT]) -> list[Entry[BaseModel]] | list[Entry[ModelT]]:
        """The files of a kind, by its `kind:` name (for loops over a table of kinds) or,
        typed, by its model class."""
        if isinstance(kind, str):
            return self.entries.get(kind, [])
        for entries in self.entries.values():
            if entries and isinstance(entries[0].model, kind):
                if not _all_hold(entries, kind):  # one model class per kind: the loader's table
                    raise TypeError(f"the {kind.__name__} entries hold models of other classes")
                return entries
        return []

    def one(self, kind: type[SpecModelT]) -> SpecModelT:
        """The model of a kind loaded once (a singleton, or the first file of its kind)."""
        entries = self.of_kind(kind)
        if not entries:
            raise LookupError(f"no {kind.__name__} spec is loaded")
        return entries[0].model

    def named(self, kind: type[NamedT]) -> dict[str, NamedT]:
        return {e.model.name: e.model for e in self.of_kind(kind)}

    def with_kinds(self) -> Iterator[tuple[str, Entry[BaseModel]]]:
        """Every entry with the `kind:` it is filed under, kinds in name order."""
        for kind in sorted(self.entries):
            for entry in self.entries[kind]:
                yield kind, entry

    def __iter__(self) -> Iterator[Entry[BaseModel]]:
        for _kind, entry in self.with_kinds():
            yield entry

    @property
    def files(self) -> list[Path]:
        return sorted(e.doc.path for e in self)
