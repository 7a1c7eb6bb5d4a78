"""Python lines laid out the way `ruff format` lays them out (line length 100, as pyproject says).

Like the Rust crate, the Python package is written already formatted, so `storyml gen` needs no
formatter and writes the same bytes everywhere. A bracketed list that does not fit on its line
puts one item on each line with a trailing comma, which ruff keeps as it is (the "magic
trailing comma"); a call whose only argument is a generator expression wraps that argument
alone. tests/test_generated_python.py runs `ruff format --check` on the package.
"""

from __future__ import annotations

from codegen.generators.literals import py_str_formatted

MAX_WIDTH = 100
INDENT = 4


# A string literal in ruff's preferred quotes, escaped by the one Python escaper (`literals`).
py_str = py_str_formatted


def top_level_split(text: str) -> list[str]:
    """`a, f(b, c), d` -> [`a`, `f(b, c)`, `d`]."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    if text[start:].strip():
        parts.append(text[start:].strip())
    return parts


def bracketed(
    lead: str,
    opening: str,
    items: list[str],
    closing: str,
    indent: int,
    end: str = "",
    one_tuple: bool = False,
) -> str:
    """`lead` + `opening` items `closing` + `end`: on one line when it fits, else one item a line.

    `one_tuple`: the brackets make a tuple, which needs its comma when it holds one item."""
    inner = ", ".join(items) + ("," if one_tuple and len(items) == 1 else "")
    one = f"{' ' * indent}{lead}{opening}{inner}{closing}{end}"
    if len(one) <= MAX_WIDTH:
        return one
    pad = " " * (indent + INDENT)
    if len(items) == 1 and " for " in items[0]:  # a generator expression takes no trailing comma
        body = [pad + items[0]]
    else:
        body = [pad + item + "," for item in items]
    return "\n".join([f"{' ' * indent}{lead}{opening}", *body, f"{' ' * indent}{closing}{end}"])


def call_line(lead: str, call: str, indent: int, end: str = "") -> str:
    """`lead` + a call `head(args)` + `end`, its arguments split out when the line is too long."""
    one = f"{' ' * indent}{lead}{call}{end}"
    if len(one) <= MAX_WIDTH or not call.endswith(")") or "(" not in call:
        return one
    head, _, rest = call.partition("(")
    return bracketed(lead + head, "(", top_level_split(rest[:-1]), ")", indent, end)
