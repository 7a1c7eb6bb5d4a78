"""The hand-written real-prose evaluation set is well formed and covers every label.

The checks are written out here rather than only delegated to the loader, so a loader bug
cannot hide a broken file; the loader is tested against the file and against broken copies.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from evalset_checks import assert_coverage, assert_entity_offsets_exact, assert_unique_texts_and_ids
from spec_helpers import evalset_rule
from storyml_contract.text import EVENT_KIND_LABELS

from storyml.errors import UserError
from storyml.evaluate.evalsets import REAL_PROSE_FILE, load_event_records

MIN_RECORDS = 60
RULE = evalset_rule(REAL_PROSE_FILE)  # coverage.evalsets in specs/text/training.yaml
ACTION_TYPES = ("Perform", "Speak", "Move", "Examine", "Wait", "Resist")
RECORDS = [
    json.loads(line)
    for line in REAL_PROSE_FILE.read_text(encoding="utf-8").splitlines()
    if line.strip()
]


def test_the_set_is_large_enough_and_has_no_repeated_text_or_id():
    assert_unique_texts_and_ids(RECORDS, MIN_RECORDS)


def test_every_record_has_the_events_format_and_known_labels():
    for r in RECORDS:
        assert {"id", "text", "register", "event_kinds", "action_type", "entities"} <= set(r), r[
            "id"
        ]
        assert r["register"] in ("player", "narrator"), r["id"]
        assert r["event_kinds"] and set(r["event_kinds"]) <= set(EVENT_KIND_LABELS), r["id"]
        assert len(set(r["event_kinds"])) == len(r["event_kinds"]), r["id"]
        assert r["action_type"] is None or r["action_type"] in ACTION_TYPES, r["id"]
        assert r["text"] == r["text"].strip() and r["text"][-1] in '.!?"”', r["id"]


def test_entity_offsets_are_exact_in_characters_and_bytes_and_never_overlap():
    assert_entity_offsets_exact(RECORDS)


def test_every_event_kind_and_category_occurs_several_times():
    assert_coverage(RECORDS, RULE)


def test_the_set_has_what_templates_lack():
    registers = Counter(r["register"] for r in RECORDS)
    assert registers["player"] >= 15 and registers["narrator"] >= 15
    assert sum(len(r["event_kinds"]) > 1 for r in RECORDS) >= 10, "multi-label sentences"
    non_ascii = [r for r in RECORDS if any(not e["text"].isascii() for e in r["entities"])]
    assert len(non_ascii) >= 5, "non-ASCII names, where byte and character offsets differ"
    assert any(e["byte_start"] != e["start"] for r in non_ascii for e in r["entities"])
    assert sum(any(q in r["text"] for q in ('"', "“")) for r in RECORDS) >= 5, "dialogue"
    assert sum(len(r["text"]) > 100 for r in RECORDS) >= 15, (
        "long sentences (templates write short ones)"
    )


def test_the_loader_accepts_the_set():
    assert load_event_records(REAL_PROSE_FILE) == RECORDS


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda r: r["entities"][0].update(start=r["entities"][0]["start"] + 1), "text["),
        (lambda r: r["entities"][0].update(category="PERSON"), "PERSON"),
        (
            lambda r: r["entities"][0].update(byte_end=r["entities"][0]["byte_end"] + 1),
            "byte offsets",
        ),
        (lambda r: r.update(event_kinds=["Nonsense"]), "Nonsense"),
        (lambda r: r.update(register="chorus"), "register"),
        (lambda r: r["entities"].append(dict(r["entities"][0])), "overlaps"),
    ],
)
def test_the_loader_names_file_and_line_of_a_broken_record(tmp_path: Path, breakage, message):
    records = json.loads(json.dumps(RECORDS[:3]))
    breakage(records[2])
    path = tmp_path / "broken.jsonl"
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    with pytest.raises(UserError, match=rf"broken\.jsonl:3: .*{message}".replace("[", r"\[")):
        load_event_records(path)
