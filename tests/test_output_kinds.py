"""Decode rules with parameters other than the shipped ones: every side agrees.

The shipped spec decodes `target_index` with `none_below: 0` and every flag at
`threshold: 0.5`, so a side that hard-codes "None is -1" or "a flag is a positive
logit" agrees with the others by accident. These tests render the contract from a
copy of the specs with other parameters and check the generated Python, the
generated Rust (through its golden vectors and `cargo test`) and the vectorised
decoder that scores training against each other.
"""

from __future__ import annotations

import math
import shutil
import struct
import subprocess
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest
import yaml
from spec_helpers import copy_specs, storyml

from codegen.generators.golden import _output_cases, load_generated_python
from codegen.spec.contract import build_contract
from codegen.spec.loader import load_specs
from storyml.train import mlp

# (none_below of action.target_index, threshold of speech.speech_occurs, of emotion.awareness_shift)
PARAMS = [(3, 0.7, 0.25), (-2, 0.2, 0.9), (1, 0.5, 0.6)]


def _f32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def _toward_zero(x: float) -> float:
    """The float32 next to x on the side of zero: across a rounding edge from x."""
    return float(np.nextafter(np.float32(x), np.float32(0.0)))


def _round_half_away(x: float) -> int:
    return int(
        Decimal(x).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    )  # HALF_UP: ties away from zero


