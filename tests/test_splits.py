"""Splits of the events dataset keep their promises: partition, no leak, deterministic."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.spec.build import SPLIT_NAMES
from codegen.spec.loader import load_specs
from codegen.spec.templates import entity_categories_of_lists
from storyml.build.stages import training_records
from storyml.data.events import generate_events
from storyml.data.splits import SPLITS, make_splits

SPECS = Path(__file__).resolve().parents[1] / "specs"


@pytest.fixture(scope="module")
def records():
    return generate_events(load_specs(SPECS), seed=4, per_kind=60)


@pytest.fixture(scope="module")
def splits(records):
    return make_splits(records, seed=9, test_fraction=0.2)


def ids(side):
    return [r["id"] for r in side]


def fillers(side):
    return {f for r in side for f in r["fillers"].values()}


def assert_partition(records, split):
    train, test = ids(split["train"]), ids(split["test"])
    assert not set(train) & set(test)
    assert sorted(train + test) == sorted(ids(records))
    assert train and test


def test_every_split_is_a_partition(records, splits):
    assert set(splits) == set(SPLITS)
    for name in SPLITS:
        assert_partition(records, splits[name])


def test_splits_are_deterministic(records, splits):
    again = make_splits(records, seed=9, test_fraction=0.2)
    assert {n: {s: ids(v) for s, v in sp.items()} for n, sp in again.items()} == {
        n: {s: ids(v) for s, v in sp.items()} for n, sp in splits.items()
    }
    other = make_splits(records, seed=10, test_fraction=0.2)
    assert ids(other["random"]["test"]) != ids(splits["random"]["test"])


def test_random_split_is_stratified_by_primary_kind(records, splits):
    total = Counter(r["event_kinds"][0] for r in records)
    test = Counter(r["event_kinds"][0] for r in splits["random"]["test"])
    for kind, n in total.items():
        assert test[kind] == round(n * 0.2)


def test_held_out_templates_never_reach_training(records, splits):
    split = splits["held_out_template"]
    # Every clause of a record counts: a held-out template may be a sentence's second clause.
    train_t = {t for r in split["train"] for t in r["clauses"].values()}
    assert all(any(t not in train_t for t in r["clauses"].values()) for r in split["test"])
    kinds = {k for r in records for k in r["event_kinds"]}
    train_kinds = {k for r in split["train"] for k in r["event_kinds"]}
    test_kinds = {r["event_kinds"][0] for r in split["test"]}
    assert train_kinds == kinds  # every kind still trainable
    assert test_kinds == kinds  # and every kind tested on unseen templates
    assert 0.1 <= len(split["test"]) / len(records) <= 0.3


def test_held_out_vocabulary_never_reaches_training(records, splits):
    split = splits["held_out_vocabulary"]
    seen = fillers(split["train"])
    for r in split["test"]:
        assert set(r["fillers"].values()) - seen, r["text"]
    held = fillers(split["test"]) - seen
    # Unseen people, things and places all reach the test side (lists by the category they fill).
    categories = entity_categories_of_lists(load_specs(SPECS))
    held_categories = {c for f in held for c in categories.get(f.split(":")[0], ())}
    assert held_categories >= {"CHARACTER", "OBJECT", "LOCATION"}
    assert 0.1 <= len(split["test"]) / len(records) <= 0.3


def test_bad_fraction_is_refused(records):
    with pytest.raises(ValueError):
        make_splits(records, seed=1, test_fraction=1.0)


# ---------------------------------------------------------------- properties on synthetic records

KINDS = ["A", "B", "C"]


@st.composite
def synthetic_records(draw):
    n_templates = draw(st.integers(2, 8))
    templates = {
        f"t{i}": draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=2, unique=True))
        for i in range(n_templates)
    }
    n = draw(st.integers(10, 80))
    records = []
    for i in range(n):
        t = draw(st.sampled_from(sorted(templates)))
        # Some records are framed: a second clause from another template.
        clauses = {
            "main": t,
            **({"sub": draw(st.sampled_from(sorted(templates)))} if draw(st.booleans()) else {}),
        }
        records.append(
            {
                "id": f"r{i}",
                "template": t,
                "clauses": clauses,
                "event_kinds": templates[t],
                "fillers": {
                    "who": f"names:{draw(st.integers(0, 5))}",
                    "what": f"objects:{draw(st.integers(0, 4))}",
                    "me": "player_self:I",
                },
            }
        )
    return records


@settings(max_examples=60, deadline=None)
@given(records=synthetic_records(), seed=st.integers(0, 1000), fraction=st.floats(0.1, 0.5))
def test_split_promises_hold_for_any_records(records, seed, fraction):
    splits = make_splits(records, seed, fraction)
    for split in splits.values():
        assert sorted(ids(split["train"]) + ids(split["test"])) == sorted(ids(records))
    by_template = splits["held_out_template"]
    train_t = {t for r in by_template["train"] for t in r["clauses"].values()}
    assert all(any(t not in train_t for t in r["clauses"].values()) for r in by_template["test"])
    # A kind never loses all its training templates.
    assert {k for r in by_template["train"] for k in r["event_kinds"]} == {
        k for r in records for k in r["event_kinds"]
    }
    by_vocab = splits["held_out_vocabulary"]
    seen = fillers(by_vocab["train"])
    assert all(set(r["fillers"].values()) - seen for r in by_vocab["test"])
    assert "player_self:I" not in fillers(by_vocab["test"]) - seen


@pytest.mark.parametrize(
    "held_out", [("random",), ("random", "held_out_vocabulary"), tuple(SPLIT_NAMES)]
)
def test_the_models_train_on_every_record_no_held_out_split_tests(records, splits, held_out):
    """Training plus validation is exactly what the held-out splits leave, so a template or word
    that only a split the profile trains on would hold out still reaches the models."""
    train, val = training_records(splits, held_out, validation_fraction=0.1, seed=3)
    tested = {i for name in held_out for i in ids(splits[name]["test"])}
    assert not set(ids(train)) & set(ids(val))
    assert sorted(ids(train) + ids(val)) == sorted(i for i in ids(records) if i not in tested)
    templates = {t for r in train + val for t in r["clauses"].values()}
    template_split = splits["held_out_template"]
    held_templates = {t for r in template_split["test"] for t in r["clauses"].values()} - {
        t for r in template_split["train"] for t in r["clauses"].values()
    }
    assert held_templates
    if "held_out_template" in held_out:
        assert not templates & held_templates  # the held-out templates stay unseen
    else:
        assert held_templates <= templates  # and otherwise every one of them is learned
