"""Identifier rules shared by the checker and the Python and Rust renderers.

A spec name becomes a Python attribute and a Rust item, so it must be valid
in both and must not be a keyword of either. Free-text labels (event kinds,
NER categories) are never used as identifiers directly: `pascal_identifier`
maps them deterministically, and collisions are reported by validation.

This module is the one place that says which identifier each spec name
renders as (the renderers call the functions below) and which names the
target languages and the generated code itself already take (`RESERVED`,
`PYTHON_BUILTINS`, `RUST_PRELUDE`, `GENERATED_*`); `codegen.spec.identifiers`
checks every spec against them. It lives in the spec layer because the
checker may not import the generators; the generators import it.
"""

from __future__ import annotations

import builtins
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

# Names a module-level Python identifier must not shadow: the generated modules call and annotate
# with builtins (`tuple[str, ...]`, `ValueError`, `int`).
PYTHON_BUILTINS = frozenset(n for n in dir(builtins) if not n.startswith("_"))
# The Rust 2021 prelude, the primitive types and the crates every path may start with: a generated
# type of one of these names would change what `Option<...>`, `Vec`, `f32` or `std::` mean.
RUST_PRELUDE = frozenset(
    "Copy Send Sized Sync Unpin Drop Fn FnMut FnOnce drop Box ToOwned Clone PartialEq PartialOrd Eq "
    "Ord AsRef AsMut Into From Default Iterator Extend IntoIterator DoubleEndedIterator "
    "ExactSizeIterator Option Some None Result Ok Err String ToString Vec TryFrom TryInto "
    "FromIterator Debug Hash bool char str u8 u16 u32 u64 u128 usize i8 i16 i32 i64 i128 isize "
    "f32 f64 std core alloc".split()
)

# ---------------------------------------------------------------- what the generators define

# Members every generated enum has besides its variants (Python `IntEnum` and Rust `impl`): a
# variant of one of these names would be overwritten by, or shadow, the generated member.
GENERATED_ENUM_MEMBERS = frozenset(
    {"ALL", "DEFAULT", "COUNT", "as_str", "from_index", "index", "name", "value", "default"}
)
# Module-level names the generated Python package and Rust crate define or import themselves, in
# every module a spec name can land in (storyml_contract/*.py, src/*.rs, tests/golden.rs globs).
GENERATED_NAMES = frozenset(
    {
        # both languages: enums and text modules, the package / crate root
        "enums",
        "text",
        "ENUMS",
        "CONTRACT_FINGERPRINT",
        "SPEC_FILES",
        "TOTAL_INPUT_FEATURES",
        "TOTAL_OUTPUT_FEATURES",
        "TOKENIZER_FILE",
        "ONNX_OPSET",
        "METADATA_FINGERPRINT_KEY",
        "METADATA_LABELS_KEY",
        "ARTIFACT_FILES",
        "INT8_SUFFIX",
        "INT8_ARTIFACT_FILES",
        "int8_file",
        "ONNX_INPUTS",
        "ONNX_OUTPUTS",
        "EVENT_KIND_LABELS",
        "NUM_EVENT_KINDS",
        "EVENT_KIND_INDEX",
        "EVENT_MULTI_LABEL",
        "EVENT_THRESHOLD",
        "EVENT_LOGIT_THRESHOLD",
        "EVENT_AT_LEAST_ONE",
        "decode_event_kinds",
        "ENGINE_ONLY_EVENT_KINDS",
        "ENTITY_CATEGORIES",
        "NUM_ENTITY_CATEGORIES",
        "ENTITY_ROLES",
        "REGISTERS",
        "BIO_LABELS",
        "NUM_BIO_LABELS",
        "BIO_LABEL_INDEX",
        "OUTSIDE_LABEL",
        "BEGIN_LABEL_INDEX",
        "INSIDE_LABEL_INDEX",
        "MAX_SEQ_LENGTH",
        "IGNORE_INDEX",
        "bio_label_to_category",
        "is_begin_tag",
        "is_inside_tag",
        "bio_label_index",
        "event_kind_index",
        "word_tags",
        "assemble_spans",
        "EventKind",
        "EntityCategory",
        "TokenSpan",
        "BIO_BEGINS",
        "BIO_CATEGORY",
        "OUTSIDE_INDEX",
        "INSIDE_OF_CATEGORY",
        # span decoding from per-token scores (main's text templates since this list was written)
        "decode_tags",
        "spans_from_scores",
        "first_max",
        "best_word_path",
        "BEGIN_BEFORE_INSIDE",
        # the contract's version (specs/contract.yaml) at the package / crate root
        "CONTRACT_VERSION",
        "CONTRACT_VERSION_MAJOR",
        "METADATA_VERSION_KEY",
        # feature modules
        "TOTAL",
        "FEATURE_NAMES",
        "FEATURE_INDEX",
        "feature_index",
        "encode_features",
        "EncodeError",
        "check_items",
        # output modules
        "HeadInfo",
        "FieldInfo",
        "HEADS",
        "OUTPUT_FIELDS",
        "OUTPUT_NAMES",
        "HEAD_NAMES",
        "DecodeError",
        "encode_labels",
        "decode_outputs",
        "argmax",
        "round_half_away",
        "round_clamp",
        "round_or_none",
        "cut",
        "flag",
        "each",
        # imports of the generated modules
        "annotations",
        "enum",
        "math",
        "dataclass",
        "field",
        "Mapping",
        "Sequence",
        "NamedTuple",
        "TypeVar",
        "BTreeMap",
        "fmt",
    }
)
# Fields of a generated record class whose name its own class body uses (`field(default_factory=...)`).
GENERATED_RECORD_FIELDS = frozenset({"field"})
# Parameters, loop variables and builtins the generated encoding functions use (`_write_x(out, base, x)`,
# `for slot, ... in enumerate(...)`, `int(...)`): a local variable rendered from a spec name must not
# take one of them, or it would shadow it for the rest of the function.
GENERATED_LOCALS = frozenset(
    {
        "out",
        "base",
        "x",
        "slot",
        "key",
        "member",
        "item",
        "v",
        "i",
        "int",
        "float",
        "len",
        "sorted",
        "enumerate",
        "isinstance",
    }
)
# The package's own modules beside one per feature layout and output spec.
FIXED_MODULES = ("enums", "text")


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


