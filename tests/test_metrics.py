"""Properties of the evaluation metrics (pure functions; no models)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from seqeval.metrics import classification_report
from seqeval.scheme import IOB2
from storyml_contract.character_outputs import OUTPUT_FIELDS, TOTAL
from storyml_contract.text import (
    BIO_LABELS,
    ENTITY_CATEGORIES,
    EVENT_AT_LEAST_ONE,
    EVENT_KIND_LABELS,
    EVENT_LOGIT_THRESHOLD,
    EVENT_THRESHOLD,
)

from storyml import predict
from storyml.evaluate import metrics

label_sets = st.lists(st.sampled_from(EVENT_KIND_LABELS), unique=True, max_size=4)
tag_rows = st.lists(st.sampled_from(BIO_LABELS), max_size=12)


@st.composite
def paired_label_sets(draw):
    n = draw(st.integers(0, 12))
    return draw(st.lists(label_sets, min_size=n, max_size=n)), draw(
        st.lists(label_sets, min_size=n, max_size=n)
    )


@st.composite
def paired_tags(draw):
    lengths = draw(st.lists(st.integers(0, 10), max_size=6))
    gold = [draw(st.lists(st.sampled_from(BIO_LABELS), min_size=k, max_size=k)) for k in lengths]
    predicted = [
        draw(st.lists(st.sampled_from(BIO_LABELS), min_size=k, max_size=k)) for k in lengths
    ]
    return gold, predicted


@st.composite
def span_lists(draw, text_count: int):
    rows = []
    for _ in range(text_count):
        cuts = sorted(draw(st.sets(st.integers(0, 40), max_size=8)))
        pairs = list(zip(cuts[::2], cuts[1::2]))
        rows.append(
            [
                {"start": a, "end": b, "category": draw(st.sampled_from(ENTITY_CATEGORIES))}
                for a, b in pairs
                if a < b
            ]
        )
    return rows


@st.composite
def paired_spans(draw):
    n = draw(st.integers(0, 6))
    return draw(span_lists(n)), draw(span_lists(n))


def _ratios(result):
    yield result["micro"]["precision"], result["micro"]["recall"], result["micro"]["f1"]
    yield result["macro"]["precision"], result["macro"]["recall"], result["macro"]["f1"]
    for s in result["per_label"].values():
        yield s["precision"], s["recall"], s["f1"]


def _check_scores_consistent(result):
    for p, r, f in _ratios(result):
        assert 0.0 <= p <= 1.0 and 0.0 <= r <= 1.0 and 0.0 <= f <= 1.0
    for s in [result["micro"], *result["per_label"].values()]:
        p, r, f = s["precision"], s["recall"], s["f1"]
        assert f == pytest.approx(2 * p * r / (p + r) if p + r else 0.0)
        assert s["support"] == s["tp"] + s["fn"] and s["predicted"] == s["tp"] + s["fp"]


# --- Event kinds -----------------------------------------------------------------------------


@given(st.lists(label_sets, max_size=12))
def test_perfect_event_predictions_score_one(gold):
    result = metrics.event_metrics(gold, gold)
    if any(gold):
        assert result["micro"]["f1"] == result["macro"]["f1"] == 1.0
    assert result["exact_match"] == (1.0 if gold else 0.0)
    assert result["macro"]["labels"] == [
        label for label in EVENT_KIND_LABELS if any(label in g for g in gold)
    ]


def test_empty_event_input_has_defined_zero_scores():
    result = metrics.event_metrics([], [])
    assert result["n"] == 0 and result["exact_match"] == 0.0
    assert result["micro"]["f1"] == result["macro"]["f1"] == 0.0 and result["macro"]["labels"] == []
    assert all(s["support"] == 0 for s in result["per_label"].values())


@given(paired_label_sets())
def test_event_counts_add_up_and_scores_are_consistent(pair):
    gold, predicted = pair
    result = metrics.event_metrics(gold, predicted)
    _check_scores_consistent(result)
    assert sum(s["support"] for s in result["per_label"].values()) == sum(map(len, gold))
    assert sum(s["predicted"] for s in result["per_label"].values()) == sum(map(len, predicted))
    assert result["micro"]["tp"] == sum(len(set(g) & set(p)) for g, p in zip(gold, predicted))


@given(paired_label_sets())
def test_event_f1_is_symmetric_and_swapping_swaps_precision_and_recall(pair):
    gold, predicted = pair
    forward, backward = (
        metrics.event_metrics(gold, predicted),
        metrics.event_metrics(predicted, gold),
    )
    assert forward["micro"]["f1"] == pytest.approx(backward["micro"]["f1"])
    assert forward["macro"]["f1"] == pytest.approx(backward["macro"]["f1"])
    assert forward["micro"]["precision"] == pytest.approx(backward["micro"]["recall"])
    for label in EVENT_KIND_LABELS:
        assert forward["per_label"][label]["f1"] == pytest.approx(
            backward["per_label"][label]["f1"]
        )


def test_event_metrics_reject_unknown_labels_and_length_mismatch():
    with pytest.raises(ValueError, match="Teleport"):
        metrics.event_metrics([["Teleport"]], [[]])
    with pytest.raises(ValueError, match="2 gold examples but 1"):
        metrics.event_metrics([[], []], [[]])


# Away from 0, where float sigmoid rounds a tiny positive logit to exactly 0.5 (the decoder
# compares logits, so it has no such tie; the next test pins the threshold itself).
logits = st.floats(-20, 20).filter(lambda x: abs(x) > 1e-6)


@given(
    st.lists(
        st.lists(logits, min_size=len(EVENT_KIND_LABELS), max_size=len(EVENT_KIND_LABELS)),
        max_size=5,
    )
)
def test_event_decoding_is_sigmoid_above_the_spec_threshold(rows):
    """Every kind whose sigmoid passes the threshold; where none does, the most likely kind when the
    contract asks for at least one (the first of equals), else nothing."""
    decoded = predict.event_kinds_from_logits(np.array(rows).reshape(-1, len(EVENT_KIND_LABELS)))
    for row, labels in zip(rows, decoded):
        expected = [
            EVENT_KIND_LABELS[i]
            for i, x in enumerate(row)
            if 1 / (1 + math.exp(-x)) > EVENT_THRESHOLD
        ]
        if not expected and EVENT_AT_LEAST_ONE:
            expected = [EVENT_KIND_LABELS[row.index(max(row))]]
        assert labels == expected


def test_a_logit_exactly_at_the_threshold_is_not_a_prediction():
    row = [EVENT_LOGIT_THRESHOLD] * len(EVENT_KIND_LABELS)
    expected = [EVENT_KIND_LABELS[0]] if EVENT_AT_LEAST_ONE else []
    assert predict.event_kinds_from_logits([row]) == [expected]
    above = np.nextafter(EVENT_LOGIT_THRESHOLD, np.inf)
    assert predict.event_kinds_from_logits([[above] + row[1:]]) == [[EVENT_KIND_LABELS[0]]]


# --- Entities over tags ----------------------------------------------------------------------


@given(paired_tags())
def test_entity_metrics_agree_with_seqeval_strict_mode(pair):
    gold, predicted = pair
    result = metrics.entity_metrics(gold, predicted)
    _check_scores_consistent(result)
    assume(gold)  # seqeval rejects an empty corpus
    report = classification_report(
        gold, predicted, mode="strict", scheme=IOB2, output_dict=True, zero_division=0
    )
    assume(report["micro avg"]["support"] or result["micro"]["predicted"])
    assert result["micro"]["f1"] == pytest.approx(report["micro avg"]["f1-score"])
    for category in ENTITY_CATEGORIES:
        if category in report:
            assert result["per_label"][category]["f1"] == pytest.approx(
                report[category]["f1-score"]
            )
            assert result["per_label"][category]["support"] == report[category]["support"]


@given(st.lists(tag_rows, max_size=6))
def test_perfect_tags_score_one_and_orphans_are_no_entities(gold):
    result = metrics.entity_metrics(gold, gold)
    if result["micro"]["support"]:
        assert result["micro"]["f1"] == result["macro"]["f1"] == 1.0


def test_strict_mode_ignores_orphan_and_mismatched_inside_tags():
    gold = [["B-CHARACTER", "I-CHARACTER", "O", "B-OBJECT"]]
    predicted = [["I-CHARACTER", "I-CHARACTER", "O", "B-OBJECT"]]  # orphan I-: no CHARACTER entity
    result = metrics.entity_metrics(gold, predicted)
    assert result["per_label"]["CHARACTER"] | {} == metrics.scores(0, 0, 1)
    assert result["per_label"]["OBJECT"]["f1"] == 1.0


def test_entity_metrics_empty_and_mismatched_inputs():
    assert metrics.entity_metrics([], [])["micro"]["f1"] == 0.0
    assert metrics.entity_metrics([["O", "O"]], [["O", "O"]])["macro"]["labels"] == []
    with pytest.raises(ValueError, match="sentence 0: 2 gold tags but 1"):
        metrics.entity_metrics([["O", "O"]], [["O"]])


# --- Entities over character spans -----------------------------------------------------------


@given(st.integers(0, 6).flatmap(span_lists))
def test_perfect_spans_score_one(spans):
    result = metrics.span_metrics(spans, spans)
    if any(spans):
        assert result["micro"]["f1"] == result["macro"]["f1"] == result["boundaries"]["f1"] == 1.0
    else:
        assert result["micro"]["f1"] == 0.0 and result["micro"]["support"] == 0


@given(paired_spans())
def test_span_scores_are_symmetric_consistent_and_bounded_by_boundaries(pair):
    gold, predicted = pair
    forward, backward = metrics.span_metrics(gold, predicted), metrics.span_metrics(predicted, gold)
    _check_scores_consistent(forward)
    assert forward["micro"]["f1"] == pytest.approx(backward["micro"]["f1"])
    assert forward["boundaries"]["f1"] >= forward["micro"]["f1"] - 1e-12
    assert forward["micro"]["support"] == sum(map(len, gold))


@given(st.integers(1, 6).flatmap(span_lists))
def test_a_wrong_category_only_costs_the_labeled_score(spans):
    assume(any(spans))
    relabeled = [
        [
            {
                **s,
                "category": ENTITY_CATEGORIES[
                    (ENTITY_CATEGORIES.index(s["category"]) + 1) % len(ENTITY_CATEGORIES)
                ],
            }
            for s in row
        ]
        for row in spans
    ]
    result = metrics.span_metrics(spans, relabeled)
    assert result["boundaries"]["f1"] == 1.0 and result["micro"]["f1"] == 0.0


@given(paired_spans())
def test_confusion_matrix_rows_and_columns_count_every_span_once(pair):
    gold, predicted = pair
    confusion = metrics.span_confusion(gold, predicted)
    labels, matrix = confusion["labels"], np.array(confusion["matrix"])
    assert labels[-1] == metrics.NO_ENTITY and matrix[-1, -1] == 0
    scores = metrics.span_metrics(gold, predicted)
    for i, category in enumerate(ENTITY_CATEGORIES):
        assert matrix[i].sum() == sum(s["category"] == category for row in gold for s in row)
        assert matrix[:, i].sum() == sum(
            s["category"] == category for row in predicted for s in row
        )
        assert matrix[i, i] == scores["per_label"][category]["tp"]


def test_confusion_matrix_places_a_wrong_category_off_the_diagonal():
    gold = [
        [
            {"start": 0, "end": 4, "category": "CHARACTER"},
            {"start": 9, "end": 12, "category": "OBJECT"},
        ]
    ]
    predicted = [
        [
            {"start": 0, "end": 4, "category": "COLLECTIVE"},
            {"start": 20, "end": 25, "category": "LOCATION"},
        ]
    ]
    confusion = metrics.span_confusion(gold, predicted)
    at = {label: i for i, label in enumerate(confusion["labels"])}
    m = confusion["matrix"]
    assert m[at["CHARACTER"]][at["COLLECTIVE"]] == 1
    assert m[at["OBJECT"]][at[metrics.NO_ENTITY]] == 1
    assert m[at[metrics.NO_ENTITY]][at["LOCATION"]] == 1
    assert sum(map(sum, m)) == 3


# --- Character outputs -----------------------------------------------------------------------


@st.composite
def label_vectors(draw, n: int):
    """Rows shaped like encode_labels output: one-hot groups, 0/1 flags, raw scalars."""
    rows = []
    for _ in range(n):
        y = [0.0] * TOTAL
        for f in OUTPUT_FIELDS:
            if f.kind == "categorical":
                y[f.offset + draw(st.integers(0, f.width - 1))] = 1.0
            elif f.kind in ("flag", "flags"):
                for k in range(f.width):
                    y[f.offset + k] = float(draw(st.integers(0, 1)))
            elif f.kind == "index":
                y[f.offset] = float(draw(st.integers(0, 7)))
            else:
                for k in range(f.width):
                    y[f.offset + k] = draw(st.floats(-2, 2))
        rows.append(y)
    return rows


@given(st.integers(1, 5).flatmap(label_vectors))
def test_perfect_character_outputs_are_fully_accurate_with_zero_error(rows):
    result = metrics.character_metrics(rows, rows)
    assert result["n"] == len(rows)
    assert {name for name in result["fields"]} == {f"{f.head}.{f.name}" for f in OUTPUT_FIELDS}
    for entry in result["fields"].values():
        assert entry.get("accuracy", 1.0) == 1.0 and entry.get("mae", 0.0) == 0.0


@settings(max_examples=50)
@given(st.integers(1, 5).flatmap(lambda n: st.tuples(label_vectors(n), label_vectors(n))))
def test_character_metrics_are_bounded_and_measure_each_field_kind(pair):
    predicted, gold = pair
    result = metrics.character_metrics(predicted, gold)
    for f in OUTPUT_FIELDS:
        entry = result["fields"][f"{f.head}.{f.name}"]
        assert set(entry) == {"kind", *metrics.FIELD_MEASURES[f.kind]}
        if "accuracy" in entry:
            assert 0.0 <= entry["accuracy"] <= 1.0
        if "mae" in entry:
            assert entry["mae"] >= 0.0


def test_one_wrong_categorical_group_changes_only_that_field():
    gold = [[0.0] * TOTAL]
    field = next(f for f in OUTPUT_FIELDS if f.kind == "categorical")
    for f in OUTPUT_FIELDS:
        if f.kind == "categorical":
            gold[0][f.offset] = 1.0
    predicted = [list(gold[0])]
    predicted[0][field.offset], predicted[0][field.offset + 1] = 0.0, 1.0
    result = metrics.character_metrics(predicted, gold)
    wrong = [
        name
        for name, e in result["fields"].items()
        if e.get("accuracy", 1.0) < 1.0 or e.get("mae", 0.0) > 0.0
    ]
    assert wrong == [f"{field.head}.{field.name}"]


def test_character_metrics_over_no_examples_are_none_not_perfect():
    result = metrics.character_metrics([], [])
    assert result["n"] == 0
    assert all(
        value is None
        for e in result["fields"].values()
        for key, value in e.items()
        if key != "kind"
    )
