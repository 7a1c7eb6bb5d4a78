"""The events dataset: balanced, exact spans (also beyond ASCII), deterministic, validated."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spec_helpers import copy_specs, edit, storyml
from storyml_contract.text import ENTITY_CATEGORIES, EVENT_KIND_LABELS

from codegen.spec.loader import load_specs
from storyml.cli import main
from storyml.data import events
from storyml.data.events import (
    ends_sentence,
    finish_sentence,
    generate_events,
    make_entity,
    read_jsonl,
    register_rules,
    validate_record,
)
from storyml.errors import UserError

SPECS = Path(__file__).resolve().parents[1] / "specs"
PER_KIND = 100


@pytest.fixture(scope="module")
def specs():
    return load_specs(SPECS)


@pytest.fixture(scope="module")
def rules(specs):
    return register_rules(specs)


@pytest.fixture(scope="module")
def records(specs):
    return generate_events(specs, seed=11, per_kind=PER_KIND)


def cli(argv: list[str]) -> int:
    return main(["data", "events", *argv])


# ---------------------------------------------------------------- done-when figures


def test_every_kind_has_at_least_per_kind_examples(records):
    counts = Counter(k for r in records for k in r["event_kinds"])
    assert set(counts) == set(EVENT_KIND_LABELS)
    assert min(counts.values()) >= PER_KIND
    assert len(records) >= len(EVENT_KIND_LABELS) * PER_KIND


def test_every_category_is_present(records):
    counts = Counter(e["category"] for r in records for e in r["entities"])
    assert set(counts) == set(ENTITY_CATEGORIES)


def test_registers_are_balanced(records):
    share = sum(r["register"] == "player" for r in records) / len(records)
    assert 0.4 <= share <= 0.6


def test_spans_are_exact_in_characters_and_bytes(records):
    assert any(not e["text"].isascii() for r in records for e in r["entities"])
    for r in records:
        data = r["text"].encode("utf-8")
        for e in r["entities"]:
            assert r["text"][e["start"] : e["end"]] == e["text"]
            assert data[e["byte_start"] : e["byte_end"]].decode("utf-8") == e["text"]


def test_sentences_start_with_a_capital_and_end_with_punctuation(records):
    for r in records:
        first = next(c for c in r["text"] if c.isalpha())
        assert first.isupper(), r["text"]
        assert r["text"].rstrip('"')[-1] in ".!?", r["text"]


def test_texts_and_ids_are_unique(records):
    assert len({r["text"] for r in records}) == len(records)
    assert len({r["id"] for r in records}) == len(records)


def test_records_have_the_agreed_format(records):
    keys = {
        "id",
        "text",
        "register",
        "event_kinds",
        "action_type",
        "entities",
        "template",
        "clauses",
        "frame",
        "fillers",
    }
    entity_keys = {"start", "end", "byte_start", "byte_end", "text", "category", "role"}
    for r in records:
        assert set(r) == keys
        assert all(set(e) == entity_keys for e in r["entities"])
        assert r["fillers"] and all(":" in f for f in r["fillers"].values())


def test_every_record_passes_the_validator(rules, records):
    assert {("act_imperative", "player"), ("move_imperative", "player")} <= rules.orders
    for r in records:
        assert validate_record(r, rules) == [], r


def test_player_speaks_in_first_person_and_narrator_in_third(rules, records):
    player = [
        r
        for r in records
        if r["register"] == "player" and (r["template"], "player") not in rules.orders
    ]
    narrator = [r for r in records if r["register"] == "narrator"]

    def words(r):
        return set(re.findall(r"\w+", re.sub(r'"[^"]*"', "", r["text"])))

    assert player and all(words(r) & {"I", "me", "my"} for r in player)
    assert narrator and not any(words(r) & {"I", "me", "my"} for r in narrator)


def test_multi_label_examples_exist(records):
    multi = [r for r in records if len(r["event_kinds"]) > 1]
    assert len(multi) >= len(records) // 10
    assert {("SpeechAct", "InformationTransfer")} & {
        tuple(sorted(r["event_kinds"], reverse=True)) for r in multi
    }


# ---------------------------------------------------------------- determinism and files


def test_same_seed_gives_byte_identical_files(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for out in (a, b):
        assert (
            cli(["--specs", str(SPECS), "--seed", "5", "--per-kind", "20", "--out", str(out)]) == 0
        )
    assert a.read_bytes() == b.read_bytes()
    assert (tmp_path / "a.manifest.json").read_bytes() == (
        tmp_path / "b.manifest.json"
    ).read_bytes()


def test_different_seed_gives_different_data(specs):
    one = generate_events(specs, seed=1, per_kind=10)
    two = generate_events(specs, seed=2, per_kind=10)
    assert [r["text"] for r in one] != [r["text"] for r in two]


def test_manifest_describes_the_file(tmp_path, specs):
    out = tmp_path / "ev.jsonl"
    cli(["--specs", str(SPECS), "--seed", "3", "--per-kind", "20", "--out", str(out)])
    manifest = json.loads((tmp_path / "ev.manifest.json").read_text(encoding="utf-8"))
    recs = read_jsonl(out)
    assert manifest["total"] == len(recs)
    assert manifest["seed"] == 3
    assert manifest["counts"]["event_kind"] == dict(
        sorted(Counter(k for r in recs for k in r["event_kinds"]).items())
    )
    assert sum(manifest["counts"]["register"].values()) == len(recs)
    assert sum(manifest["counts"]["template"].values()) == len(recs)
    assert set(manifest["counts"]["category"]) == set(ENTITY_CATEGORIES) or len(recs) < 200
    assert manifest["rejected"]["total"] == sum(manifest["rejected"]["reasons"].values())
    assert manifest["specs_fingerprint"] == events.specs_fingerprint(specs)
    assert len(manifest["contract_fingerprint"]) == 16


def test_bad_per_kind_is_a_user_error(specs):
    with pytest.raises(UserError, match="per-kind"):
        generate_events(specs, per_kind=0)


def test_labels_out_of_step_with_generated_contract_are_refused(tmp_path):
    """Defect 4: the label order of the data and of the trained model must be the same."""
    root = tmp_path / "specs"
    shutil.copytree(SPECS, root)
    labels = root / "text" / "labels.yaml"
    text = labels.read_text(encoding="utf-8")
    swapped = text.replace(
        "    - StateAssertion\n    - ActionOccurrence\n",
        "    - ActionOccurrence\n    - StateAssertion\n",
    )
    assert swapped != text
    labels.write_text(swapped, encoding="utf-8")
    with pytest.raises(UserError, match="storyml gen"):
        generate_events(load_specs(root), per_kind=5)


def test_read_jsonl_names_file_and_line_of_bad_json(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": 1}\n{oops\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"bad.jsonl:2"):
        read_jsonl(path)


# ---------------------------------------------------------------- the validator catches bad records


def good_record() -> dict:
    text = "I hand the crème jar to Zoë."
    return {
        "id": "x",
        "text": text,
        "register": "player",
        "event_kinds": ["ActionOccurrence"],
        "action_type": "Perform",
        "template": "hand_object_over",
        "fillers": {},
        "entities": [
            make_entity(text, 0, 1, "CHARACTER", "Actor"),
            make_entity(text, 7, 20, "OBJECT", "Target"),
            make_entity(text, 24, 27, "CHARACTER", "Target"),
        ],
    }


def test_good_record_is_valid(rules):
    r = good_record()
    assert r["entities"][1]["text"] == "the crème jar" and r["entities"][2]["text"] == "Zoë"
    assert validate_record(r, rules) == []


@pytest.mark.parametrize(
    "breakage, expected",
    [
        (lambda r: r.update(text="i hand the crème jar to Zoë."), "lower-case"),
        (lambda r: r.update(text="I hand the crème jar to Zoë"), "final punctuation"),
        (lambda r: r.update(event_kinds=["Gossip"]), "unknown event kind"),
        (lambda r: r.update(action_type="Dance"), "unknown action type"),
        (lambda r: r.update(register="narrator"), "first person"),
        (lambda r: r["entities"][1].update(category="THING"), "unknown category"),
        (lambda r: r["entities"][1].update(role="Hero"), "unknown role"),
        (lambda r: r["entities"][2].update(end=40), "outside the text"),
        (lambda r: r["entities"][1].update(start=0), "overlaps"),
        (lambda r: r["entities"][2].update(text="Zoe"), "text 'Zoe'"),
        (lambda r: r["entities"][2].update(byte_start=24), "byte offsets"),
    ],
)
def test_validator_reports_each_kind_of_fault(rules, breakage, expected):
    r = good_record()
    breakage(r)
    assert any(expected in p for p in validate_record(r, rules)), validate_record(r, rules)


def test_player_sentence_without_first_person_needs_an_imperative_template(rules):
    text = "Tom hands the key to Kate."
    r = {**good_record(), "text": text, "entities": []}
    assert any("first person" in p for p in validate_record(r, rules))
    as_order = dataclasses.replace(rules, orders=frozenset({(r["template"], "player")}))
    assert validate_record(r, as_order) == []


# ---------------------------------------------------------------- properties of span arithmetic

letters = st.text(
    st.characters(codec="utf-8", categories=("Lu", "Ll", "Lo", "Nd")), min_size=1, max_size=12
)
filler = (
    st.text(
        st.characters(codec="utf-8", categories=("Lu", "Ll", "Lo", "Zs", "Po")),
        min_size=1,
        max_size=15,
    )
    .map(str.strip)
    .filter(bool)
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(prefix=letters, entity=filler, suffix=letters)
def test_entity_offsets_are_exact_for_any_text(rules, prefix, entity, suffix):
    text = f"I see {prefix} {entity} {suffix}."
    start = len(f"I see {prefix} ")
    e = make_entity(text, start, start + len(entity), "OBJECT", "Target")
    assert text[e["start"] : e["end"]] == entity
    assert text.encode("utf-8")[e["byte_start"] : e["byte_end"]].decode("utf-8") == entity
    assert e["byte_end"] - e["byte_start"] == len(entity.encode("utf-8"))
    record = {
        "text": text,
        "register": "player",
        "event_kinds": ["ActionOccurrence"],
        "action_type": None,
        "entities": [e],
        "template": "t",
    }
    assert not [p for p in validate_record(record, rules) if p.startswith("entity")]


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(prefix=letters, entity=filler, shift=st.integers(-3, 3).filter(bool))
def test_a_shifted_span_is_caught(rules, prefix, entity, shift):
    text = f"I see {prefix} {entity} here."
    start = len(f"I see {prefix} ")
    e = make_entity(text, start, start + len(entity), "OBJECT", "Target")
    moved = {**e, "start": e["start"] + shift, "end": e["end"] + shift}
    record = {
        "text": text,
        "register": "player",
        "event_kinds": ["StateAssertion"],
        "action_type": None,
        "entities": [moved],
        "template": "t",
    }
    assert [p for p in validate_record(record, rules) if p.startswith("entity")]


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_sentence_fix_up_never_moves_an_offset(text):
    """Only the first letter may change (to its capital) and only a final '.' may be added."""
    done = finish_sentence(text)
    assert done[len(text) :] in ("", ".")
    changed = [i for i in range(len(text)) if done[i] != text[i]]
    assert len(changed) <= 1
    for i in changed:
        assert done[i] == text[i].upper() and not any(c.isalpha() for c in text[:i])
    assert ends_sentence(done)


# ---------------------------------------------------------------- bounded generation


def test_an_event_kind_with_no_template_stops_the_data_command_at_the_check(tmp_path):
    """The hang of issue 9: an appended kind with no template made `storyml data events` search on."""
    specs = copy_specs(tmp_path)
    edit(
        specs / "text" / "labels.yaml",
        "    - EnvironmentalChange\n",
        "    - EnvironmentalChange\n    - Gossip\n",
    )
    for argv in (
        ["check", "--specs", str(specs)],
        [
            "data",
            "events",
            "--specs",
            str(specs),
            "--per-kind",
            "5",
            "--out",
            str(tmp_path / "e.jsonl"),
        ],
    ):
        done = storyml(*argv)
        assert done.returncode == 2, done.stderr
        assert (
            "labels.yaml" in done.stderr
            and "no template generates event kind 'Gossip'" in done.stderr
        )
    assert not (tmp_path / "e.jsonl").exists()


@pytest.mark.parametrize(
    "capacity, message",
    [
        (2, "all 2 combinations used"),
        (0, "could not be filled at all"),
    ],
)
def test_a_kind_whose_templates_run_dry_fails_fast_naming_kind_and_templates(
    specs, monkeypatch, capacity, message
):
    """Every template listing EnvironmentalChange cut to `capacity` filler combinations: the kind
    cannot reach 200, and generation stops at once instead of expanding the other kinds for ever."""
    import time

    compile_plans = events.compile_plans
    kind = "EnvironmentalChange"
    monkeypatch.setattr(
        events,
        "compile_plans",
        lambda s: [
            dataclasses.replace(p, capacity=capacity) if kind in p.template.event_kinds else p
            for p in compile_plans(s)
        ],
    )
    started = time.perf_counter()
    with pytest.raises(UserError) as caught:
        events.build_events(specs, seed=5, per_kind=200)
    assert time.perf_counter() - started < 10
    text = str(caught.value)
    assert f"event kind {kind!r} has " in text and message in text
    kind_templates = [
        t.id for e in specs.of_kind("templates") for t in e.model.templates if kind in t.event_kinds
    ]
    assert any(tid in text for tid in kind_templates)
