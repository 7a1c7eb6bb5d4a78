"""Safe rendering of spec text: one escaping function per target language.

Every string a spec supplies (labels, docs, names, file names in headers) reaches
generated code through `py_escape` (Python) or `rust_escape` (Rust and TOML), as
a string literal (`py_str`, `rust_str`; `py_str_formatted` in the quotes ruff
prefers), a docstring (`py_doc`, or `py_doc_text` for its first line) or comment
text (`py_comment`, `rust_comment`). The escaped text is a single line of
printable characters: no quote, backslash, newline, NUL, lone surrogate,
`*/`-style trick or bidirectional control can end a literal or a comment early.
Spaces at either end of a docstring or a comment are escaped too, so `ruff
format` and `cargo fmt` keep the text as written.
"""

from __future__ import annotations

import math
import re


def _code_point(ch: str, style: str) -> str:
    code = ord(ch)
    if style == "rust":
        return f"\\u{{{code:x}}}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


_CONTROL_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def py_escape(text: str, quote: str = "") -> str:
    """`text` as the inside of a Python string literal delimited by `quote` ("" for comment text).

    Backslashes, the quote and every non-printable character are escaped (the
    escapes `repr` uses), so the result is one line of printable characters that
    evaluates back to `text` between quotes.
    """
    out = []
    for ch in text:
        if ch in _CONTROL_ESCAPES:
            out.append(_CONTROL_ESCAPES[ch])
        elif quote and ch == quote:
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(_code_point(ch, "python"))
    return "".join(out)


def py_str(s: str) -> str:
    """A Python literal that evaluates to `s`; the same text `repr(s)` gives."""
    quote = '"' if "'" in s and '"' not in s else "'"
    return quote + py_escape(s, quote) + quote


def py_str_formatted(s: str) -> str:
    """A Python literal that evaluates to `s`, in the quotes `ruff format` prefers: double, unless
    `s` holds more double quotes than single ones."""
    quote = "'" if s.count('"') > s.count("'") else '"'
    return quote + py_escape(s, quote) + quote


def _space_edges(text: str, style: str) -> str:
    """Escape the spaces that begin or end escaped text: formatters strip them from docstrings and
    comments (ruff, rustfmt), so they would not survive `ruff format` or `cargo fmt` as written."""
    body = text.strip(" ")
    if not body:
        return _code_point(" ", style) * len(text)
    lead, trail = len(text) - len(text.lstrip(" ")), len(text) - len(text.rstrip(" "))
    return _code_point(" ", style) * lead + body + _code_point(" ", style) * trail


def py_doc_text(s: str) -> str:
    """The inside of a triple-quoted docstring that evaluates to `s`: one line, whatever follows it."""
    return _space_edges(py_escape(s, '"'), "python")


def py_doc(s: str) -> str:
    """A triple-quoted docstring literal that evaluates to `s`."""
    return '"""' + py_doc_text(s) + '"""'


# A comment in the first two lines matching this declares the file's encoding (PEP 263).
_CODING = re.compile(r"(coding)([:=])")


def py_comment(s: str) -> str:
    """Text for after `# `: one printable line that cannot declare an encoding."""
    text = _space_edges(py_escape(s), "python")
    return _CODING.sub(lambda m: m[1] + _code_point(m[2], "python"), text)


def rust_escape(text: str, quote: str = "") -> str:
    """`text` as the inside of a Rust string literal delimited by `quote` ("" for comment text).

    Printable characters stay as they are; backslashes, the quote and every
    control or non-printable character (bidirectional overrides, which rustc
    refuses even in comments, and line separators included) become escapes.
    The result is also a valid TOML comment.
    """
    out = []
    for ch in text:
        if ch in _CONTROL_ESCAPES:
            out.append(_CONTROL_ESCAPES[ch])
        elif quote and ch == quote:
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(_code_point(ch, "rust"))
    return "".join(out)


def rust_str(s: str) -> str:
    """A Rust string literal that evaluates to `s`.

    A Rust string holds Unicode scalar values only: a lone surrogate cannot be
    written, and the spec checker refuses it before rendering.
    """
    for ch in s:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise ValueError(f"lone surrogate U+{ord(ch):04X} cannot appear in a Rust string")
    return '"' + rust_escape(s, '"') + '"'


def rust_comment(s: str) -> str:
    """Text for after `// ` or `/// ` (or TOML's `# `): one printable line."""
    return _space_edges(rust_escape(s), "rust")


def py_float(x: float) -> str:
    if not math.isfinite(x):
        raise ValueError(f"non-finite number {x!r} in a contract")
    return repr(float(x))


def rust_f64(x: float) -> str:
    # repr always carries a '.' or an exponent, and both are valid Rust float literals.
    return py_float(x) + "_f64"


def rust_f32(x: float) -> str:
    return py_float(x) + "_f32"
