"""The hand-written real-prose DEVELOPMENT set is well formed, balanced and disjoint from the test set.

`evalsets/dev_prose.jsonl` is where choices are made (templates, thresholds, epochs, sampling
rates); `evalsets/real_prose.jsonl` stays the untouched TEST set. The checks read the files with
json alone, so a loader bug cannot hide a broken file; the label names come from the
generated contract, never from a list written here.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from evalset_checks import assert_coverage, assert_entity_offsets_exact, assert_unique_texts_and_ids
from spec_helpers import evalset_rule
from storyml_contract.text import EVENT_KIND_LABELS

EVALSETS = Path(__file__).resolve().parents[1] / "evalsets"
DEV_FILE = EVALSETS / "dev_prose.jsonl"
TEST_FILE = EVALSETS / "real_prose.jsonl"

MIN_RECORDS = 320
RULE = evalset_rule(DEV_FILE)  # coverage.evalsets in specs/text/training.yaml
REGISTER_SHARE = (0.40, 0.60)
MIN_LONG_SHARE = 0.25  # share of texts longer than LONG_TOKENS whitespace-separated tokens
LONG_TOKENS = 20
ACTION_TYPES = ("Perform", "Speak", "Move", "Examine", "Wait", "Resist")
KEYS = {"id", "text", "register", "event_kinds", "action_type", "entities"}


def _read(path: Path) -> list[dict]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


RECORDS = _read(DEV_FILE)
TEST_RECORDS = _read(TEST_FILE)


def test_the_set_is_large_enough_and_has_no_repeated_text_or_id():
    assert_unique_texts_and_ids(RECORDS, MIN_RECORDS)


def test_no_text_is_shared_with_the_test_set():
    shared = {r["text"] for r in RECORDS} & {r["text"] for r in TEST_RECORDS}
    assert shared == set()
    assert not {r["id"] for r in RECORDS} & {r["id"] for r in TEST_RECORDS}


def test_every_record_has_the_events_format_and_known_labels():
    for r in RECORDS:
        assert set(r) == KEYS, r["id"]
        assert r["id"].startswith("dev-"), r["id"]
        assert r["register"] in ("player", "narrator"), r["id"]
        assert r["event_kinds"] and set(r["event_kinds"]) <= set(EVENT_KIND_LABELS), r["id"]
        assert len(set(r["event_kinds"])) == len(r["event_kinds"]), r["id"]
        assert r["action_type"] is None or r["action_type"] in ACTION_TYPES, r["id"]
        text = r["text"]
        assert isinstance(text, str) and text == text.strip() and text[-1] in '.!?"”', r["id"]


def test_entity_offsets_are_exact_in_characters_and_bytes_and_never_overlap():
    assert_entity_offsets_exact(RECORDS)


def test_every_event_kind_and_category_occurs_often():
    assert_coverage(RECORDS, RULE)


def test_registers_are_balanced():
    registers = Counter(r["register"] for r in RECORDS)
    low, high = REGISTER_SHARE
    for register in ("player", "narrator"):
        assert low <= registers[register] / len(RECORDS) <= high, dict(registers)


def test_enough_long_sentences():
    long = sum(len(r["text"].split()) > LONG_TOKENS for r in RECORDS)
    assert long / len(RECORDS) >= MIN_LONG_SHARE, (
        f"{long} of {len(RECORDS)} texts over {LONG_TOKENS} tokens"
    )


def test_the_set_has_what_templates_lack():
    non_ascii = [r for r in RECORDS if any(not e["text"].isascii() for e in r["entities"])]
    assert len(non_ascii) >= 20, "non-ASCII names, where byte and character offsets differ"
    assert any(e["byte_start"] != e["start"] for r in non_ascii for e in r["entities"])
    assert sum(len(r["event_kinds"]) > 1 for r in RECORDS) >= 40, "multi-label sentences"
    assert sum('"' in r["text"] for r in RECORDS) >= 10, "dialogue in straight quotes"
    assert sum("“" in r["text"] for r in RECORDS) >= 10, "dialogue in curly quotes"
