"""Checks shared by the hand-written evaluation sets' tests (test set and development set).

Written out with json and the contract's label lists only, so a loader bug cannot hide a
broken file.
"""

from __future__ import annotations

from collections import Counter

from storyml_contract.text import ENTITY_CATEGORIES, ENTITY_ROLES, EVENT_KIND_LABELS

ENTITY_KEYS = {"start", "end", "byte_start", "byte_end", "text", "category", "role"}


def assert_entity_offsets_exact(records: list[dict]) -> None:
    """Entities sorted, inside the text, exact in characters and UTF-8 bytes, known labels, no overlap."""
    for r in records:
        text = r["text"]
        encoded = text.encode("utf-8")
        starts = [e["start"] for e in r["entities"]]
        assert starts == sorted(starts), f"{r['id']}: entities not sorted by start"
        end = 0
        for e in r["entities"]:
            assert set(e) == ENTITY_KEYS, (r["id"], e)
            assert 0 <= e["start"] < e["end"] <= len(text), (r["id"], e)
            assert text[e["start"] : e["end"]] == e["text"], (r["id"], e)
            assert e["text"] == e["text"].strip(), (r["id"], e)
            assert e["byte_start"] == len(text[: e["start"]].encode("utf-8")), (r["id"], e)
            assert e["byte_end"] == len(text[: e["end"]].encode("utf-8")), (r["id"], e)
            assert encoded[e["byte_start"] : e["byte_end"]].decode("utf-8") == e["text"], (
                r["id"],
                e,
            )
            assert e["category"] in ENTITY_CATEGORIES and e["role"] in ENTITY_ROLES, (r["id"], e)
            assert e["start"] >= end, f"{r['id']}: overlapping entities"
            end = e["end"]


def assert_coverage(records: list[dict], rule) -> None:
    """Every event kind and entity category at least as often as the spec's coverage rule asks."""
    kinds = Counter(k for r in records for k in r["event_kinds"])
    categories = Counter(e["category"] for r in records for e in r["entities"])
    assert {k: kinds[k] for k in EVENT_KIND_LABELS if kinds[k] < rule.per_event_kind} == {}
    assert {
        c: categories[c] for c in ENTITY_CATEGORIES if categories[c] < rule.per_entity_category
    } == {}


def assert_unique_texts_and_ids(records: list[dict], min_records: int) -> None:
    """At least `min_records` records, no text and no id twice."""
    assert len(records) >= min_records
    texts = Counter(r["text"] for r in records)
    assert [t for t, n in texts.items() if n > 1] == []
    ids = Counter(r["id"] for r in records)
    assert [i for i, n in ids.items() if n > 1] == []
