"""Spec problems, each pinned to a file, a line and a key path."""

from __future__ import annotations

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
        return f"{self.file}:{self.line}: {key}: {self.message}"


class SpecError(Exception):
    """Raised with every problem found, so a user fixes them all in one pass."""

    def __init__(self, problems: list[SpecProblem]):
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


def display_path(path: Path) -> str:
    """A path relative to the working directory when possible: short, clickable messages."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def key_path(loc: tuple) -> str:
    """Render a key path like `regions[2].slots.count`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out
