"""Golden vectors: the generated Python computes them, the generated Rust tests check them.

`storyml gen` renders the Python package, imports that very text from a
temporary directory, runs its `encode_features` and `decode_outputs` on
deterministic inputs (random ones plus edge cases at every decode threshold)
and writes the inputs and results into `rust/tests/golden.rs`. `cargo test`
then proves the Rust side computes what the Python side computes.

All numbers are exactly representable in f32, so both sides see the same
values and the comparisons can be exact.
"""

from __future__ import annotations

import importlib.util
import random
import struct
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from codegen.generators.common import comment_header, feature_records
from codegen.generators.literals import rust_f32, rust_str
from codegen.generators.python import PACKAGE, render_python
from codegen.spec import names
from codegen.spec.contract import Contract
from codegen.spec.layout import FeatureLayout, OutputLayout
from codegen.spec.names import pascal_identifier
from codegen.spec.output_kinds import DECODE_RULES, field_form

RANDOM_FEATURE_CASES = 6
RANDOM_OUTPUT_CASES = 6
# Names with non-ASCII letters and mixed case: sorting must agree on both sides.
KEY_WORDS = ("anger", "Zoë", "empathy", "awe", "łaska", "Ægir", "trust", "joy_wonder", "zeal",
             "ardor", "bliss", "calm", "dread", "élan", "grief", "hope", "irony", "kin", "lust",
             "mirth", "nerve")


def f32(x: float) -> float:
    """The nearest float32, as a Python float (exact in both languages)."""
    return struct.unpack("f", struct.pack("f", x))[0]


def load_generated_python(c: Contract) -> dict[str, ModuleType]:
    """Import the rendered package from a temporary directory, under a private name."""
    files = render_python(c)
    pkg_name = f"_storyml_contract_golden_{c.fingerprint}"
    with tempfile.TemporaryDirectory(prefix="storyml-golden-") as tmp_dir:
        tmp = Path(tmp_dir)
        for rel, text in files.items():
            path = tmp / Path(rel).relative_to(PACKAGE)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(pkg_name, tmp / "__init__.py",
                                                      submodule_search_locations=[str(tmp)])
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[pkg_name] = module
        try:
            spec.loader.exec_module(module)  # the package imports every submodule eagerly
            return {name: sys.modules[f"{pkg_name}.{name}"]
                    for name in ["enums", "text", *c.features, *c.outputs]}
        finally:
            for key in [k for k in sys.modules if k == pkg_name or k.startswith(pkg_name + ".")]:
                del sys.modules[key]


# ---------------------------------------------------------------- feature inputs


