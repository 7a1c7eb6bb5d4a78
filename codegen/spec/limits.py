"""Bounds on the numbers a spec may hold, and the Rust type each contract integer is rendered as.

The generated crate declares these integers as constants of the types below
(the Rust templates read the type names from `RUST_INT_TYPES`), so the spec
models bound each value by its type: a value the type cannot hold is refused by
`storyml check` at its key instead of failing `cargo test`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RustInt:
    name: str
    min: int
    max: int


# usize is bounded as on a 32-bit target (wasm32 included), so the crate builds everywhere.
USIZE = RustInt("usize", 0, 2**32 - 1)
I64 = RustInt("i64", -(2**63), 2**63 - 1)

# Contract integers rendered as Rust constants, by spec key.
RUST_INT_TYPES: dict[str, RustInt] = {"max_seq_length": USIZE, "ignore_index": I64, "opset": I64}

# A vector (feature input or concatenated outputs) holds at most this many floats. Sizes are checked
# against it before a layout is built, so a huge slot count is an error, not a MemoryError; the
# generated golden tests hold a few vectors of this width.
MAX_VECTOR_WIDTH = 2**16

# An integer compared with a rounded float32 output (round_or_none's none_below) is one a float32
# holds exactly, so both sides compare the same numbers.
F32_EXACT_INT = 2**24

# YAML: a spec file is at most this large, nested at most this deep (aliases included), and its
# aliases may add at most this many values beyond the file's own (a billion-laughs file asks for
# billions; the real specs use none).
MAX_SPEC_BYTES = 8 * 2**20
MAX_YAML_DEPTH = 64
MAX_ALIAS_EXPANSION = 100_000
