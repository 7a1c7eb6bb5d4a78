"""Golden vectors: the generated Python computes them, the generated Rust tests check them.

`storyml gen` renders the Python package, imports that very text from a
temporary directory, runs its `encode_features` and `decode_outputs` on
deterministic inputs (random ones plus edge cases at every decode threshold)
and writes the inputs and results into `rust/tests/golden.rs`. `cargo test`
then proves the Rust side computes what the Python side computes.

All numbers are exactly representable in f32, so both sides see the same
values and the comparisons can be exact. The file is laid out as rustfmt
would lay it out (`rust_layout`): data as struct literals and arrays, the
checks in small helper functions.
"""

from __future__ import annotations

import importlib.util
import random
import re
import struct
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from codegen.generators.common import comment_header, feature_records
from codegen.generators.literals import rust_str
from codegen.generators.python import PACKAGE, render_python
from codegen.generators.rust_layout import Array, Atom, Call, Node, Struct, statement, use_list
from codegen.spec import names
from codegen.spec.contract import Contract
from codegen.spec.layout import FeatureLayout, OutputLayout
from codegen.spec.output_kinds import DECODE_RULES, f32_text, field_form

RANDOM_FEATURE_CASES = 6
RANDOM_OUTPUT_CASES = 6
# Names with non-ASCII letters and mixed case: sorting must agree on both sides.
KEY_WORDS = (
    "anger",
    "Zoë",
    "empathy",
    "awe",
    "łaska",
    "Ægir",
    "trust",
    "joy_wonder",
    "zeal",
    "ardor",
    "bliss",
    "calm",
    "dread",
    "élan",
    "grief",
    "hope",
    "irony",
    "kin",
    "lust",
    "mirth",
    "nerve",
)


def f32(x: float) -> float:
    """The nearest float32, as a Python float (exact in both languages)."""
    (single,) = struct.unpack("f", struct.pack("f", x))
    return float(single)


def load_generated_python(
    c: Contract, files: dict[str, str] | None = None
) -> dict[str, ModuleType]:
    """Import the rendered package (`files`, else rendered here) from a temporary directory,
    under a private name."""
    files = render_python(c) if files is None else files
    pkg_name = f"_storyml_contract_golden_{c.fingerprint}"
    with tempfile.TemporaryDirectory(prefix="storyml-golden-") as tmp_dir:
        tmp = Path(tmp_dir)
        for rel, text in files.items():
            path = tmp / Path(rel).relative_to(PACKAGE)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(
            pkg_name, tmp / "__init__.py", submodule_search_locations=[str(tmp)]
        )
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[pkg_name] = module
        try:
            spec.loader.exec_module(module)  # the package imports every submodule eagerly
            return {
                name: sys.modules[f"{pkg_name}.{name}"]
                for name in ["enums", "text", *c.features, *c.outputs]
            }
        finally:
            for key in [k for k in sys.modules if k == pkg_name or k.startswith(pkg_name + ".")]:
                del sys.modules[key]


# ---------------------------------------------------------------- feature inputs


def _some_or_none(value: Any, node: Node | None) -> Node:
    return Atom("None") if node is None else Call("Some", (node,))