def taken_by_language(ident: str) -> str | None:
    """Why a module-level identifier would clash with either target language, or None."""
    if ident in RESERVED:
        return "a reserved word in Python or Rust"
    if ident in RUST_PRELUDE:
        return "a name of Rust's prelude or primitive types"
    if ident in PYTHON_BUILTINS:
        return "a Python builtin"
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


# ---------------------------------------------------------------- identifiers rendered from spec names


def record_type(region: str) -> str:
    """The record type of a region with inline `fields`: `self_edge` -> `SelfEdge`."""
    return pascal_identifier(region)


def top_type(spec_name: str) -> str:
    """The whole-vector type of a feature layout or output spec: `character_features` -> `CharacterFeatures`."""
    return pascal_identifier(spec_name)


def head_type(head: str) -> str:
    """The record type of an output head: `action` -> `ActionHead`."""
    return pascal_identifier(head) + "Head"


def field_local(field_name: str) -> str:
    """The local variable a record writer binds a one-hot field with a default to: its own name."""
    return field_name


def item_variable(item: str) -> str:
    """The loop variable the Python encoder binds a slot region's items to: `HistoryTurn` -> `history_turn`
    (one per item type, so mypy sees one type per variable)."""
    return snake(item)


def writer(record: str) -> str:
    """The function that writes a record into a vector (`_write_x` in Python, `write_x` in Rust)."""
    return "write_" + snake(record)


def region_constants(region: str, slots: bool) -> dict[str, str]:
    c = screaming(region)
    names = {"offset": f"{c}_OFFSET", "size": f"{c}_SIZE"}
    if slots:
        names.update(slots=f"{c}_SLOTS", slot_width=f"{c}_SLOT_WIDTH")
    return names


def record_width_constant(record: str) -> str:
    return f"{screaming(record)}_WIDTH"


def record_field_constant(record: str, field_name: str) -> str:
    return f"{screaming(record)}_{screaming(field_name)}_OFFSET"


def head_constants(head: str) -> dict[str, str]:
    c = screaming(head)
    return {"offset": f"{c}_OFFSET", "size": f"{c}_SIZE", "weight": f"{c}_WEIGHT"}


def head_field_constant(head: str, field_name: str) -> str:
    return f"{screaming(head)}_{screaming(field_name)}_OFFSET"


def model_constants(model: str) -> dict[str, str]:
    """The Rust constants of one artifact model: `event_classifier` -> `EVENT_CLASSIFIER_FILE`, ..."""
    c = screaming(model)
    return {
        "file": f"{c}_FILE",
        "int8_file": f"{c}_INT8_FILE",
        "inputs": f"{c}_INPUTS",
        "outputs": f"{c}_OUTPUTS",
    }


# The role constants name models by what they predict (`storyml_contract.EVENT_MODEL`, ...).
ROLE_CONSTANTS = {"event_kinds": "EVENT_MODEL", "bio": "NER_MODEL"}
CHARACTER_ROLE = "CHARACTER_MODEL"


def role_constant(labels: str, mlp_output: str | None) -> str:
    """EVENT_MODEL (event_kinds), NER_MODEL (bio), CHARACTER_MODEL (the mlp_model's output heads),
    <HEADS>_MODEL for another output_heads spec."""
    if labels == mlp_output:
        return CHARACTER_ROLE
    return ROLE_CONSTANTS.get(labels) or screaming(labels) + "_MODEL"
