"""The templates and vocabulary specs: content coverage, and broken specs fail with located errors."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from storyml_contract.text import ENTITY_CATEGORIES, EVENT_KIND_LABELS

from codegen.spec.errors import SpecError
from codegen.spec.loader import load_specs
from codegen.spec.templates import pattern_slots
from codegen.spec.training import TextTrainingFile
from storyml.cli import main

SPECS = Path(__file__).resolve().parents[1] / "specs"
PROBLEM_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<key>[^:]+): (?P<message>.+)$")


@pytest.fixture(scope="module")
def specs():
    return load_specs(SPECS)


@pytest.fixture(scope="module")
def templates(specs):
    return [t for e in specs.of_kind("templates") for t in e.model.templates]


def test_at_least_ninety_templates(templates):
    assert len(templates) >= 90


@pytest.fixture(scope="module")
def coverage(specs):
    """The coverage rules of the text_training spec: the thresholds are read, never written here."""
    return specs.one(TextTrainingFile).coverage.templates


def test_every_event_kind_in_enough_templates(templates, coverage):
    for kind in EVENT_KIND_LABELS:
        n = sum(kind in t.event_kinds for t in templates)
        assert n >= coverage.per_event_kind, f"{kind} is in only {n} templates"


def test_every_category_produced_by_enough_templates(templates, coverage):
    for category in ENTITY_CATEGORIES:
        n = sum(
            any(s.entity and s.entity.category == category for s in t.slots.values())
            for t in templates
        )
        assert n >= coverage.per_entity_category, f"{category} is produced by only {n} templates"


def test_content_has_multi_label_dialogue_and_non_ascii(specs, templates):
    assert sum(len(t.event_kinds) > 1 for t in templates) >= 20
    assert sum('"' in p for t in templates for p in t.patterns.values()) >= 8
    words = [
        w
        for e in specs.of_kind("vocabulary")
        for wl in e.model.lists.values()
        for w in wl.entry_ids
    ]
    assert sum(not w.isascii() for w in words) >= 10


# ---------------------------------------------------------------- broken copies


def broken_copy(tmp_path: Path, rel: str, old: str, new: str) -> Path:
    """A copy of specs/ with one edit, checked to apply exactly once."""
    root = tmp_path / "specs"
    shutil.copytree(SPECS, root)
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} should occur once in {rel}"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return root


def lines_with(path: Path, needle: str) -> set[int]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {i for i, line in enumerate(lines, 1) if needle in line}


def check_fails(root: Path, capsys) -> list[re.Match]:
    assert main(["check", "--specs", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("in the specs")
    matches = [PROBLEM_LINE.match(line) for line in err[:-1]]
    assert all(matches), err
    return matches


BREAKAGES = [
    # (file, old text, new text, key path in the message, words of the message, line marker)
    (
        "templates/action.yaml",
        'pattern: "{actor} {verb} {object}."\n    slots:\n      actor: &actor',
        'pattern: "{actor} {verb} {thing}."\n    slots:\n      actor: &actor',
        "templates[0].pattern",
        "slot {thing} is not declared",
        'pattern: "{actor} {verb} {thing}."',
    ),
    (
        "templates/action.yaml",
        'pattern: "{actor} {verb} {object}."\n    slots:\n      actor: &actor',
        'pattern: "{actor} {verb} {object}."\n    slots:\n      spare: {from: objects}\n      actor: &actor',
        "templates[0].slots.spare",
        "declared but not used",
        "spare: {from: objects}",
    ),
    (
        "templates/emotion.yaml",
        "{category: GESTURE, role: Instrument}",
        "{category: GESTUR, role: Instrument}",
        "templates[3].slots.gesture.entity.category",
        "unknown entity category 'GESTUR'",
        "GESTUR,",
    ),
    (
        "templates/emotion.yaml",
        "gesture: &gesture {from: gestures, entity: {category: GESTURE, role: Instrument}}",
        "gesture: &gesture {from: gestures, entity: {role: Instrument}}",
        "templates[3].slots.gesture.entity",
        "must name its category",
        "entity: {role: Instrument}",
    ),
    (
        "vocabulary/people.yaml",
        "    words: [I]",
        "    words: []",
        "lists.player_self.words",
        "empty list",
        "words: []",
    ),
    (
        "vocabulary/people.yaml",
        "Jürgen, Marguerite]",
        "Jürgen, Marguerite, Zoë]",
        "lists.names.words[26]",
        "duplicate entry 'Zoë'",
        "Jürgen, Marguerite, Zoë]",
    ),
    (
        "templates/state.yaml",
        "event_kinds: [StateAssertion]\n    registers: [player, narrator]\n"
        '    pattern: "{actor} {be} {state}."',
        "event_kinds: [StateAssertion, Gossip]\n    registers: [player, narrator]\n"
        '    pattern: "{actor} {be} {state}."',
        "templates[0].event_kinds[1]",
        "unknown event kind 'Gossip'",
        "Gossip",
    ),
    (
        "templates/action.yaml",
        'action_type: Resist\n    registers: [player, narrator]\n    pattern: "{actor} {verb} {opponent}."',
        'action_type: Fight\n    registers: [player, narrator]\n    pattern: "{actor} {verb} {opponent}."',
        "templates[12].action_type",
        "unknown action type 'Fight'",
        "action_type: Fight",
    ),
    (
        "templates/movement.yaml",
        "verb: {from: move_verbs}\n      destination: &destination",
        "verb: {from: mvoe_verbs}\n      destination: &destination",
        "templates[0].slots.verb.from",
        "unknown vocabulary list 'mvoe_verbs'",
        "mvoe_verbs",
    ),
    (
        "templates/relation.yaml",
        "id: rift_with_person",
        "id: bond_with_person",
        "templates[1].id",
        "duplicate template id 'bond_with_person'",
        "- id: bond_with_person",
    ),
    (
        "templates/state.yaml",
        "event_kinds: [StateAssertion]\n    registers: [player, narrator]\n"
        '    pattern: "{actor} {be} {state}."',
        "event_kinds: [StateAssertion]\n    registers: [player, narator]\n"
        '    pattern: "{actor} {be} {state}."',
        "templates[0].registers[1]",
        "unknown register 'narator'",
        "registers: [player, narator]",
    ),
    (
        "vocabulary/things.yaml",
        "the ferry landing]",
        "the ferry landing, the lantern]",
        "lists.locations.words[25]",
        "a word may sit in the lists of one entity category only",
        "the ferry landing, the lantern]",
    ),
    (
        "templates/environment.yaml",
        '"{observer} watch as {weather} {change} {location}."\n      narrator',
        '"I watch as {weather} {change} {location}."\n      narrator',
        "templates[0].pattern.player",
        "'I' written as text is a mention left untagged",
        '"I watch as {weather}',
    ),
    (
        "vocabulary/people.yaml",
        "    words: [I]\n",
        "    words: [I]\n    include: [nowhere]\n",
        "lists.player_self.include[0]",
        "unknown vocabulary list 'nowhere'",
        "include: [nowhere]",
    ),
    (
        "templates/registers.yaml",
        "self_mention: player_self",
        "self_mention: player_selve",
        "self_mention",
        "unknown vocabulary list 'player_selve'",
        "self_mention: player_selve",
    ),
    (
        "templates/registers.yaml",
        "  narrator:\n",
        "  narator:\n",
        "registers.narator",
        "not a register of the text_labels spec",
        "  narator:",
    ),
]


@pytest.mark.parametrize(
    "rel, old, new, key, message, marker",
    BREAKAGES,
    ids=[b[3] + ":" + b[4].split()[0] for b in BREAKAGES],
)
def test_broken_spec_fails_check_with_located_error(
    tmp_path, capsys, rel, old, new, key, message, marker
):
    root = broken_copy(tmp_path, rel, old, new)
    found = [m for m in check_fails(root, capsys) if m["file"].endswith(rel) and m["key"] == key]
    assert found, f"no problem reported at {rel} {key}"
    assert any(message in m["message"] for m in found), [m["message"] for m in found]
    expected_lines = lines_with(root / rel, marker)
    assert any(int(m["line"]) in expected_lines for m in found), (
        expected_lines,
        [m.group(0) for m in found],
    )


def test_every_problem_is_reported_at_once(tmp_path, capsys):
    root = broken_copy(tmp_path, "vocabulary/people.yaml", "    words: [I]", "    words: []")
    path = root / "templates" / "emotion.yaml"
    text = path.read_text(encoding="utf-8").replace(
        "{category: GESTURE, role: Instrument}", "{category: GESTUR, role: Instrument}"
    )
    path.write_text(text, encoding="utf-8")
    keys = {m["key"] for m in check_fails(root, capsys)}
    assert {"lists.player_self.words", "templates[3].slots.gesture.entity.category"} <= keys


def test_load_specs_raises_spec_error_for_undeclared_slot(tmp_path):
    root = broken_copy(
        tmp_path,
        "templates/speech.yaml",
        "line: {from: dialogue_lines}\n\n  - id: question_then_tag",
        "lines: {from: dialogue_lines}\n\n  - id: question_then_tag",
    )
    with pytest.raises(SpecError) as exc:
        load_specs(root)
    messages = [p.message for p in exc.value.problems]
    assert any("slot {line} is not declared" in m for m in messages)
    assert any("'lines' is declared but not used" in m for m in messages)


def test_pattern_slots_in_order():
    assert pattern_slots('{a} said, "{b}" to {a}.') == ["a", "b", "a"]