class _FeatureCaseBuilder:
    """Random records built twice in lockstep: as Python objects and as Rust literals."""

    def __init__(
        self, c: Contract, layout: FeatureLayout, mods: dict[str, ModuleType], rng: random.Random
    ):
        self.c, self.layout, self.rng = c, layout, rng
        self.py = mods[layout.name]
        self.enums = mods["enums"]
        self.shapes = {r.name: r for r in feature_records(layout)[0]}
        self.region_records = feature_records(layout)[1]

    def scalar(self) -> tuple[float, Node]:
        x = f32(self.rng.randint(-4000, 4000) / 256)
        return x, Atom(f32_text(x))

    def variant(self, enum: str) -> tuple[Any, Node]:
        i = self.rng.randrange(len(self.c.enums[enum]))
        return getattr(self.enums, enum)(i), Atom(f"{enum}::{self.c.enums[enum][i]}")

    def record(self, name: str, sparse: float) -> tuple[Any, Node]:
        shape = self.shapes[name]
        kwargs: dict[str, Any] = {}
        fields: list[tuple[str, Node]] = []
        for f in shape.fields:
            node: Node
            if f.onehot is not None or f.type is not None:
                if self.rng.random() < sparse:
                    kwargs[f.name], node = None, Atom("None")
                else:
                    value, inner = (
                        self.variant(f.onehot)
                        if f.onehot is not None
                        else self.record(f.type or "", sparse)
                    )
                    kwargs[f.name], node = value, Call("Some", (inner,))
            else:
                kwargs[f.name], node = self.scalar()
            fields.append((f.name, node))
        return getattr(self.py, name)(**kwargs), Struct(name, tuple(fields))

    def features(self, fill: float, sparse: float) -> tuple[Any, Node]:
        """A whole input; `fill` 1.0 fills every slot region to capacity."""
        kwargs: dict[str, Any] = {}
        fields: list[tuple[str, Node]] = []
        for r in self.layout.regions:
            node: Node
            if r.record is not None:
                kwargs[r.name], node = self.record(self.region_records[r.name], sparse)
            elif r.slot_enum is not None:
                variants = self.c.enums[r.slot_enum]
                chosen = {
                    i: self.record(r.item or "", sparse)
                    for i in range(len(variants))
                    if self.rng.random() < fill
                }
                kwargs[r.name] = {
                    getattr(self.enums, r.slot_enum)(i): v[0] for i, v in chosen.items()
                }
                node = Array(
                    tuple(
                        Call("Some", (chosen[i][1],)) if i in chosen else Atom("None")
                        for i in range(len(variants))
                    )
                )
            elif r.keyed == "sorted":
                n = r.slot_count if fill == 1.0 else self.rng.randint(0, int(r.slot_count * fill))
                keys = self.rng.sample(KEY_WORDS + tuple(f"axis_{i:02d}" for i in range(40)), n)
                items = [(k, self.record(r.item or "", sparse)) for k in keys]
                kwargs[r.name] = {k: v[0] for k, v in items}
                pairs = tuple(
                    Call("", (Call("String::from", (Atom(rust_str(k)),)), v[1])) for k, v in items
                )
                node = Call("BTreeMap::from", (Array(pairs),)) if items else Atom("BTreeMap::new()")
            else:
                n = r.slot_count if fill == 1.0 else self.rng.randint(0, int(r.slot_count * fill))
                made = [
                    None if self.rng.random() < sparse else self.record(r.item or "", sparse)
                    for _ in range(n)
                ]
                kwargs[r.name] = [None if v is None else v[0] for v in made]
                node = Array(
                    tuple(Atom("None") if v is None else Call("Some", (v[1],)) for v in made),
                    prefix="vec!",
                )
            fields.append((r.name, node))
        top = names.top_type(self.layout.name)
        return getattr(self.py, top)(**kwargs), Struct(top, tuple(fields))


def _feature_cases(
    c: Contract, layout: FeatureLayout, mods: dict[str, ModuleType], rng: random.Random
) -> list[tuple[str, Node, list[float]]]:
    b = _FeatureCaseBuilder(c, layout, mods, rng)
    cases = [("empty", *b.features(fill=0.0, sparse=1.0))]
    cases += [(f"full_{i}", *b.features(fill=1.0, sparse=0.0)) for i in range(2)]
    cases += [
        (f"random_{i}", *b.features(fill=rng.random(), sparse=rng.random() * 0.5))
        for i in range(RANDOM_FEATURE_CASES)
    ]
    return [(name, node, b.py.encode_features(obj)) for name, obj, node in cases]


def _nonzero(vector: list[float]) -> Node:
    """`&[(index, value), ..]` of every float whose bits are not those of +0.0."""
    pairs = [(i, x) for i, x in enumerate(vector) if struct.pack("f", x) != bytes(4)]
    return Array(tuple(Call("", (Atom(str(i)), Atom(f32_text(x)))) for i, x in pairs), prefix="&")


