"""Evaluation metrics: pure functions over predictions and gold, no models, no files.

- Event kinds (multi-label): per-label precision/recall/F1, micro and macro averages, and the
  share of examples whose predicted label set is exactly the gold set.
- Entities, two ways: strict entity F1 over BIO tag sequences (seqeval's strict IOB2 entity
  extraction, the usual NER figure) and exact-match F1 over character spans (what a caller of
  `storyml predict` or the engine actually receives, after span assembly and truncation).
- Character outputs: per-field accuracy (categorical groups, flags, the emotion index) and mean
  absolute error (scalars), decoded with the generated contract's `decode_outputs`.

Conventions, the same everywhere:
- A ratio with a zero denominator is 0.0 (precision with no predictions, recall with nothing to
  find); counts (`support`, `predicted`, `tp`, `fp`, `fn`) sit beside every ratio so a reader
  can tell "0.0 because wrong" from "0.0 because empty".
- Macro averages run over the labels that occur in the gold data or in the predictions; a
  label absent from both has nothing to measure and would only drag the average to 0.
- Character metrics over zero examples are None: no measurement, not a perfect score.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
from seqeval.scheme import IOB2, Entities
from storyml_contract.character_outputs import OUTPUT_FIELDS, decode_outputs
from storyml_contract.character_outputs import TOTAL as OUTPUTS_TOTAL
from storyml_contract.text import (
    ENTITY_CATEGORIES,
    EVENT_KIND_LABELS,
)

from codegen.spec.output_kinds import OUTPUT_KINDS, FieldForm

NO_ENTITY = "(none)"  # row/column of the span confusion matrix for unmatched spans


# --- Counting --------------------------------------------------------------------------------


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / denominator if denominator else 0.0


def scores(tp: int, fp: int, fn: int) -> dict[str, Any]:
    """Precision, recall and F1 from counts, with the counts kept beside them."""
    return {
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "support": tp + fn,
        "predicted": tp + fp,
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


def _summarize(per_label: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Micro (pooled counts) and macro (mean over labels that occur) averages."""
    tp = sum(s["tp"] for s in per_label.values())
    fp = sum(s["fp"] for s in per_label.values())
    fn = sum(s["fn"] for s in per_label.values())
    occurring = [label for label, s in per_label.items() if s["support"] or s["predicted"]]
    macro = {
        key: float(np.mean([per_label[label][key] for label in occurring])) if occurring else 0.0
        for key in ("precision", "recall", "f1")
    }
    return {
        "micro": scores(tp, fp, fn),
        "macro": {**macro, "labels": occurring},
        "per_label": {label: dict(s) for label, s in per_label.items()},
    }


def _match_counts(
    gold: Sequence[Collection], predicted: Sequence[Collection], key
) -> dict[Any, list[int]]:
    """Per group key(item): [tp, fp, fn], matching items as multisets example by example."""
    counts: dict[Any, list[int]] = {}
    for gold_items, predicted_items in zip(gold, predicted, strict=True):
        g, p = Counter(gold_items), Counter(predicted_items)
        for item, n in (g & p).items():
            counts.setdefault(key(item), [0, 0, 0])[0] += n
        for item, n in (p - g).items():
            counts.setdefault(key(item), [0, 0, 0])[1] += n
        for item, n in (g - p).items():
            counts.setdefault(key(item), [0, 0, 0])[2] += n
    return counts


def _check_same_length(gold: Sequence, predicted: Sequence, what: str) -> None:
    if len(gold) != len(predicted):
        raise ValueError(f"{what}: {len(gold)} gold examples but {len(predicted)} predictions")


# --- Event kinds -----------------------------------------------------------------------------


def event_metrics(
    gold: Sequence[Collection[str]],
    predicted: Sequence[Collection[str]],
    labels: Sequence[str] = EVENT_KIND_LABELS,
) -> dict[str, Any]:
    """Multi-label event-kind scores from gold and predicted label sets, one set per example."""
    _check_same_length(gold, predicted, "event kinds")
    known = set(labels)
    for side, rows in (("gold", gold), ("predicted", predicted)):
        for i, row in enumerate(rows):
            unknown = sorted(set(row) - known)
            if unknown:
                raise ValueError(f"{side} example {i}: unknown event kind(s) {unknown}")
    gold_sets = [set(row) for row in gold]
    predicted_sets = [set(row) for row in predicted]
    counts = _match_counts(gold_sets, predicted_sets, key=lambda label: label)
    per_label = {label: scores(*counts.get(label, (0, 0, 0))) for label in labels}
    exact = sum(g == p for g, p in zip(gold_sets, predicted_sets))
    return {"n": len(gold), "exact_match": _ratio(exact, len(gold)), **_summarize(per_label)}


