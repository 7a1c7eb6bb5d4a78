"""Identifier rules shared by the Python and Rust renderers.

A spec name becomes a Python attribute and a Rust item, so it must be valid
in both and must not be a keyword of either. Free-text labels (event kinds,
NER categories) are never used as identifiers directly: `pascal_identifier`
maps them deterministically, and collisions are reported by validation.
"""

from __future__ import annotations

import keyword
import re

SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
PASCAL = re.compile(r"^[A-Z][A-Za-z0-9]*$")

RUST_KEYWORDS = frozenset(
    "as async await break const continue crate dyn else enum extern false fn for if impl in "
    "let loop match mod move mut pub ref return self Self static struct super trait true type "
    "union unsafe use where while abstract become box do final gen macro override priv try "
    "typeof unsized virtual yield".split()
)
RESERVED = RUST_KEYWORDS | frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)


def check_snake(name: str) -> str | None:
    """Why `name` cannot be a field name, or None when it can."""
    if not SNAKE.match(name):
        return f"{name!r} is not a snake_case identifier (a-z, 0-9, _; starting with a letter)"
    if name in RESERVED:
        return f"{name!r} is a reserved word in Python or Rust"
    return None


def check_pascal(name: str) -> str | None:
    if not PASCAL.match(name):
        return f"{name!r} is not a PascalCase identifier (A-Z first, then letters and digits)"
    if name in RESERVED:
        return f"{name!r} is a reserved word in Python or Rust"
    return None


def pascal_identifier(label: str) -> str:
    """Deterministic identifier for a free-text label: `B-CHARACTER` -> `BCharacter`."""
    words = [w for w in re.split(r"[^0-9A-Za-z]+", label) if w]
    ident = "".join(w[:1].upper() + (w[1:].lower() if w.isupper() else w[1:]) for w in words)
    if not ident:
        ident = "Label"
    if ident[0].isdigit():
        ident = "L" + ident
    if ident in RESERVED:
        ident += "_"
    return ident


def screaming(name: str) -> str:
    """`relational_edges` -> `RELATIONAL_EDGES`; `EmotionalPrimary` -> `EMOTIONAL_PRIMARY`."""
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return s.upper()


def snake(name: str) -> str:
    return screaming(name).lower()
