"""Write the generated tree: all files rendered in memory first, then swapped in.

Rendering happens before anything touches the disk, so a spec or template
error leaves generated/ as it was. Files that are no longer generated are
removed; build outputs (Rust's target/, __pycache__) are left alone.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from storyml.fsutil import atomic_write_text

# Directories under generated/ whose every file is ours to write or remove.
MANAGED = ("python/storyml_contract", "rust/src", "rust/tests", "schema")
UNMANAGED_PARTS = {"__pycache__", "target"}


def _on_disk(out: Path) -> dict[str, Path]:
    found = {}
    for root in MANAGED:
        base = out / root
        if base.is_dir():
            for p in base.rglob("*"):
                if p.is_file() and not UNMANAGED_PARTS & set(p.relative_to(out).parts):
                    found[p.relative_to(out).as_posix()] = p
    return found


@dataclass
class Staleness:
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    diff: str = ""

    @property
    def stale(self) -> bool:
        return bool(self.changed or self.missing or self.extra)


def compare(files: dict[str, str], out: Path) -> Staleness:
    result = Staleness()
    chunks = []
    for rel, text in sorted(files.items()):
        path = out / rel
        if not path.is_file():
            result.missing.append(rel)
            continue
        current = path.read_text(encoding="utf-8")
        if current != text:
            result.changed.append(rel)
            chunks.extend(difflib.unified_diff(current.splitlines(keepends=True), text.splitlines(keepends=True),
                                               f"a/{rel}", f"b/{rel}", n=2))
    result.extra = sorted(set(_on_disk(out)) - set(files))
    result.diff = "".join(chunks)
    return result


def write_tree(files: dict[str, str], out: Path) -> list[str]:
    """Write every changed file atomically and remove stale ones; return what changed."""
    state = compare(files, out)
    for rel in state.missing + state.changed:
        atomic_write_text(out / rel, files[rel])
    for rel in state.extra:
        (out / rel).unlink()
    return sorted(state.missing + state.changed + state.extra)