def _feature_tests(c: Contract, name: str, cases: list[tuple[str, Node, list[float]]]) -> list[str]:
    layout = c.features[name]
    top = names.top_type(name)
    out = [
        f"/// Encodes `input` and compares every float of `{name}`, bit for bit, with",
        "/// `nonzero` (the floats that are not 0.0).",
        f"fn check_{name}(input: &{top}, nonzero: &[(usize, f32)]) {{",
        f'    let got = {name}::encode_features(input).expect("every region fits its slots");',
        f"    let mut expected = [0.0_f32; {name}::TOTAL];",
        "    for &(i, x) in nonzero {",
        "        expected[i] = x;",
        "    }",
        "    for (i, (g, e)) in got.iter().zip(expected.iter()).enumerate() {",
        f"        let feature = {name}::FEATURE_NAMES[i];",
        '        assert_eq!(g.to_bits(), e.to_bits(), "feature {i} ({feature})");',
        "    }",
        "}",
        "",
    ]
    for case, node, expected in cases:
        out += [
            "#[test]",
            f"fn {name}_encode_{case}() {{",
            statement("let input = ", node, 4),
            statement("let expected: &[(usize, f32)] = ", _nonzero(expected), 4),
            f"    check_{name}(&input, expected);",
            "}",
            "",
        ]
    for r in layout.regions:
        if not r.is_slots or r.slot_enum is not None:
            continue
        const = f"{name}::{names.region_constants(r.name, r.is_slots)['slots']}"
        out += ["#[test]", f"fn {name}_refuses_more_{r.name}_than_slots() {{"]
        if r.keyed == "sorted":
            out += [
                f"    let mut input = {top}::default();",
                f"    for i in 0..={const} {{",
                '        let key = format!("item {i}");',
                f"        input.{r.name}.insert(key, {r.item}::default());",
                "    }",
            ]
        else:
            out += [
                f"    let input = {top} {{",
                f"        {r.name}: vec![None; {const} + 1],",
                f"        ..{top}::default()",
                "    };",
            ]
        error = Struct(
            "EncodeError::TooManyItems",
            (
                ("region", Atom(rust_str(r.name))),
                ("slots", Atom(const)),
                ("found", Atom(f"{const} + 1")),
            ),
        )
        out += [
            statement("let error = ", error, 4),
            statement(
                "",
                Call(
                    "assert_eq!",
                    (
                        Call(f"{name}::encode_features", (Atom("&input"),)),
                        Call("Err", (Atom("error"),)),
                    ),
                ),
                4,
            ),
            "}",
            "",
        ]
    return out


# ---------------------------------------------------------------- output vectors


def _output_cases(layout: OutputLayout, rng: random.Random) -> list[tuple[str, list[float]]]:
    cases = []
    for i in range(RANDOM_OUTPUT_CASES):
        cases.append(
            (f"random_{i}", [f32(rng.randint(-2000, 2000) / 256) for _ in range(layout.total)])
        )
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
                v[f.offset + k] = (
                    float(k == j % f.width)
                    if DECODE_RULES[f.spec.decode.rule].reduces
                    else values[(j + k) % len(values)]
                )
        cases.append((f"edges_{j}", [f32(x) for x in v]))
    return cases


def _rust_output_literal(c: Contract, layout: OutputLayout, decoded: Any) -> Node:
    heads = []
    for h in layout.heads:
        obj = getattr(decoded, h.name)
        fields: list[tuple[str, Node]] = []
        for f in h.fields:
            value = getattr(obj, f.name)
            form = field_form(f.spec, f.width)
            variants = c.enums.get(f.spec.enum or "", [])
            literal = form.value.rust_literal
            node: Node = (
                Array(tuple(Atom(literal(x, f.spec.enum, variants)) for x in value))
                if form.per_variant_values
                else Atom(literal(value, f.spec.enum, variants))
            )
            fields.append((f.name, node))
        heads.append((h.name, Struct(names.head_type(h.name), tuple(fields))))
    return Struct(names.top_type(layout.name), tuple(heads))