# --- Entities --------------------------------------------------------------------------------


def entity_metrics(
    gold_tags: Sequence[Sequence[str]],
    predicted_tags: Sequence[Sequence[str]],
    categories: Sequence[str] = ENTITY_CATEGORIES,
) -> dict[str, Any]:
    """Strict entity scores over BIO tag strings (seqeval strict mode, IOB2).

    An entity counts only when it is well formed (B-X then I-X...) in both sequences with the
    same boundaries and category; an orphan I- is no entity, as in the engine's span assembly.
    """
    _check_same_length(gold_tags, predicted_tags, "entity tags")
    for i, (g, p) in enumerate(zip(gold_tags, predicted_tags)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted tags")
    gold = _strict_entities(gold_tags)
    predicted = _strict_entities(predicted_tags)
    unknown = {e[0] for row in gold + predicted for e in row} - set(categories)
    if unknown:
        raise ValueError(f"unknown entity categories {sorted(unknown)} in the tags")
    counts = _match_counts(gold, predicted, key=lambda entity: entity[0])
    per_label = {c: scores(*counts.get(c, (0, 0, 0))) for c in categories}
    return {"n": len(gold_tags), **_summarize(per_label)}


def _strict_entities(tags: Sequence[Sequence[str]]) -> list[list[tuple[str, int, int]]]:
    """(category, first token, end token) per well-formed entity, per sentence."""
    found = Entities([list(row) for row in tags], IOB2, suffix=False).entities
    return [[(e.tag, e.start, e.end) for e in sentence] for sentence in found]


def _span_key(span: Mapping[str, Any]) -> tuple[int, int, str]:
    return int(span["start"]), int(span["end"]), str(span["category"])


def span_metrics(
    gold_spans: Sequence[Sequence[Mapping[str, Any]]],
    predicted_spans: Sequence[Sequence[Mapping[str, Any]]],
    categories: Sequence[str] = ENTITY_CATEGORIES,
) -> dict[str, Any]:
    """Exact-match scores over character spans ({start, end, category}), one list per text.

    `labeled`: start, end and category must all match (per category, micro, macro).
    `boundaries`: start and end must match, category ignored; the gap between the two is
    the share of errors that are only a wrong category.
    """
    _check_same_length(gold_spans, predicted_spans, "entity spans")
    gold = [[_span_key(s) for s in row] for row in gold_spans]
    predicted = [[_span_key(s) for s in row] for row in predicted_spans]
    unknown = {k[2] for row in gold + predicted for k in row} - set(categories)
    if unknown:
        raise ValueError(f"unknown entity categories {sorted(unknown)} in the spans")
    counts = _match_counts(gold, predicted, key=lambda k: k[2])
    per_label = {c: scores(*counts.get(c, (0, 0, 0))) for c in categories}
    bounds = _match_counts(
        [[k[:2] for k in row] for row in gold],
        [[k[:2] for k in row] for row in predicted],
        key=lambda _: "all",
    ).get("all", (0, 0, 0))
    return {"n": len(gold_spans), **_summarize(per_label), "boundaries": scores(*bounds)}


def span_confusion(
    gold_spans: Sequence[Sequence[Mapping[str, Any]]],
    predicted_spans: Sequence[Sequence[Mapping[str, Any]]],
    categories: Sequence[str] = ENTITY_CATEGORIES,
) -> dict[str, Any]:
    """Category confusion of spans matched by exact boundaries; rows gold, columns predicted.

    A gold span with no predicted span of the same boundaries counts in column NO_ENTITY
    (missed); a predicted span with no gold span of the same boundaries in row NO_ENTITY
    (spurious). So every gold span is counted once per row and every prediction once per column.
    """
    _check_same_length(gold_spans, predicted_spans, "entity spans")
    labels = [*categories, NO_ENTITY]
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for gold_row, predicted_row in zip(gold_spans, predicted_spans):
        g = Counter(_span_key(s) for s in gold_row)
        p = Counter(_span_key(s) for s in predicted_row)
        g_by_bounds: dict[tuple[int, int], list[str]] = {}
        p_by_bounds: dict[tuple[int, int], list[str]] = {}
        for (start, end, category), n in sorted(g.items()):
            g_by_bounds.setdefault((start, end), []).extend([category] * n)
        for (start, end, category), n in sorted(p.items()):
            p_by_bounds.setdefault((start, end), []).extend([category] * n)
        for bounds in sorted(set(g_by_bounds) | set(p_by_bounds)):
            gold_cats = g_by_bounds.get(bounds, [])
            predicted_cats = p_by_bounds.get(bounds, [])
            # Same-category pairs first, so a correct prediction is never counted as a confusion.
            same = Counter(gold_cats) & Counter(predicted_cats)
            for category, n in same.items():
                matrix[index[category], index[category]] += n
            rest_gold = sorted((Counter(gold_cats) - same).elements())
            rest_predicted = sorted((Counter(predicted_cats) - same).elements())
            for k in range(max(len(rest_gold), len(rest_predicted))):
                row = rest_gold[k] if k < len(rest_gold) else NO_ENTITY
                col = rest_predicted[k] if k < len(rest_predicted) else NO_ENTITY
                matrix[index[row], index[col]] += 1
    return {"labels": labels, "matrix": matrix.tolist()}


# --- Character outputs -----------------------------------------------------------------------

# Which measurements each output field kind gets: OUTPUT_KINDS[kind].measures. Scalars are compared
# raw (the decoded value is the raw value, or a cut-off of it); a field whose values are variants
# (the emotion index) is compared after decoding (rounded and clamped), as "exactly right" and as
# how far off.
FIELD_MEASURES: dict[str, tuple[str, ...]] = {name: k.measures for name, k in OUTPUT_KINDS.items()}


def _decoded(outputs: Any, field: Any) -> Any:
    return getattr(getattr(outputs, field.head), field.name)


def _field_accuracy(field: Any, predicted: Sequence[Any], gold: Sequence[Any]) -> float:
    if FieldForm.of_info(field).per_variant_values:
        hits = [a == b for p, g in zip(predicted, gold) for a, b in zip(p, g, strict=True)]
    else:
        hits = [p == g for p, g in zip(predicted, gold)]
    return float(np.mean(hits))


def _field_mae(
    field: Any, predicted_raw: np.ndarray, gold_raw: np.ndarray, predicted, gold
) -> float:
    if FieldForm.of_info(field).rule.value == "variant":
        return float(np.mean([abs(int(p) - int(g)) for p, g in zip(predicted, gold)]))
    columns = slice(field.offset, field.offset + field.width)
    return float(np.mean(np.abs(predicted_raw[:, columns] - gold_raw[:, columns])))


def character_metrics(
    predicted: Sequence[Sequence[float]], gold: Sequence[Sequence[float]]
) -> dict[str, Any]:
    """Per output field of the character predictor: accuracy and/or MAE (see FIELD_MEASURES).

    `predicted` rows are the model's raw 42 outputs (heads concatenated in order), `gold` rows
    the encoded labels (`encode_labels`); both are decoded with the contract's `decode_outputs`.
    """
    _check_same_length(gold, predicted, "character outputs")
    n = len(gold)
    fields: dict[str, dict[str, Any]] = {}
    for side, rows in (("gold", gold), ("predicted", predicted)):
        for i, row in enumerate(rows):
            if len(row) != OUTPUTS_TOTAL:
                raise ValueError(
                    f"{side} row {i}: expected {OUTPUTS_TOTAL} outputs, got {len(row)}"
                )
    predicted_raw = np.asarray(predicted, dtype=np.float64).reshape(n, OUTPUTS_TOTAL)
    gold_raw = np.asarray(gold, dtype=np.float64).reshape(n, OUTPUTS_TOTAL)
    predicted_out = [decode_outputs(row) for row in predicted_raw.tolist()]
    gold_out = [decode_outputs(row) for row in gold_raw.tolist()]
    for field in OUTPUT_FIELDS:
        name = f"{field.head}.{field.name}"
        p = [_decoded(o, field) for o in predicted_out]
        g = [_decoded(o, field) for o in gold_out]
        entry: dict[str, Any] = {"kind": field.kind}
        for measure in FIELD_MEASURES[field.kind]:
            if n == 0:
                entry[measure] = None
            elif measure == "accuracy":
                entry[measure] = _field_accuracy(field, p, g)
            else:
                entry[measure] = _field_mae(field, predicted_raw, gold_raw, p, g)
        fields[name] = entry
    return {"n": n, "fields": fields}