def _specs_with(tmp_path, none_below: int, flag_threshold: float, flags_threshold: float):
    root = copy_specs(tmp_path)
    path = root / "character" / "outputs.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    fields = {(h["name"], f["name"]): f for h in data["heads"] for f in h["fields"]}
    fields["action", "target_index"]["decode"] = {"rule": "round_or_none", "none_below": none_below}
    fields["speech", "speech_occurs"]["decode"] = {
        "rule": "sigmoid_threshold",
        "threshold": flag_threshold,
    }
    fields["emotion", "awareness_shift"]["decode"] = {
        "rule": "sigmoid_threshold",
        "threshold": flags_threshold,
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return root


def _contract(root):
    return build_contract(load_specs(root, codegen_only=True))


def _rows(layout, none_below: int, thresholds: tuple[float, ...]) -> np.ndarray:
    """Random rows plus, in every column, values at and beside each rule's edge."""
    rng = np.random.default_rng(none_below + 10)
    edges = [
        none_below - 0.5,
        _toward_zero(none_below - 0.5),
        none_below + 0.5,
        _toward_zero(none_below + 0.5),
        none_below - 1.0,
        none_below,
        0.0,
        -1.0,
        -0.5,
        0.5,
        0.01,
        -0.01,
    ]
    for t in thresholds:
        logit = math.log(t / (1 - t))
        edges += [_f32(logit), _f32(logit + 1e-3), _f32(logit - 1e-3)]
    rows = [rng.normal(scale=3.0, size=layout.total) for _ in range(8)]
    rows += [np.full(layout.total, x) for x in edges]
    return np.array(rows, dtype=np.float32).astype(np.float64)


@pytest.mark.parametrize("none_below,flag_t,flags_t", PARAMS)
def test_vectorised_decoder_matches_the_generated_python(tmp_path, none_below, flag_t, flags_t):
    """decode_batch (training metrics) is encode_labels(decode_outputs(row)) for any parameters."""
    contract = _contract(_specs_with(tmp_path, none_below, flag_t, flags_t))
    mod = load_generated_python(contract)["character_outputs"]
    rows = _rows(contract.outputs["character_outputs"], none_below, (flag_t, flags_t))
    expected = np.array([mod.encode_labels(mod.decode_outputs(r.tolist())) for r in rows])
    np.testing.assert_array_equal(mlp.decode_batch(rows, fields=mod.OUTPUT_FIELDS), expected)


@pytest.mark.parametrize("none_below,flag_t,flags_t", PARAMS)
def test_generated_python_decodes_at_the_spec_edges(tmp_path, none_below, flag_t, flags_t):
    contract = _contract(_specs_with(tmp_path, none_below, flag_t, flags_t))
    mod = load_generated_python(contract)["character_outputs"]
    at = {(f.head, f.name): f.offset for f in mod.OUTPUT_FIELDS}

    def decoded(head: str, name: str, value: float):
        v = [0.0] * mod.TOTAL
        v[at[head, name]] = value
        return getattr(getattr(mod.decode_outputs(v), head), name)

    # round_or_none: rounds half away from zero, then anything below none_below is None
    for edge in (none_below - 0.5, none_below + 0.5):
        for x in (edge, _toward_zero(edge), -edge, _toward_zero(-edge)):
            r = _round_half_away(x)
            assert decoded("action", "target_index", x) == (None if r < none_below else r), x
    assert decoded("action", "target_index", none_below + 0.4) == none_below
    assert decoded("action", "target_index", none_below - 0.6) is None
    # None encodes one below none_below, which decodes as None again
    target = mod.decode_outputs([0.0] * mod.TOTAL)
    label = dataclass_replace(target, "action", target_index=None)
    encoded = mod.encode_labels(label)
    assert encoded[at["action", "target_index"]] == none_below - 1
    assert mod.decode_outputs(encoded) == label
    # sigmoid_threshold: true exactly when sigmoid(logit) > threshold
    for head, name, t in (("speech", "speech_occurs", flag_t),):
        logit = math.log(t / (1 - t))
        assert decoded(head, name, logit) is False
        assert decoded(head, name, logit + 1e-6) is True
        assert decoded(head, name, 0.0) is (t < 0.5)
    logit = math.log(flags_t / (1 - flags_t))
    assert all(decoded("emotion", "awareness_shift", logit + 1e-6)[:1])
    assert not any(decoded("emotion", "awareness_shift", logit)[:1])


def dataclass_replace(outputs, head: str, **changes):
    import dataclasses

    return dataclasses.replace(
        outputs, **{head: dataclasses.replace(getattr(outputs, head), **changes)}
    )


@pytest.mark.parametrize("none_below,flag_t,flags_t", PARAMS[:2])
def test_golden_vectors_cross_every_rule_edge(tmp_path, none_below, flag_t, flags_t):
    """The vectors the Rust crate is checked against reach both sides of none_below."""
    import random

    contract = _contract(_specs_with(tmp_path, none_below, flag_t, flags_t))
    mod = load_generated_python(contract)["character_outputs"]
    layout = contract.outputs["character_outputs"]
    at = next(f.offset for f in mod.OUTPUT_FIELDS if f.name == "target_index")
    values = {v[at] for _, v in _output_cases(layout, random.Random(0))}
    assert {
        none_below - 0.5,
        _toward_zero(none_below - 0.5),
        none_below + 0.5,
        _toward_zero(none_below + 0.5),
    } <= values
    decoded = {
        mod.decode_outputs(v).action.target_index
        for _, v in _output_cases(layout, random.Random(0))
    }
    assert None in decoded and none_below in decoded and none_below - 1 not in decoded


@pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo not installed")
def test_generated_rust_agrees_with_python_for_other_parameters(tmp_path):
    """Regenerate the crate from the changed specs; its golden tests are the Python's answers."""
    none_below, flag_t, flags_t = PARAMS[0]
    root = _specs_with(tmp_path, none_below, flag_t, flags_t)
    out = tmp_path / "generated"
    result = storyml("gen", "--specs", str(root), "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    golden = (out / "rust" / "tests" / "golden.rs").read_text(encoding="utf-8")
    rust = (out / "rust" / "src" / "character_outputs.rs").read_text(encoding="utf-8")
    assert f"target_index: round_or_none(v[ACTION_TARGET_INDEX_OFFSET], {none_below})," in rust
    assert f"target_index: Some({none_below})" in golden and "target_index: None" in golden
    result = subprocess.run(
        ["cargo", "test", "--offline", "--quiet"],
        cwd=out / "rust",
        capture_output=True,
        text=True,
        timeout=600,
        env={**__import__("os").environ, "CARGO_TARGET_DIR": str(tmp_path / "target")},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test result: ok" in result.stdout
    # other numbers, other line lengths: still rustfmt's layout (codegen/generators/rust_layout.py)
    if subprocess.run(["cargo", "fmt", "--version"], capture_output=True).returncode == 0:
        result = subprocess.run(
            ["cargo", "fmt", "--check"], cwd=out / "rust", capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout[-4000:]


# ---------------------------------------------------------------- the table itself


def test_every_consumer_knows_every_row_of_the_table():
    from codegen.spec import models
    from codegen.spec.output_kinds import DECODE_RULES, LOSSES, OUTPUT_KINDS, VALUES
    from storyml.evaluate import metrics

    assert set(mlp.LOSSES) == set(LOSSES)
    assert {k.train_metric for k in OUTPUT_KINDS.values()} <= set(mlp.TRAIN_METRICS)
    assert metrics.FIELD_MEASURES == {name: k.measures for name, k in OUTPUT_KINDS.items()}
    assert {r.value for r in DECODE_RULES.values()} <= set(VALUES)
    for kind in OUTPUT_KINDS.values():
        assert set(kind.rules) <= set(DECODE_RULES) and set(kind.losses) <= set(LOSSES), kind.name
    # the spec syntax offers exactly the table's kinds, losses and rules
    schema = models.OutputField.model_json_schema()
    assert schema["properties"]["kind"]["enum"] == list(OUTPUT_KINDS)
    assert schema["properties"]["loss"]["enum"] == list(LOSSES)
    assert [m.model_fields["rule"].annotation.__args__[0] for m in models.DECODE_RULES] == list(
        DECODE_RULES
    )


def test_a_rule_its_kind_does_not_allow_is_refused():
    from codegen.spec.output_kinds import FieldForm

    with pytest.raises(
        ValueError, match="a flag field decodes with sigmoid_threshold, not identity"
    ):
        FieldForm.of("flag", "identity", None, None)
    with pytest.raises(KeyError):
        FieldForm.of("vector", "identity", None, None)
