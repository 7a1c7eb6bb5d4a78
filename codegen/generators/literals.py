"""Safe literals: any label text becomes a valid Python or Rust string literal."""

from __future__ import annotations

import math


def py_str(s: str) -> str:
    """A Python literal that evaluates to `s` (repr escapes quotes, backslashes, controls)."""
    return repr(s)


def rust_str(s: str) -> str:
    """A Rust string literal that evaluates to `s`.

    Printable characters stay as they are; quotes, backslashes and every
    control or non-printable character are escaped, so a newline in a label
    cannot end a line of generated code.
    """
    out = ['"']
    for ch in s:
        code = ord(ch)
        if 0xD800 <= code <= 0xDFFF:
            raise ValueError(f"lone surrogate U+{code:04X} cannot appear in a Rust string")
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch.isprintable() and ch not in "\u2028\u2029":
            out.append(ch)
        else:
            out.append(f"\\u{{{code:x}}}")
    out.append('"')
    return "".join(out)


def py_float(x: float) -> str:
    if not math.isfinite(x):
        raise ValueError(f"non-finite number {x!r} in a contract")
    return repr(float(x))


def rust_f64(x: float) -> str:
    # repr always carries a '.' or an exponent, and both are valid Rust float literals.
    return py_float(x) + "_f64"


def rust_f32(x: float) -> str:
    return py_float(x) + "_f32"