def _output_tests(c: Contract, name: str, module: ModuleType, rng: random.Random) -> list[str]:
    layout = c.outputs[name]
    out = []
    for case, vector in _output_cases(layout, rng):
        decoded = module.decode_outputs(vector)
        raw = Array(tuple(Atom(f32_text(x)) for x in vector))
        out += [
            "#[test]",
            f"fn {name}_decode_{case}() {{",
            statement(f"let raw: [f32; {layout.total}] = ", raw, 4),
            statement("let expected = ", _rust_output_literal(c, layout, decoded), 4),
            statement(
                "",
                Call(
                    "assert_eq!",
                    (
                        Call(f"{name}::decode_outputs", (Atom("&raw"),)),
                        Call("Ok", (Atom("expected"),)),
                    ),
                ),
                4,
            ),
            "}",
            "",
        ]
    return out


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
        cases.append(
            (
                [rng.randrange(len(c.bio_labels)) for _ in range(n)],
                [rng.random() < 0.1 for _ in range(n)],
                [rng.random() < 0.4 for _ in range(n)],
            )
        )
    return cases


def _ref_array(items: list[Any]) -> Node:
    return Array(
        tuple(Atom(str(x).lower() if isinstance(x, bool) else str(x)) for x in items), prefix="&"
    )


def _check_and_test(
    helper: str, first: tuple[str, str], per_token: tuple[str, str, str], spans: str, test: str
) -> list[str]:
    """A helper comparing a per-token function and a span function with the Python results
    (`first` is the sequence both read, with `special` and `continues_word`), then the opening
    of the test that calls it once per case."""
    seq, item = first
    tokens_fn, tokens, token_type = per_token
    args = f"{seq}, special, continues_word"
    return [
        f"/// `{tokens_fn}` and `{spans}` of one sequence, against the Python results.",
        f"fn {helper}(",
        f"    {seq}: &[{item}],",
        "    special: &[bool],",
        "    continues_word: &[bool],",
        f"    {tokens}: &[{token_type}],",
        "    spans: &[TokenSpan],",
        ") {",
        f"    assert_eq!({tokens_fn}({args}), {tokens});",
        f"    assert_eq!({spans}({args}), spans);",
        "}",
        "",
        "#[test]",
        f"fn {test}() {{",
    ]


def _span_tests(c: Contract, text: ModuleType, rng: random.Random) -> list[str]:
    out = _check_and_test(
        "check_spans",
        ("tags", "usize"),
        ("word_tags", "words", "usize"),
        "assemble_spans",
        "assemble_spans_matches_python",
    )
    for tags, special, continues in _span_cases(c, rng):
        spans = text.assemble_spans(tags, special, continues)
        snapped = text.word_tags(tags, special, continues)
        out.append(
            statement(
                "",
                Call(
                    "check_spans",
                    (
                        _ref_array(tags),
                        _ref_array(special),
                        _ref_array(continues),
                        _ref_array(snapped),
                        _token_spans(c, spans),
                    ),
                ),
                4,
            )
        )
    return out + ["}", ""]


def _score_cases(
    c: Contract, rng: random.Random
) -> list[tuple[list[list[int]], list[bool], list[bool]]]:
    """(scores, special, continues_word) with small integer scores (exact in f32 and f64 sums, so
    both languages meet the same ties): a span the argmax would split, then random ones."""
    n = len(c.bio_labels)

    def row(**values: int) -> list[int]:
        out = [0] * n
        for label, value in values.items():
            out[c.bio_labels.index(label.replace("_", "-"))] = value
        return out

    x, y = c.entity_categories[0], c.entity_categories[-1]
    f, t = False, True
    cases = [
        ([], [], []),
        (
            [
                row(O=5),
                row(**{f"B_{y}": 3, f"B_{x}": 2}),
                row(**{f"I_{x}": 4, f"I_{y}": 1}),
                row(**{f"I_{x}": 4}),
                row(O=5),
            ],
            [t, f, f, f, t],
            [f] * 5,
        ),
    ]
    for _ in range(12):
        k = rng.randint(1, 16)
        cases.append(
            (
                [[rng.randint(-3, 3) for _ in range(n)] for _ in range(k)],
                [rng.random() < 0.1 for _ in range(k)],
                [rng.random() < 0.3 for _ in range(k)],
            )
        )
    return cases