class _FeatureCaseBuilder:
    """Random records built twice in lockstep: as Python objects and as Rust literals."""

    def __init__(self, c: Contract, layout: FeatureLayout, mods: dict[str, ModuleType], rng: random.Random):
        self.c, self.layout, self.rng = c, layout, rng
        self.py = mods[layout.name]
        self.enums = mods["enums"]
        self.shapes = {r.name: r for r in feature_records(layout)[0]}
        self.region_records = feature_records(layout)[1]

    def scalar(self) -> tuple[float, str]:
        x = f32(self.rng.randint(-4000, 4000) / 256)
        return x, rust_f32(x)

    def variant(self, enum: str) -> tuple[Any, str]:
        i = self.rng.randrange(len(self.c.enums[enum]))
        return getattr(self.enums, enum)(i), f"{enum}::{self.c.enums[enum][i]}"

    def record(self, name: str, sparse: float) -> tuple[Any, str]:
        shape = self.shapes[name]
        kwargs, parts = {}, []
        for f in shape.fields:
            if f.onehot is not None:
                if self.rng.random() < sparse:
                    kwargs[f.name], lit = None, "None"
                else:
                    kwargs[f.name], v = self.variant(f.onehot)
                    lit = f"Some({v})"
            elif f.type is not None:
                if self.rng.random() < sparse:
                    kwargs[f.name], lit = None, "None"
                else:
                    kwargs[f.name], v = self.record(f.type, sparse)
                    lit = f"Some({v})"
            else:
                kwargs[f.name], lit = self.scalar()
            parts.append(f"{f.name}: {lit}")
        return getattr(self.py, name)(**kwargs), f"{name} {{ {', '.join(parts)} }}"

    def features(self, fill: float, sparse: float) -> tuple[Any, str]:
        kwargs, parts = {}, []
        for r in self.layout.regions:
            if r.record is not None:
                kwargs[r.name], lit = self.record(self.region_records[r.name], sparse)
            elif r.slot_enum is not None:
                variants = self.c.enums[r.slot_enum]
                chosen = {i: self.record(r.item, sparse) for i in range(len(variants)) if self.rng.random() < fill}
                kwargs[r.name] = {getattr(self.enums, r.slot_enum)(i): v[0] for i, v in chosen.items()}
                lit = "[" + ", ".join(f"Some({chosen[i][1]})" if i in chosen else "None"
                                      for i in range(len(variants))) + "]"
            elif r.keyed == "sorted":
                # full cases overfill: keys past the last slot must be dropped
                n = r.slot_count + 3 if fill == 1.0 else self.rng.randint(0, int((r.slot_count + 3) * fill))
                keys = self.rng.sample(KEY_WORDS + tuple(f"axis_{i:02d}" for i in range(40)), n)
                items = [(k, self.record(r.item, sparse)) for k in keys]
                kwargs[r.name] = {k: v[0] for k, v in items}
                lit = ("BTreeMap::from([" + ", ".join(f"(String::from({rust_str(k)}), {v[1]})" for k, v in items)
                       + "])") if items else "BTreeMap::new()"
            else:
                n = r.slot_count + 2 if fill == 1.0 else self.rng.randint(0, int((r.slot_count + 2) * fill))
                items = [None if self.rng.random() < sparse else self.record(r.item, sparse) for _ in range(n)]
                kwargs[r.name] = [None if v is None else v[0] for v in items]
                lit = "vec![" + ", ".join("None" if v is None else f"Some({v[1]})" for v in items) + "]"
            parts.append(f"{r.name}: {lit}")
        top = names.top_type(self.layout.name)
        return getattr(self.py, top)(**kwargs), f"{top} {{ {', '.join(parts)} }}"


def _feature_cases(c: Contract, layout: FeatureLayout, mods, rng) -> list[tuple[str, str, list[float]]]:
    b = _FeatureCaseBuilder(c, layout, mods, rng)
    cases = [("empty", *b.features(fill=0.0, sparse=1.0))]
    cases += [(f"full_{i}", *b.features(fill=1.0, sparse=0.0)) for i in range(2)]
    cases += [(f"random_{i}", *b.features(fill=rng.random(), sparse=rng.random() * 0.5))
              for i in range(RANDOM_FEATURE_CASES)]
    return [(name, lit, b.py.encode_features(obj)) for name, obj, lit in cases]


# ---------------------------------------------------------------- output vectors

def _output_cases(layout: OutputLayout, rng) -> list[tuple[str, list[float]]]:
    cases = []
    for i in range(RANDOM_OUTPUT_CASES):
        cases.append((f"random_{i}", [f32(rng.randint(-2000, 2000) / 256) for _ in range(layout.total)]))
    # Ties everywhere: every argmax must pick the lowest index.
    cases.append(("ties", [1.0] * layout.total))
    fields = [f for h in layout.heads for f in h.fields]
    # Values at and beside every decode rule's edges, in the rule's own terms (RuleRow.edges).
    edges = {id(f): field_form(f.spec, f.width).edges() for f in fields}
    for j in range(max(len(v) for v in edges.values())):
        v = [0.0] * layout.total
        for f in fields:
            values = edges[id(f)]
            for k in range(f.width):
                v[f.offset + k] = float(k == j % f.width) if DECODE_RULES[f.spec.decode.rule].reduces else \
                    values[(j + k) % len(values)]
        cases.append((f"edges_{j}", [f32(x) for x in v]))
    return cases


