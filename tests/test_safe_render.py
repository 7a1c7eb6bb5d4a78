"""Spec text cannot break generated code: every string reaches Python and Rust through one escaper each."""

from __future__ import annotations

import ast
import re

from hypothesis import given
from hypothesis import strategies as st

from codegen.generators.literals import (
    py_comment,
    py_doc,
    py_escape,
    py_str,
    rust_comment,
    rust_str,
)

# Any text at all: lone surrogates, NUL, quotes, backslashes, line and paragraph separators,
# bidirectional overrides, `\N{...}`, `*/`, `{{ }}`.
ANY_TEXT = st.text(st.characters(blacklist_categories=()), max_size=40)
HOSTILE = [
    '"""',
    "'''",
    "ends with \\",
    "\\N{BULLET} and \\x41",
    "line\nbreak */ /* {{ x }} {% y %}",
    "nul \0 and \r cr",
    "\u202e bidi \u2066 overrides",
    "\u2028 line and \u2029 paragraph separators",
    'quote " at the end"',
    "émoji 😀 and ß",
    "# -*- coding: no-such-codec -*-",
    "\ud800 lone surrogate",
    "",
]
TEXT = ANY_TEXT | st.sampled_from(HOSTILE)


def _one_printable_line(s: str) -> bool:
    return s.isprintable() and "\n" not in s


@given(TEXT)
def test_python_literal_evaluates_back_and_matches_repr(s):
    literal = py_str(s)
    assert literal == repr(s)
    assert ast.literal_eval(literal) == s
    assert _one_printable_line(literal)


@given(TEXT)
def test_python_docstring_evaluates_back_inside_a_module_that_compiles(s):
    source = f"class Record:\n    {py_doc(s)}\n\n    x: int = 0\n"
    tree = ast.parse(source.encode("utf-8"))  # encodable: no surrogate is left in the source
    assert ast.get_docstring(tree.body[0], clean=False) == s
    compile(source, "<doc>", "exec")


@given(TEXT)
def test_python_comment_is_one_line_that_declares_nothing(s):
    text = py_comment(s)
    assert _one_printable_line(text)
    # as the first line, where PEP 263 would read an encoding declaration
    module = compile(f"# {text}\nX = 1\n".encode("utf-8"), "<comment>", "exec")
    namespace: dict = {}
    exec(module, namespace)
    assert namespace["X"] == 1


def decode_rust_literal(literal: str) -> str:
    """The value of a Rust string literal, by the reference's escape rules (a small decoder)."""
    assert literal[0] == literal[-1] == '"'
    body, out, i = literal[1:-1], [], 0
    simple = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'", "0": "\0"}
    while i < len(body):
        ch = body[i]
        assert ch != '"', f"unescaped quote in {literal!r}"
        assert ch.isprintable(), f"raw {ch!r} in {literal!r}"
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        kind = body[i + 1]
        if kind in simple:
            out.append(simple[kind])
            i += 2
        elif kind == "u":
            m = re.match(r"\\u\{([0-9a-f]{1,6})\}", body[i:])
            assert m, body[i:]
            code = int(m[1], 16)
            assert code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF, "not a Unicode scalar value"
            out.append(chr(code))
            i += m.end()
        else:
            raise AssertionError(f"unknown escape \\{kind} in {literal!r}")
    return "".join(out)


@given(TEXT)
def test_rust_literal_decodes_back(s):
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in s):
        return  # a Rust string cannot hold it; the checker refuses it (test_yaml_safety)
    assert decode_rust_literal(rust_str(s)) == s


@given(TEXT)
def test_rust_and_toml_comment_is_one_printable_line(s):
    text = rust_comment(s)
    assert _one_printable_line(text)
    assert not re.search(r"[\u202a-\u202e\u2066-\u2069\r\x00-\x1f\x7f]", text)


@given(TEXT)
def test_escapes_are_reversible_for_comments_too(s):
    """A comment shows the text, escaped but complete: the Python escape reads back exactly."""
    assert ast.literal_eval('"' + py_escape(s, '"') + '"') == s