def _token_spans(c: Contract, spans: list[tuple[int, int, int]]) -> Node:
    idents = [names.pascal_identifier(cat) for cat in c.entity_categories]
    return Array(
        tuple(
            Struct(
                "TokenSpan",
                (
                    ("first", Atom(str(a))),
                    ("end", Atom(str(z))),
                    ("category", Atom(f"EntityCategory::{idents[k]}")),
                ),
            )
            for a, z, k in spans
        ),
        prefix="&",
    )


def _decode_tests(c: Contract, text: ModuleType, rng: random.Random) -> list[str]:
    out = _check_and_test(
        "check_decoding",
        ("scores", "[f32; NUM_BIO_LABELS]"),
        ("decode_tags", "tags", "usize"),
        "spans_from_scores",
        "decode_tags_matches_python",
    )
    for scores, special, continues in _score_cases(c, rng):
        tags = text.decode_tags(scores, special, continues)
        spans = text.spans_from_scores(scores, special, continues)
        rows = Array(tuple(Array(tuple(Atom(f"{v}.0") for v in r)) for r in scores), prefix="&")
        out.append(
            statement(
                "",
                Call(
                    "check_decoding",
                    (
                        rows,
                        _ref_array(special),
                        _ref_array(continues),
                        _ref_array(tags),
                        _token_spans(c, spans),
                    ),
                ),
                4,
            )
        )
    return out + ["}", ""]


def _event_decode_tests(c: Contract, text: ModuleType, rng: random.Random) -> list[str]:
    """`decode_event_kinds` against Python: no logits, every kind below the threshold (where
    EVENT_AT_LEAST_ONE decides), a tie for the largest, then random rows. Quarter steps are exact
    in f32 and f64, and never equal to the threshold unless it is one itself."""
    n = len(c.event_kinds)
    rows: list[list[float]] = [[], [-4.0] * n, [-3.0] * (n - 1) + [-2.5], [1.5] * n]
    rows += [[rng.randint(-16, 16) / 4 for _ in range(n)] for _ in range(12)]
    cases = [
        Call(
            "",
            (
                Array(tuple(Atom(f"{v:.2f}") for v in row), prefix="&"),
                _ref_array(text.decode_event_kinds(row)),
            ),
        )
        for row in rows
    ]
    return [
        "/// One sentence's event logits, with the kinds the Python side decodes from them.",
        statement(
            f"const EVENT_DECODE_CASES: [(&[f32], &[usize]); {len(cases)}] = ",
            Array(tuple(cases)),
            0,
        ),
        "",
        "#[test]",
        "fn decode_event_kinds_matches_python() {",
        "    for (logits, kinds) in EVENT_DECODE_CASES {",
        '        assert_eq!(decode_event_kinds(logits), kinds, "{logits:?}");',
        "    }",
        "}",
        "",
    ]


