"""Rust expressions laid out the way rustfmt lays them out (default configuration, edition 2021).

`storyml gen` writes formatted Rust itself rather than running rustfmt, so what it writes is the
same on every machine, with or without a Rust toolchain. The templates are written in rustfmt's
layout; the expressions whose shape depends on the specs (arrays of labels, struct literals in
the golden tests) are built as small trees here and laid out by rustfmt's rules:

- a list goes on one line when it fits the line and its width heuristic (arrays 60 columns of
  items, call and tuple arguments 60, struct literal fields 18);
- otherwise a list of short simple items (literals and one-segment paths of at most 10
  columns) is packed into full lines, and any other list puts one item on a line, each
  followed by a comma;
- a call whose only argument is a struct literal, array, call or tuple keeps that argument's
  opening on its own line (`Some(Foo {`).

tests/test_rust_crate.py runs `cargo fmt --check` on the generated crate, which proves these
rules agree with rustfmt's on everything the renderers write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

MAX_WIDTH = 100
INDENT = 4
ARRAY_WIDTH = 60
CALL_WIDTH = 60
STRUCT_LIT_WIDTH = 18
SHORT_ITEM = 10


@dataclass(frozen=True)
class Atom:
    """Text laid out as it is: a literal, a path, an operator applied to one."""

    text: str


@dataclass(frozen=True)
class Array:
    """`[a, b]`, or with a prefix `&[a, b]`, `vec![a, b]`."""

    items: tuple[Node, ...]
    prefix: str = ""


@dataclass(frozen=True)
class Call:
    """`head(a, b)`; a tuple when head is empty."""

    head: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Struct:
    """`Name { field: value, .. }`."""

    name: str
    fields: tuple[tuple[str, Node], ...]


Node = Union[Atom, Array, Call, Struct]

_SIMPLE = re.compile(r"^[&!-]*([0-9][0-9A-Za-z_.+-]*|\"[^\"]*\"|[A-Za-z_][A-Za-z0-9_]*)$")


def _items(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Array):
        return node.items
    if isinstance(node, Call):
        return node.args
    return ()


def _is_short_simple(node: Node) -> bool:
    """rustfmt packs a list whose every item is a literal or one-segment path of <= 10 columns."""
    return (
        isinstance(node, Atom) and len(node.text) <= SHORT_ITEM and bool(_SIMPLE.match(node.text))
    )


def flat(node: Node) -> str | None:
    """The one-line form, or None when a width heuristic forbids one line for some part."""
    if isinstance(node, Atom):
        return node.text
    if isinstance(node, Struct):
        parts = [(name, flat(value)) for name, value in node.fields]
        if any(text is None for _, text in parts):
            return None
        body = ", ".join(f"{name}: {text}" for name, text in parts)
        if not body:
            return f"{node.name} {{}}"
        return f"{node.name} {{ {body} }}" if len(body) <= STRUCT_LIT_WIDTH else None
    texts = [flat(item) for item in _items(node)]
    if any(text is None for text in texts):
        return None
    inner = ", ".join(t for t in texts if t is not None)
    if isinstance(node, Array):
        return f"{node.prefix}[{inner}]" if len(inner) <= ARRAY_WIDTH else None
    if len(node.args) == 1 and not node.head:
        inner += ","  # a one-element tuple
    return f"{node.head}({inner})" if len(inner) <= CALL_WIDTH else None


def layout(node: Node, indent: int, used: int, trailer: str = "", force: bool = False) -> list[str]:
    """Lines of `node` starting `used` columns into a line indented by `indent`.

    The first line is returned without its leading text, the others with their indentation;
    `trailer` is what follows the node on its last line (a comma, `;`, `)`), which has to fit.
    `force`: never one line (an overflowed sole argument whose call did not fit one line).
    """
    one = None if force else flat(node)
    if one is not None and used + len(one) + len(trailer) <= MAX_WIDTH:
        return [one]
    if isinstance(node, Atom):
        return [node.text]
    inner = indent + INDENT
    if isinstance(node, Struct):
        lines = [f"{node.name} {{"]
        for name, value in node.fields:
            lines += _item(value, inner, f"{name}: ")
        return lines + [" " * indent + "}"]
    opening = f"{node.prefix}[" if isinstance(node, Array) else f"{node.head}("
    closing = "]" if isinstance(node, Array) else ")"
    items = _items(node)
    if (
        len(items) == 1
        and not isinstance(items[0], Atom)
        and (isinstance(node, Array) or node.head)
    ):
        # rustfmt's overflow of a sole item: `Some(Foo {` ... `})`, `vec![Some(Foo {` ... `})]`
        # a nested call overflowed this way gets no line of its own; an array or struct may
        arg = layout(
            items[0],
            indent,
            used + len(opening),
            closing + trailer,
            force=isinstance(items[0], Call),
        )
        if len(arg) == 1:
            return [opening + arg[0] + closing]
        return [opening + arg[0], *arg[1:-1], arg[-1] + closing]
    last = items[-1] if items else None
    if isinstance(node, Call) and isinstance(last, Atom) and last.text.startswith("|"):
        # rustfmt's overflow of a closure argument: `f(a, |x| {` body `})`
        params, _, body = last.text.partition("| ")
        firsts = [flat(item) for item in items[:-1]]
        first = f"{opening}{''.join(f'{text}, ' for text in firsts)}{params}| {{"
        if None not in firsts and used + len(first) <= MAX_WIDTH:
            inner_lines = layout(parse_call(body), indent + INDENT, indent + INDENT)
            inner_lines[0] = " " * (indent + INDENT) + inner_lines[0]
            return [first, *inner_lines, " " * indent + "})"]
    lines = [opening]
    if items and all(_is_short_simple(item) for item in items):
        lines += _pack([item.text for item in items if isinstance(item, Atom)], inner)
    else:
        for item in items:
            lines += _item(item, inner, "")
        if isinstance(node, Call) and node.head.endswith("!"):
            lines[-1] = lines[-1].removesuffix(
                ","
            )  # rustfmt adds no comma after a macro's last argument
    return lines + [" " * indent + closing]


def _item(node: Node, indent: int, lead: str) -> list[str]:
    """One item of a vertical list (or struct field), with its trailing comma."""
    lines = layout(node, indent, indent + len(lead), ",")
    lines[0] = " " * indent + lead + lines[0]
    lines[-1] += ","
    return lines


def statement(lead: str, node: Node, indent: int, end: str = ";") -> str:
    """`lead` + node + `end` (e.g. `let x = ` ... `;`), indented by `indent`."""
    lines = layout(node, indent, indent + len(lead), end)
    lines[0] = " " * indent + lead + lines[0]
    lines[-1] += end
    return "\n".join(lines)


def array_of(items: list[str]) -> Array:
    return Array(tuple(Atom(i) for i in items))


def _use_order(name: str) -> tuple[int, str]:
    """rustfmt's order inside `use a::{..}` (edition 2021): self, snake_case, CamelCase, CONSTANTS."""
    if name == "self":
        return 0, name
    if name[:1].islower():
        return 1, name
    return (3 if name.upper() == name else 2), name


