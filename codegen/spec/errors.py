"""Spec problems, each pinned to a file, a line and a key path."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, order=True)
class SpecProblem:
    file: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        key = self.key or "<document>"
        return f"{self.file}:{self.line}: {key}: {one_line(self.message)}"


def one_line(text: str) -> str:
    """`text` with every unprintable character escaped (`\\n`, `\\x00`), so that a name or value
    quoted from a spec cannot break the one-problem-per-line form of an error report."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class SpecError(Exception):
    """Raised with every problem found, so a user fixes them all in one pass."""

    def __init__(self, problems: list[SpecProblem]):
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


def one_of(value: object, allowed: Iterable[str]) -> str:
    """The tail of an unknown-name message: a suggestion when one name is close, then the choices.

    `unknown event kind 'SpatialChnage' (did you mean 'SpatialChange'? one of: ...)`.
    """
    names = [str(a) for a in allowed]
    close = difflib.get_close_matches(str(value), names, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"({hint}one of: {', '.join(names) or 'none'})"


def display_path(path: Path) -> str:
    """A path relative to the working directory when possible: short, clickable messages."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# A key path in a spec file: mapping keys (YAML allows numbers as keys) and list indexes.
Loc = tuple[str | int | float, ...]


def key_path(loc: tuple[object, ...]) -> str:
    """Render a key path like `regions[2].slots.count`.

    A key that would break the one-line `file:line: key: message` form (a colon, a line break or
    another unprintable character, or nothing at all) is shown quoted and escaped: `lists['a\\x3a b']`.
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif (s := str(part)) and ":" not in s and s.isprintable():
            out += ("." if out else "") + s
        else:
            out += "[" + repr(s).replace(":", "\\x3a") + "]"
    return out