def _bio_label_tests(c: Contract, text: ModuleType) -> list[str]:
    probes = list(c.bio_labels) + [
        "",
        "B-",
        "I-",
        "X-" + c.entity_categories[0],
        c.bio_labels[1].lower(),
        "O ",
    ]
    rows = []
    for label in probes:
        cat = text.bio_label_to_category(label)
        rows.append(
            Call(
                "",
                (
                    Atom(rust_str(label)),
                    Atom("None") if cat is None else Call("Some", (Atom(rust_str(cat)),)),
                    Atom(str(text.is_begin_tag(label)).lower()),
                    Atom(str(text.is_inside_tag(label)).lower()),
                ),
            )
        )
    return [
        "/// Labels with what the Python side says of them: category, begins a span, continues one.",
        statement(
            f"const BIO_PROBES: [(&str, Option<&str>, bool, bool); {len(rows)}] = ",
            Array(tuple(rows)),
            0,
        ),
        "",
        "#[test]",
        "fn bio_label_helpers_match_python() {",
        "    for (label, category, begins, inside) in BIO_PROBES {",
        '        assert_eq!(bio_label_to_category(label), category, "{label:?}");',
        '        assert_eq!(is_begin_tag(label), begins, "{label:?}");',
        '        assert_eq!(is_inside_tag(label), inside, "{label:?}");',
        "    }",
        "}",
        "",
    ]


# ---------------------------------------------------------------- the test file


def _imports(c: Contract, body: str) -> list[str]:
    """The test file's `use` lines: every contract name the tests use, module by module."""

    def used(idents: list[str]) -> list[str]:
        return [n for n in idents if re.search(rf"(?<![:\w]){re.escape(n)}\b", body)]

    lines = ["use std::collections::BTreeMap;", ""] if "BTreeMap::" in body else []
    for name in sorted(c.features):
        shapes, _ = feature_records(c.features[name])
        lines.append(
            use_list(
                f"storyml_contract::{name}",
                used([names.top_type(name), "EncodeError", *(s.name for s in shapes)]),
            )
        )
    for name in sorted(c.outputs):
        heads = [names.head_type(h.name) for h in c.outputs[name].heads]
        lines.append(use_list(f"storyml_contract::{name}", used([names.top_type(name), *heads])))
    lines.append(use_list("storyml_contract::enums", used(sorted(c.enums))))
    lines.append(
        use_list(
            "storyml_contract::text",
            used(
                [
                    "assemble_spans",
                    "bio_label_to_category",
                    "decode_event_kinds",
                    "decode_tags",
                    "is_begin_tag",
                    "is_inside_tag",
                    "spans_from_scores",
                    "word_tags",
                    "EntityCategory",
                    "TokenSpan",
                    "NUM_BIO_LABELS",
                ]
            ),
        )
    )
    # rustfmt sorts a `{..}` group after the paths beside it
    lines.append(use_list("storyml_contract", used(sorted([*c.features, *c.outputs]))))
    return lines


def render_golden_tests(c: Contract, python_files: dict[str, str] | None = None) -> str:
    rng = random.Random(int(c.fingerprint, 16))
    mods = load_generated_python(c, python_files)
    out: list[str] = []
    for name in sorted(c.features):
        out += _feature_tests(c, name, _feature_cases(c, c.features[name], mods, rng))
    for name in sorted(c.outputs):
        out += _output_tests(c, name, mods[name], rng)
    out += _bio_label_tests(c, mods["text"])
    out += _span_tests(c, mods["text"], rng)
    out += _decode_tests(c, mods["text"], rng)
    out += _event_decode_tests(c, mods["text"], rng)
    out += [
        "#[test]",
        "fn the_crate_version_is_the_contract_version() {",
        '    let crate_version = env!("CARGO_PKG_VERSION");',
        "    assert_eq!(storyml_contract::CONTRACT_VERSION, crate_version);",
        "}",
        "",
        "#[test]",
        "fn decode_rejects_wrong_length_and_non_finite() {",
    ]
    for name in sorted(c.outputs):
        out += [
            f"    assert!({name}::decode_outputs(&[0.0_f32; {c.outputs[name].total - 1}]).is_err());",
            f"    let mut raw = [0.0_f32; {c.outputs[name].total}];",
            "    raw[0] = f32::NAN;",
            f"    assert!({name}::decode_outputs(&raw).is_err());",
        ]
    out += ["}"]
    body = "\n".join(out) + "\n"
    return "\n".join(
        [
            comment_header(c, "//"),
            "//! Golden vectors computed by the generated Python; the Rust side must agree exactly.",
            "",
            *_imports(c, body),
            "",
            body,
        ]
    )