def _rust_output_literal(c: Contract, layout: OutputLayout, decoded: Any) -> str:
    heads = []
    for h in layout.heads:
        obj = getattr(decoded, h.name)
        parts = []
        for f in h.fields:
            value = getattr(obj, f.name)
            literal = field_form(f.spec, f.width).rust_literal(value, c.enums.get(f.spec.enum or "", []))
            parts.append(f"{f.name}: {literal}")
        heads.append(f"{h.name}: {names.head_type(h.name)} {{ {', '.join(parts)} }}")
    return f"{names.top_type(layout.name)} {{ {', '.join(heads)} }}"


# ---------------------------------------------------------------- BIO span assembly


def _span_cases(c: Contract, rng: random.Random) -> list[tuple[list[int], list[bool], list[bool]]]:
    """(tags, special, continues_word) sequences that exercise every assembly and word rule,
    then random ones."""
    b = {cat: c.bio_labels.index(f"B-{cat}") for cat in c.entity_categories}
    i = {cat: c.bio_labels.index(f"I-{cat}") for cat in c.entity_categories}
    x, y = c.entity_categories[0], c.entity_categories[-1]
    f, t = False, True
    cases = [
        ([], [], []),
        ([0, b[x], i[x], i[x], 0], [t, f, f, f, t], [f] * 5),  # [CLS] B I I [SEP]
        ([0, i[x], i[x], 0], [t, f, f, t], [f] * 4),  # orphan I- never opens a span
        ([0, b[x], i[y], i[x], 0], [t] + [f] * 3 + [t], [f] * 5),  # mismatched I- closes
        ([0, b[x], b[x], i[x], 0], [t] + [f] * 3 + [t], [f] * 5),  # adjacent entities stay apart
        ([b[x], i[x], b[y], i[y]], [f] * 4, [f] * 4),  # spans run to the end without a [SEP]
        ([0, b[x], i[x], 0, i[x]], [t, f, f, t, f], [f] * 5),  # a special token closes
        # Words: "the c ##ounc ##il": a span never ends inside a word ...
        ([0, b[x], i[x], 0, 0, 0], [t, f, f, f, f, t], [f, f, f, t, t, f]),
        # ... nor starts inside one ("the co ##un ##cil" tagged O O B I)
        ([0, 0, 0, b[x], i[x], 0], [t, f, f, f, f, t], [f, f, f, t, t, f]),
        # a B- on a word's later sub-word does not split the word
        ([0, b[x], b[y], i[y], 0], [t, f, f, f, t], [f, f, t, f, f]),
        # an orphan I- word stays an orphan; a mismatched one closes the span before it
        ([0, i[x], b[x], b[x], i[y], b[y], 0], [t] + [f] * 5 + [t], [f, f, t, f, f, t, f]),
        # the flag means nothing on the first token, on special tokens and after one
        ([b[x], 0, i[x], 0], [f, t, f, t], [t, t, t, t]),
    ]
    for _ in range(12):
        n = rng.randint(1, 24)
        cases.append(([rng.randrange(len(c.bio_labels)) for _ in range(n)],
                      [rng.random() < 0.1 for _ in range(n)],
                      [rng.random() < 0.4 for _ in range(n)]))
    return cases


def _bools(flags: list[bool]) -> str:
    return "[" + ", ".join(str(f).lower() for f in flags) + "][..]"