def use_list(path: str, names: list[str]) -> str:
    """`use path::{names};`, sorted and packed as rustfmt does."""
    names = sorted(set(names), key=_use_order)
    if len(names) == 1:
        return f"use {path}::{names[0]};"
    one = f"use {path}::{{{', '.join(names)}}};"
    if len(one) <= MAX_WIDTH:
        return one
    return "\n".join([f"use {path}::{{", *_pack(names, INDENT), "};"])


def _pack(texts: list[str], indent: int) -> list[str]:
    """Short items filled into lines of MAX_WIDTH, each item followed by a comma (and a space,
    which rustfmt counts though it does not write it, after all but the last)."""
    lines, line = [], ""
    for n, text in enumerate(texts, 1):
        candidate = f"{line} {text}," if line else f"{text},"
        room = MAX_WIDTH if n == len(texts) else MAX_WIDTH - 1  # a space follows all but the last
        if line and indent + len(candidate) > room:
            lines.append(" " * indent + line)
            candidate = f"{text},"
        line = candidate
    return lines + [" " * indent + line]


def parse_call(text: str) -> Node:
    """`head(a, b)` as a Call of its top-level arguments (each parsed the same way), else an Atom.

    Enough for the generated decode calls; a closure or nested brackets inside an argument stay
    one Atom."""
    if not text.endswith(")") or "(" not in text:
        return Atom(text)
    head, _, rest = text.partition("(")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_:]*!?", head):
        return Atom(text)
    args, depth, start = [], 0, 0
    body = rest[:-1]
    for i, ch in enumerate(body):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:  # the parenthesis closing `head(` is not the last character
                return Atom(text)
        elif ch == "," and depth == 0:
            args.append(body[start:i].strip())
            start = i + 1
    if depth != 0:
        return Atom(text)
    if body.strip():
        args.append(body[start:].strip())
    return Call(head, tuple(parse_call(a) if not a.startswith("|") else Atom(a) for a in args))
