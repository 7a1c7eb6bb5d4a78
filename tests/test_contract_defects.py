"""Defects of the hand-kept storyteller contract (reference section 7) that must not come back."""

from __future__ import annotations

import math
import re

import storyml_contract as contract
import yaml
from hypothesis import given
from hypothesis import strategies as st
from spec_helpers import GENERATED, SPECS
from storyml_contract import text
from storyml_contract.character_features import (
    FEATURE_INDEX,
    AxisValue,
    CharacterFeatures,
    RelationalEdge,
    encode_features,
)
from storyml_contract.character_outputs import OUTPUT_FIELDS, decode_outputs

from codegen.spec.models import TextLabelsFile


# Defect 2: prose said "axis 47 is the affection component of relational edge 2"; it is 323.
def test_affection_of_each_edge_slot_sits_where_the_spec_puts_it():
    slots = [FEATURE_INDEX[f"relational_edges[{k}].affection.central_tendency"] for k in range(5)]
    assert slots == [275, 299, 323, 347, 371]
    assert FEATURE_INDEX["relational_edges[2].affection.central_tendency"] == 323


def test_encoding_puts_edge_two_affection_at_323():
    edges = [None, None, RelationalEdge(affection=AxisValue(central_tendency=0.625))]
    vector = encode_features(CharacterFeatures(relational_edges=edges))
    assert vector[323] == 0.625
    assert vector[47] == 0.0


def test_rust_constants_give_the_same_offset():
    rust = (GENERATED / "rust/src/character_features.rs").read_text(encoding="utf-8")
    const = dict(re.findall(r"pub const (\w+): usize = (\d+);", rust))
    offset = (
        int(const["RELATIONAL_EDGES_OFFSET"])
        + 2 * int(const["RELATIONAL_EDGES_SLOT_WIDTH"])
        + int(const["RELATIONAL_EDGE_AFFECTION_OFFSET"])
        + int(const["AXIS_VALUE_CENTRAL_TENDENCY_OFFSET"])
    )
    assert offset == 323


# Defect 3: Rust decoded flags as raw logit > 0.5 while training used BCE-with-logits.
def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


@given(st.floats(-30, 30, allow_nan=False))
def test_flags_decode_as_sigmoid_over_threshold(logit):
    flags = [f for f in OUTPUT_FIELDS if f.decode == "sigmoid_threshold"]
    assert flags, "the contract has flag outputs"
    vector = [0.0] * contract.TOTAL_OUTPUT_FEATURES
    for f in flags:
        for i in range(f.width):
            vector[f.offset + i] = logit
    decoded = decode_outputs(vector)
    threshold = 0.5  # the spec's value for every flag today, checked below
    for f in flags:
        value = getattr(getattr(decoded, f.head), f.name)
        for v in value if isinstance(value, tuple) else (value,):
            assert v == (_sigmoid(logit) > threshold) or abs(_sigmoid(logit) - threshold) < 1e-12


def test_flag_thresholds_come_from_the_spec():
    outputs = yaml.safe_load((SPECS / "character/outputs.yaml").read_text(encoding="utf-8"))
    for head in outputs["heads"]:
        for field in head["fields"]:
            if isinstance(field["decode"], dict) and field["decode"]["rule"] == "sigmoid_threshold":
                info = next(
                    f for f in OUTPUT_FIELDS if (f.head, f.name) == (head["name"], field["name"])
                )
                t = field["decode"]["threshold"]
                assert info.param == math.log(t / (1 - t))


def test_a_raw_logit_of_0_3_is_a_true_flag():
    vector = [0.0] * contract.TOTAL_OUTPUT_FEATURES
    vector[contract.character_outputs.SPEECH_SPEECH_OCCURS_OFFSET] = 0.3  # sigmoid(0.3) = 0.574
    assert decode_outputs(vector).speech.speech_occurs is True


# Defect 4: the label file and the template validator listed labels in different orders.
def _rust_str_array(path, name):
    body = re.search(
        rf"pub const {name}: \[&str; \d+\] = \[(.*?)\];", path.read_text(encoding="utf-8"), re.S
    )[1]
    return re.findall(r'"((?:[^"\\]|\\.)*)"', body)


def test_label_orders_agree_between_spec_python_and_rust():
    spec = yaml.safe_load((SPECS / "text/labels.yaml").read_text(encoding="utf-8"))
    rust_text = GENERATED / "rust/src/text.rs"
    assert (
        list(text.EVENT_KIND_LABELS)
        == spec["event_kinds"]["labels"]
        == _rust_str_array(rust_text, "EVENT_KIND_LABELS")
    )
    cats = spec["entity_categories"]["categories"]
    assert list(text.ENTITY_CATEGORIES) == cats == _rust_str_array(rust_text, "ENTITY_CATEGORIES")
    assert list(text.BIO_LABELS) == _rust_str_array(rust_text, "BIO_LABELS")
    assert text.BIO_LABELS[0] == "O" and len(text.BIO_LABELS) == 2 * len(cats) + 1


def test_templates_are_validated_against_the_one_label_list():
    from codegen.spec.loader import load_specs

    specs = load_specs(SPECS)
    labels = set(specs.one(TextLabelsFile).event_kinds.labels)
    for entry in specs.of_kind("templates"):
        for template in entry.model.templates:
            assert set(template.event_kinds) <= labels
