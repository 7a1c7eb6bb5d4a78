"""Numbers a spec may hold: integers that fit their Rust type, finite floats, counts that are not
booleans, labels that are not blank, sizes checked before anything is allocated."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest
from spec_helpers import copy_specs, edit

from codegen.generators.rust import render_rust
from codegen.spec.contract import build_contract
from codegen.spec.errors import SpecError
from codegen.spec.limits import F32_EXACT_INT, MAX_VECTOR_WIDTH, RUST_INT_TYPES
from codegen.spec.loader import load_specs

FEATURES, OUTPUTS, LABELS, ARTIFACTS, MODEL = (
    "character/features.yaml",
    "character/outputs.yaml",
    "text/labels.yaml",
    "artifacts.yaml",
    "character/model.yaml",
)
USIZE, I64 = RUST_INT_TYPES["max_seq_length"], RUST_INT_TYPES["ignore_index"]

# (id, file, old, new, key of the problem, fragment of its message)
CASES = [
    (
        "max_seq_length beyond usize",
        LABELS,
        "max_seq_length: 128",
        f"max_seq_length: {USIZE.max + 1}",
        "max_seq_length",
        f"less than or equal to {USIZE.max} (it becomes a Rust constant of type usize)",
    ),
    (
        "ignore_index beyond i64",
        LABELS,
        "ignore_index: -100",
        f"ignore_index: {I64.min - 1}",
        "ignore_index",
        "type i64",
    ),
    (
        "opset beyond i64",
        ARTIFACTS,
        "opset: 18",
        f"opset: {RUST_INT_TYPES['opset'].max + 1}",
        "opset",
        "i64",
    ),
    (
        "a boolean for a length",
        LABELS,
        "max_seq_length: 128",
        "max_seq_length: true",
        "max_seq_length",
        "a valid integer, not true",
    ),
    (
        "a boolean for a slot count",
        FEATURES,
        "slots: {count: 5}",
        "slots: {count: true}",
        "regions[3].slots.count",
        "a valid integer, not true",
    ),
    (
        "a string for a count",
        FEATURES,
        "slots: {count: 5}",
        "slots: {count: '5'}",
        "regions[3].slots.count",
        "a valid integer, not '5'",
    ),
    (
        "an infinite head weight",
        OUTPUTS,
        "weight: 0.35",
        "weight: .inf",
        "heads[0].weight",
        "finite number",
    ),
    ("an infinite cutoff", OUTPUTS, "cutoff: 0.01", "cutoff: .inf", "heads", "finite number"),
    ("a nan threshold", OUTPUTS, "threshold: 0.5}", "threshold: .nan}", "heads", "finite number"),
    (
        "a nan learning rate",
        MODEL,
        "learning_rate: 1.0e-3",
        "learning_rate: .nan",
        "training.learning_rate",
        "finite number",
    ),
    (
        "a blank label",
        LABELS,
        "    - SpeechAct",
        "    - ' \t'",
        "event_kinds.labels[5]",
        "is blank",
    ),
    (
        "an empty category",
        LABELS,
        "[CHARACTER, OBJECT,",
        "['', OBJECT,",
        "entity_categories.categories[0]",
        "at least 1 character",
    ),
    (
        "a none_below a float32 cannot round to",
        OUTPUTS,
        "none_below: 0",
        f"none_below: {F32_EXACT_INT + 1}",
        "heads[0].fields[2].decode.none_below",
        f"less than or equal to {F32_EXACT_INT}",
    ),
]


def _problems(tmp_path, rel, old, new):
    specs = copy_specs(tmp_path)
    edit(specs / rel, old, new)
    with pytest.raises(SpecError) as err:
        load_specs(specs, codegen_only=True)
    return err.value.problems


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_a_number_the_contract_cannot_hold_is_refused_at_its_key(tmp_path, case):
    _, rel, old, new, key, fragment = case
    problems = _problems(tmp_path, rel, old, new)
    hits = [p for p in problems if fragment in p.message]
    assert hits, "\n".join(map(str, problems))
    assert hits[0].file.endswith(rel) and hits[0].key.startswith(key), hits[0]


def test_a_huge_slot_count_is_refused_before_any_layout_is_built(tmp_path):
    started = time.perf_counter()
    problems = _problems(tmp_path, FEATURES, "slots: {count: 5}", "slots: {count: 100000000}")
    assert time.perf_counter() - started < 10
    assert [p.key for p in problems] == ["regions[3].slots.count"], problems
    assert f"less than or equal to {MAX_VECTOR_WIDTH}" in problems[0].message


def test_nested_types_that_multiply_past_the_vector_limit_are_refused_where_they_grow(tmp_path):
    """Each type holds 16 of the one before: 16**5 floats, never laid out one by one."""
    levels = 5
    types = "".join(
        f"  Deep{i}:\n    fields: ["
        + ", ".join(f"{{name: f{j}{', type: Deep' + str(i - 1) if i else ''}}}" for j in range(16))
        + "]\n"
        for i in range(levels)
    )
    problems = _problems(tmp_path, FEATURES, "  HistoryTurn:", types + "  HistoryTurn:")
    (hit,) = [p for p in problems if "floats wide" in p.message]
    assert hit.key == f"types.Deep{levels - 1}" and f"at most {MAX_VECTOR_WIDTH}" in hit.message


@pytest.mark.skipif(shutil.which("rustc") is None, reason="rustc not installed")
def test_the_largest_accepted_integers_compile_as_the_rust_types_they_render_as(tmp_path):
    """The checker's bounds are the generated constants' types: the extremes it accepts compile."""
    specs = copy_specs(tmp_path)
    edit(specs / LABELS, "max_seq_length: 128", f"max_seq_length: {USIZE.max}")
    edit(specs / LABELS, "ignore_index: -100", f"ignore_index: {I64.min}")
    edit(specs / ARTIFACTS, "opset: 18", f"opset: {RUST_INT_TYPES['opset'].max}")
    files = render_rust(build_contract(load_specs(specs, codegen_only=True)))
    lines = [
        m[0]
        for rel in ("rust/src/text.rs", "rust/src/lib.rs")
        for m in re.finditer(
            r"^pub const (MAX_SEQ_LENGTH|IGNORE_INDEX|ONNX_OPSET): .*$", files[rel], re.M
        )
    ]
    assert len(lines) == 3 and str(USIZE.max) in "".join(lines), lines
    src = tmp_path / "ints.rs"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # --target-less build: usize is 64-bit here, so the 32-bit bound is also checked by value above
    result = subprocess.run(
        [
            "rustc",
            "--crate-type",
            "lib",
            "--edition",
            "2021",
            "-o",
            str(tmp_path / "libints.rlib"),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