def _span_tests(c: Contract, text: ModuleType, rng: random.Random) -> list[str]:
    out = ["#[test]", "fn assemble_spans_matches_python() {"]
    idents = [pascal_identifier(cat) for cat in c.entity_categories]
    for tags, special, continues in _span_cases(c, rng):
        spans = text.assemble_spans(tags, special, continues)
        snapped = text.word_tags(tags, special, continues)
        expected = ", ".join(f"TokenSpan {{ first: {a}, end: {z}, category: EntityCategory::{idents[k]} }}"
                             for a, z, k in spans)
        args = f"&{tags}[..], &{_bools(special)}, &{_bools(continues)}"
        out.append(f"    assert_eq!(word_tags({args}), vec!{snapped});")
        out.append(f"    assert_eq!(assemble_spans({args}), vec![{expected}]);")
    return out + ["}", ""]


# ---------------------------------------------------------------- the test file


def render_golden_tests(c: Contract) -> str:
    rng = random.Random(int(c.fingerprint, 16))
    mods = load_generated_python(c)
    out = [comment_header(c, "//"),
           "//! Golden vectors computed by the generated Python; the Rust side must agree exactly.",
           "",
           "#![allow(clippy::all)]",
           "",
           "use std::collections::BTreeMap;",
           "",
           "use storyml_contract::*;",
           ""]
    for name in sorted(c.features):
        layout = c.features[name]
        out.append(f"use storyml_contract::{name}::*;")
    for name in sorted(c.outputs):
        out.append(f"use storyml_contract::{name}::*;")
    out.append("")
    for name in sorted(c.features):
        layout = c.features[name]
        for case, literal, expected in _feature_cases(c, layout, mods, rng):
            out += [
                "#[test]",
                f"fn {name}_encode_{case}() {{",
                f"    let input = {literal};",
                f"    let expected: [f32; {layout.total}] = [{', '.join(rust_f32(x) for x in expected)}];",
                f"    let got = {name}::encode_features(&input);",
                "    for i in 0..expected.len() {",
                f"        assert_eq!(got[i].to_bits(), expected[i].to_bits(), \"feature {{}} ({{}})\", i, {name}::FEATURE_NAMES[i]);",
                "    }",
                "}",
                ""]
    for name in sorted(c.outputs):
        layout = c.outputs[name]
        module = mods[name]
        for case, vector in _output_cases(layout, rng):
            decoded = module.decode_outputs(vector)
            out += [
                "#[test]",
                f"fn {name}_decode_{case}() {{",
                f"    let raw: [f32; {layout.total}] = [{', '.join(rust_f32(x) for x in vector)}];",
                f"    let expected = {_rust_output_literal(c, layout, decoded)};",
                f"    assert_eq!({name}::decode_outputs(&raw).unwrap(), expected);",
                "}",
                ""]
    text = mods["text"]
    probes = list(c.bio_labels) + ["", "B-", "I-", "X-" + c.entity_categories[0], c.bio_labels[1].lower(), "O "]
    out += ["#[test]", "fn bio_label_helpers_match_python() {"]
    for label in probes:
        cat = text.bio_label_to_category(label)
        out.append(f"    assert_eq!(bio_label_to_category({rust_str(label)}), "
                   f"{'None' if cat is None else f'Some({rust_str(cat)})'});")
        out.append(f"    assert_eq!(is_begin_tag({rust_str(label)}), {str(text.is_begin_tag(label)).lower()});")
        out.append(f"    assert_eq!(is_inside_tag({rust_str(label)}), {str(text.is_inside_tag(label)).lower()});")
    out += ["}", ""]
    out += _span_tests(c, text, rng)
    out += ["#[test]",
            "fn decode_rejects_wrong_length_and_non_finite() {"]
    for name in sorted(c.outputs):
        out += [f"    assert!({name}::decode_outputs(&[0.0_f32; {c.outputs[name].total - 1}]).is_err());",
                f"    let mut raw = [0.0_f32; {c.outputs[name].total}];",
                "    raw[0] = f32::NAN;",
                f"    assert!({name}::decode_outputs(&raw).is_err());"]
    out += ["}", ""]
    return "\n".join(out)
