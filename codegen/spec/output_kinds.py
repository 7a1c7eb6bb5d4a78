"""The table of output-field kinds and decode rules: the one place each is defined.

A field of an `output_heads` spec has a *kind* (the shape of what it predicts)
and a *decode rule* (how raw model outputs become that value). Everything that
depends on either reads it from the rows below: spec validation, widths and
output names, the generated Python and Rust, the golden vectors, the vectorised
decoder that scores training, the measures of the evaluation, and the labelling
rule language. Adding a kind or a rule is adding a row; a consumer that does not
know a row fails loudly (KeyError) instead of falling through an `if` chain.

Three tables:
  VALUES        what one decoded value is: its Python and Rust types, its
                literal in Rust, its type in the labelling language
  DECODE_RULES  per rule: the value it yields, its snippets (Python decode and
                label-space encode, Rust decode), its numpy decoder, its edges
  OUTPUT_KINDS  per kind: losses and rules it allows, whether it takes an enum,
                how wide it is, whether it holds one value or one per variant,
                its label paths, its training metric and evaluation measures

Snippets are `str.format` templates. Element snippets read one float `{x}`; a
rule that `reduces` reads the whole field (`{o}` offset, `{w}` width). Every
number a snippet needs comes from `RuleRow.numbers(param)`, where `param` is the
rule's one number (`DecodeRule.param` in the spec, `FieldInfo.param` in the
generated contract), so the generated code and the numpy decoder cannot read
the same parameter two ways.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Literal, Protocol, Sequence

if TYPE_CHECKING:
    import numpy as np

# ---------------------------------------------------------------- values

# The type of a path in the labelling rule language (codegen.spec.matrix): what matchers compare.
PathKind = Literal["number", "enum", "bool", "flags"]


@dataclass(frozen=True)
class ValueType:
    """One decoded value (one float's worth, or the class of a reducing rule)."""

    py: str  # Python annotation; {enum} is the field's enum
    rust: str  # Rust type
    path: Literal["enum", "bool", "number"]  # its type in the labelling rule language
    item: str  # loop variable name when a field holds one per variant
    rust_literal: Callable[
        [Any, str | None, Sequence[str]], str
    ]  # (value, enum, variants) -> literal


def f32_text(x: float) -> str:
    """The shortest decimal that reads back as the float32 `x`, as a Rust float literal.

    A longer one (Python's repr of the widened double) is what clippy's `excessive_precision`
    refuses; this one is exact all the same."""
    if not math.isfinite(x):
        raise ValueError(f"non-finite number {x!r} in a contract")
    if struct.unpack("f", struct.pack("f", x))[0] != x:
        raise ValueError(f"{x!r} is not a float32 value")
    text = repr(float(x))
    for digits in range(1, 10):
        text = f"{x:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == x:
            break
    return repr(float(text))  # the same digits, written as Python writes floats: `100.0`, `1e-07`


def _rust_f32(x: float) -> str:
    return f32_text(x) + "_f32"


VALUES: dict[str, ValueType] = {
    "variant": ValueType(
        "{enum}", "{enum}", "enum", "value", lambda v, enum, variants: f"{enum}::{variants[int(v)]}"
    ),
    "bool": ValueType(
        "bool", "bool", "bool", "flag", lambda v, enum, variants: "true" if v else "false"
    ),
    "float": ValueType("float", "f32", "number", "value", lambda v, enum, variants: _rust_f32(v)),
    "int_or_none": ValueType(
        "int | None",
        "Option<i64>",
        "number",
        "value",
        lambda v, enum, variants: "None" if v is None else f"Some({v})",
    ),
}

# ---------------------------------------------------------------- decode rules


# The numbers a rule's snippets use, by name: `{p}` a float parameter, `{n}`/`{none}` integers.
Numbers = dict[str, float]


def _no_numbers(param: float | None) -> Numbers:
    return {}


def _float_param(param: float | None) -> Numbers:
    assert param is not None
    return {"p": float(param)}


def _none_below(param: float | None) -> Numbers:
    """`n`: the smallest value that is not None; `none`: what None encodes as (one below `n`)."""
    assert param is not None
    n = int(param)
    return {"n": n, "none": n - 1}


def _round_half_away(x: np.ndarray) -> np.ndarray:
    import numpy as np

    # The contract rounds half away from zero (Rust's f64::round); numpy rounds half to even.
    rounded: np.ndarray = np.sign(x) * np.floor(np.abs(x) + 0.5)
    return rounded


def _np_argmax(x: np.ndarray, k: Numbers, variants: int) -> np.ndarray:
    import numpy as np

    out = np.zeros_like(x)
    out[np.arange(len(x)), x.argmax(axis=1)] = 1.0  # the first maximum wins, as in the decoders
    return out


def _np_threshold(x: np.ndarray, k: Numbers, variants: int) -> np.ndarray:
    decided: np.ndarray = (x > k["p"]).astype(x.dtype)  # p is the logit of the threshold
    return decided


def _np_cut(x: np.ndarray, k: Numbers, variants: int) -> np.ndarray:
    import numpy as np

    kept: np.ndarray = np.where(np.abs(x) > k["p"], x, 0.0)
    return kept


def _np_round_clamp(x: np.ndarray, k: Numbers, variants: int) -> np.ndarray:
    import numpy as np

    clamped: np.ndarray = np.clip(_round_half_away(x), 0, variants - 1)
    return clamped


def _np_round_or_none(x: np.ndarray, k: Numbers, variants: int) -> np.ndarray:
    import numpy as np

    r = _round_half_away(x)
    decoded: np.ndarray = np.where(r < k["n"], k["none"], r)
    return decoded


def _f32(x: float) -> float:
    (single,) = struct.unpack("f", struct.pack("f", x))
    return float(single)


def _f32_bits(x: float) -> int:
    (bits,) = struct.unpack("I", struct.pack("f", x))
    return int(bits)


def _f32_from_bits(bits: int) -> float:
    (single,) = struct.unpack("f", struct.pack("I", bits))
    return float(single)


def _toward_zero(x: float) -> float:
    """The float32 next to a nonzero float32 x, on the side of zero."""
    return _f32_from_bits(_f32_bits(x) - 1)


def _away_from_zero(x: float) -> float:
    return _f32_from_bits(_f32_bits(x) + 1)


def _threshold_edges(k: Numbers) -> list[float]:
    p = k["p"]
    # logit == threshold is false; raw logits between 0 and 0.5 are true at threshold 0.5 (defect 3).
    return [p, _f32(p + 2**-20), _f32(p - 2**-20), 0.3, 0.6, -0.3]


def _cut_edges(k: Numbers) -> list[float]:
    p = _f32(k["p"])
    return [p, _away_from_zero(p), -p, -_away_from_zero(p), 0.02, 0.0]


_ROUNDING_EDGES = [2.5, -0.5, 7.5, 100.0, _toward_zero(0.5), -1.5, 0.5, _toward_zero(-0.5)]


def _none_below_edges(k: Numbers) -> list[float]:
    # The rounding edges moved to none_below: each x.5 and its neighbour toward zero round to
    # different integers, so both sides of "below none_below" are reached.
    n = k["n"]
    return [
        n + 2.5,
        n - 0.5,
        n + 7.5,
        n + 100.0,
        _toward_zero(n + 0.5),
        n - 1.5,
        n + 0.5,
        _toward_zero(n - 0.5),
    ]


@dataclass(frozen=True)
class RuleRow:
    name: str
    value: str  # key of VALUES
    reduces: bool  # reads the whole field at once (argmax); otherwise each float alone
    decides: bool  # a class decision (scored by F1 when quantization is checked)
    numbers: Callable[[float | None], Numbers]  # the numbers its snippets use, from `param`
    py_decode: str  # expression: over {x}; reducing rules over {o}, {w}
    py_encode: (
        str  # label-space float of a decoded {x}; reducing rules: a statement over {ref}, {o}
    )
    rust_decode: str  # expression: over {x}; reducing rules over {o}, {w}
    numpy: Callable[
        [np.ndarray, Numbers, int], np.ndarray
    ]  # (field columns, numbers, enum size) -> labels
    edges: Callable[
        [Numbers], list[float]
    ]  # raw values at and beside the rule's edges (golden vectors)
    doc: str = ""

    @property
    def value_type(self) -> ValueType:
        return VALUES[self.value]


DECODE_RULES: dict[str, RuleRow] = {
    r.name: r
    for r in (
        RuleRow(
            "argmax",
            "variant",
            reduces=True,
            decides=True,
            numbers=_no_numbers,
            py_decode="_argmax(v, {o}, {enum})",
            py_encode="out[{o} + int({ref})] = 1.0",
            rust_decode="argmax(v, {o}, &{enum}::ALL)",
            numpy=_np_argmax,
            edges=lambda k: [1.0],  # ties: every field gets a one-hot per case
            doc="the largest output's variant; ties go to the lowest index",
        ),
        RuleRow(
            "sigmoid_threshold",
            "bool",
            reduces=False,
            decides=True,
            numbers=_float_param,
            py_decode="{x} > {p!r}",
            py_encode="1.0 if {x} else 0.0",
            rust_decode="flag({x}, {p!r}_f64)",
            numpy=_np_threshold,
            edges=_threshold_edges,
            doc="true when sigmoid(x) > threshold, compared in logit space",
        ),
        RuleRow(
            "identity",
            "float",
            reduces=False,
            decides=False,
            numbers=_no_numbers,
            py_decode="float({x})",
            py_encode="float({x})",
            rust_decode="{x}",
            numpy=lambda x, k, variants: x.copy(),
            edges=lambda k: [0.25, -3.5, 0.0],
            doc="the raw value",
        ),
        RuleRow(
            "abs_cutoff",
            "float",
            reduces=False,
            decides=False,
            numbers=_float_param,
            py_decode="_cut({x}, {p!r})",
            py_encode="float({x})",
            rust_decode="cut({x}, {p!r}_f64)",
            numpy=_np_cut,
            edges=_cut_edges,
            doc="the raw value, or 0 when |x| <= cutoff",
        ),
        RuleRow(
            "round_clamp",
            "variant",
            reduces=False,
            decides=False,
            numbers=_no_numbers,
            py_decode="_round_clamp({x}, {enum})",
            py_encode="float(int({x}))",
            rust_decode="round_clamp({x}, &{enum}::ALL)",
            numpy=_np_round_clamp,
            edges=lambda k: list(_ROUNDING_EDGES),
            doc="rounded half away from zero, clamped to a variant index",
        ),
        RuleRow(
            "round_or_none",
            "int_or_none",
            reduces=False,
            decides=False,
            numbers=_none_below,
            py_decode="_round_or_none({x}, {n})",
            py_encode="float({none} if {x} is None else {x})",
            rust_decode="round_or_none({x}, {n})",
            numpy=_np_round_or_none,
            edges=_none_below_edges,
            doc="rounded half away from zero; below none_below it is None, which encodes as none_below - 1",
        ),
    )
}

# ---------------------------------------------------------------- kinds

LOSSES: tuple[str, ...] = ("cross_entropy", "bce_with_logits", "mse")


@dataclass(frozen=True)
class KindRow:
    name: str
    doc: str
    losses: tuple[str, ...]
    rules: tuple[str, ...]
    enum: bool  # names an enum
    per_variant: bool  # one float per variant of the enum (else one float)
    values: Literal["one", "per_variant"]  # one value, or a tuple with one per variant
    label_path: PathKind | None  # labelling-language type of `head.field`, None: no such path
    variant_path: bool  # `head.field.Variant` paths exist (typed by the rule's value)
    train_metric: Literal["class_accuracy", "accuracy", "mae"]  # storyml.train.mlp field metrics
    measures: tuple[str, ...]  # storyml.evaluate character metrics

    @property
    def scores_per_variant(self) -> bool:
        """Labelling rules raise and lower one score per variant (`head.field.Variant`)."""
        return self.per_variant


OUTPUT_KINDS: dict[str, KindRow] = {
    k.name: k
    for k in (
        KindRow(
            "categorical",
            "one of an enum (one-hot)",
            ("cross_entropy",),
            ("argmax",),
            enum=True,
            per_variant=True,
            values="one",
            label_path="enum",
            variant_path=False,
            train_metric="class_accuracy",
            measures=("accuracy",),
        ),
        KindRow(
            "flag",
            "a yes/no (one logit)",
            ("bce_with_logits",),
            ("sigmoid_threshold",),
            enum=False,
            per_variant=False,
            values="one",
            label_path="bool",
            variant_path=False,
            train_metric="accuracy",
            measures=("accuracy",),
        ),
        KindRow(
            "flags",
            "a yes/no per enum variant",
            ("bce_with_logits",),
            ("sigmoid_threshold",),
            enum=True,
            per_variant=True,
            values="per_variant",
            label_path="flags",
            variant_path=True,
            train_metric="accuracy",
            measures=("accuracy",),
        ),
        KindRow(
            "scalar",
            "one real number",
            ("mse",),
            ("identity", "abs_cutoff", "round_or_none"),
            enum=False,
            per_variant=False,
            values="one",
            label_path="number",
            variant_path=False,
            train_metric="mae",
            measures=("mae",),
        ),
        KindRow(
            "scalars",
            "a real number per variant",
            ("mse",),
            ("identity", "abs_cutoff"),
            enum=True,
            per_variant=True,
            values="per_variant",
            label_path=None,
            variant_path=True,
            train_metric="mae",
            measures=("mae",),
        ),
        # The index is compared after decoding (rounded and clamped): exactly right, and how far off.
        KindRow(
            "index",
            "an index into an enum",
            ("mse",),
            ("round_clamp",),
            enum=True,
            per_variant=False,
            values="one",
            label_path="enum",
            variant_path=False,
            train_metric="accuracy",
            measures=("accuracy", "mae"),
        ),
    )
}


# ---------------------------------------------------------------- a field: kind and rule together


@dataclass(frozen=True)
class FieldForm:
    """What every consumer asks of one output field, answered from its kind's and rule's rows."""

    kind: KindRow
    rule: RuleRow
    enum: str | None
    param: float | None
    width: int = 0  # floats it spans; only the generated code and the golden vectors need it

    @classmethod
    def of(
        cls, kind: str, rule: str, enum: str | None, param: float | None, width: int = 0
    ) -> FieldForm:
        """Refuses a kind or rule not in the tables, and a rule its kind does not allow."""
        k, r = OUTPUT_KINDS[kind], DECODE_RULES[rule]
        if rule not in k.rules:
            raise ValueError(f"a {kind} field decodes with {' or '.join(k.rules)}, not {rule}")
        return cls(k, r, enum, param, width)

    @classmethod
    def of_info(cls, f: FieldInfoLike) -> FieldForm:
        """From the generated contract's FieldInfo (kind, decode, enum, width, param)."""
        return cls.of(f.kind, f.decode, f.enum, f.param, f.width)

    @property
    def value(self) -> ValueType:
        return self.rule.value_type

    @property
    def per_variant_values(self) -> bool:
        return self.kind.values == "per_variant"

    def _fmt(self, template: str, **where: Any) -> str:
        return template.format(enum=self.enum, **self.rule.numbers(self.param), **where)

    # -- types
    def py_annotation(self) -> str:
        one = self.value.py.format(enum=self.enum)
        return f"tuple[{one}, ...]" if self.per_variant_values else one

    def rust_type(self) -> str:
        one = self.value.rust.format(enum=self.enum)
        return f"[{one}; {self.width}]" if self.per_variant_values else one

    # -- generated code
    def py_decode(self, o: str) -> str:
        """`o`: the field's offset (its named constant in the generated code)."""
        if self.rule.reduces:
            return self._fmt(self.rule.py_decode, o=o, w=self.width)
        if self.per_variant_values:
            return f"tuple({self._fmt(self.rule.py_decode, x='x')} for x in _field(v, {o}, {self.width}))"
        return self._fmt(self.rule.py_decode, x=f"v[{o}]")

    def py_encode(self, ref: str, o: str, name: str) -> list[str]:
        """Statements writing the decoded value `ref` into `out` (label space)."""
        if self.rule.reduces:
            return [self._fmt(self.rule.py_encode, ref=ref, o=o)]
        if self.per_variant_values:
            item = self.value.item
            return [
                f'_check_width({ref}, {self.width}, "{name}")',
                f"for i, {item} in enumerate({ref}):",
                f"    out[{o} + i] = {self._fmt(self.rule.py_encode, x=item)}",
            ]
        return [f"out[{o}] = {self._fmt(self.rule.py_encode, x=ref)}"]

    def rust_decode(self, o: str) -> str:
        """A call of the crate's decode helpers over `v`, `o` the field's offset constant.

        A rule applied to each variant's float goes through `each(v, o, |x| rule)`."""
        if self.rule.reduces:
            return self._fmt(self.rule.rust_decode, o=o, w=self.width)
        if self.per_variant_values:
            return f"each(v, {o}, |x| {self._fmt(self.rule.rust_decode, x='x')})"
        return self._fmt(self.rule.rust_decode, x=f"v[{o}]")

    def rust_literal(self, value: Any, variants: Sequence[str]) -> str:
        """A decoded value as a Rust literal (golden vectors)."""
        lit = self.value.rust_literal
        if self.per_variant_values:
            return "[" + ", ".join(lit(x, self.enum, variants) for x in value) + "]"
        return lit(value, self.enum, variants)

    def edges(self) -> list[float]:
        return self.rule.edges(self.rule.numbers(self.param))

    # -- runtime
    def decode_numpy(self, x: np.ndarray, variants: int) -> np.ndarray:
        """[batch, width] raw outputs -> what encode_labels(decode_outputs(row)) writes, vectorised."""
        return self.rule.numpy(x, self.rule.numbers(self.param), variants)

    # -- labelling language
    def label_paths(
        self, base: str, variants: Sequence[str]
    ) -> dict[str, tuple[PathKind, str | None]]:
        """Path -> (type, enum) of every label path this field offers the rule language."""
        paths: dict[str, tuple[PathKind, str | None]] = {}
        if self.kind.label_path is not None:
            paths[base] = (
                self.kind.label_path,
                self.enum if self.kind.label_path in ("enum", "flags") else None,
            )
        if self.kind.variant_path:
            for v in variants:
                paths[f"{base}.{v}"] = (self.value.path, None)
        return paths

    def label_values(self, base: str, variants: Sequence[str], value: Any) -> dict[str, Any]:
        """The label paths of `label_paths`, filled with a resolved value."""
        out: dict[str, Any] = {}
        if self.kind.variant_path:
            out.update({f"{base}.{v}": x for v, x in zip(variants, value)})
        if self.kind.label_path is not None:
            out[base] = value
        return out


class _DecodeSpec(Protocol):
    @property
    def rule(self) -> str: ...

    @property
    def param(self) -> float | None: ...


class OutputFieldSpec(Protocol):
    """What `field_form` reads of an output field spec (codegen.spec.models.OutputField, which
    imports this module)."""

    @property
    def kind(self) -> str: ...

    @property
    def enum(self) -> str | None: ...

    @property
    def decode(self) -> _DecodeSpec: ...


class FieldInfoLike(Protocol):
    """What `FieldForm.of_info` reads of the generated contract's FieldInfo."""

    @property
    def kind(self) -> str: ...

    @property
    def decode(self) -> str: ...

    @property
    def enum(self) -> str | None: ...

    @property
    def param(self) -> float | None: ...

    @property
    def width(self) -> int: ...


def field_form(spec: OutputFieldSpec, width: int = 0) -> FieldForm:
    """The form of an `OutputField` spec model (laid out `width` floats wide, when that matters)."""
    return FieldForm.of(spec.kind, spec.decode.rule, spec.enum, spec.decode.param, width)


def field_width(kind: str, variants: int) -> int:
    return variants if OUTPUT_KINDS[kind].per_variant else 1
