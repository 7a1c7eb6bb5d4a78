"""A malformed spec gives exit 2, one `file:line: key: message` line per problem, and changes nothing."""

from __future__ import annotations

import re
import shutil

import pytest
from spec_helpers import GENERATED, copy_specs, edit, storyml, tree_bytes

from codegen.spec.loader import load_specs
from codegen.spec.models import EnumsFile

LINE = re.compile(r"^(?P<file>[^:]+\.ya?ml):(?P<line>\d+): (?P<key>[^:]*): (?P<msg>.+)$")

# (name, file, old text, new text, expected file suffix, expected line, expected key, message fragment).
# The expected line counts from the line where the old text starts (0: that line), so comments
# added above an edit do not move it; None: the line is not checked.
BREAKAGES = [
    (
        "syntax error",
        "enums.yaml",
        "variants: [Topsoil, Sediment, Bedrock, Primordial]",
        "variants: [Topsoil, Sediment, Bedrock, Primordial",
        "enums.yaml",
        1,
        "enums.TemporalLayer.variants[4]",
        "YAML syntax error at column 13: the [ list opened on line 9 is not closed",
    ),
    (
        "misspelled slots_per enum",
        "character/features.yaml",
        "slots: {per: EmotionalPrimary}",
        "slots: {per: EmotionalPrimar}",
        "character/features.yaml",
        0,
        "regions[1].slots.per",
        "unknown enum 'EmotionalPrimar' (did you mean 'EmotionalPrimary'?",
    ),
    (
        "unknown key",
        "character/outputs.yaml",
        "    weight: 0.35",
        "    weight: 0.35\n    colour: blue",
        "character/outputs.yaml",
        1,
        "heads[0].colour",
        "unknown key",
    ),
    (
        "duplicate label",
        "text/labels.yaml",
        "    - SpeechAct",
        "    - SpeechAct\n    - SpeechAct",
        "text/labels.yaml",
        1,
        "event_kinds.labels[6]",
        "duplicate label: 'SpeechAct'",
    ),
    (
        "wrong declared total",
        "character/features.yaml",
        "total: 453",
        "total: 454",
        "character/features.yaml",
        0,
        "total",
        "declared 454, but the regions add up to 453",
    ),
    (
        "dangling enum reference",
        "character/features.yaml",
        "onehot: TemporalLayer",
        "onehot: TemporalLayers",
        "character/features.yaml",
        0,
        "types.AxisSlot.fields[1].onehot",
        "unknown enum 'TemporalLayers'",
    ),
    (
        "duplicate key",
        "enums.yaml",
        "  SceneType:",
        "  TemporalLayer:\n    variants: [A]\n  SceneType:",
        "enums.yaml",
        0,
        "enums.TemporalLayer",
        "duplicate key",
    ),
    (
        "wrong region size",
        "character/features.yaml",
        "    size: 120",
        "    size: 121",
        "character/features.yaml",
        0,
        "regions[3].size",
        "declared 121, but its fields add up to 120",
    ),
    (
        "bad decode for kind",
        "character/outputs.yaml",
        "kind: categorical, enum: ActionType, loss: cross_entropy, decode: argmax",
        "kind: categorical, enum: ActionType, loss: cross_entropy, decode: identity",
        "character/outputs.yaml",
        0,
        "heads[0].fields[0]",
        "decodes with argmax, not identity",
    ),
    (
        "head records collide",
        "character/outputs.yaml",
        "  - name: speech\n",
        "  - name: action_\n",
        "character/outputs.yaml",
        0,
        "heads[1].name",
        "head 'action_' becomes the record type 'ActionHead', as head 'action' does",
    ),
    (
        "two models for one label set",
        "artifacts.yaml",
        "    labels: bio",
        "    labels: event_kinds",
        "artifacts.yaml",
        0,
        "models.ner_classifier.labels",
        "'event_classifier' already predicts 'event_kinds'",
    ),
    (
        "reserved word",
        "character/features.yaml",
        '{name: debt, doc: "What they feel',
        '{name: match, doc: "What they feel',
        "character/features.yaml",
        None,
        "regions[2].fields[4].name",
        "reserved word",
    ),
    (
        "random split not held out",
        "build.yaml",
        "    held_out_splits: [random]",
        "    held_out_splits: [held_out_template]",
        "build.yaml",
        0,
        "profiles.default.held_out_splits",
        "must hold out `random`",
    ),
    (
        "split held out twice",
        "build.yaml",
        "    held_out_splits: [random]",
        "    held_out_splits: [random, random]",
        "build.yaml",
        0,
        "profiles.default.held_out_splits",
        "random listed more than once",
    ),
    (
        "profile extending an unknown profile",
        "build.yaml",
        "  silver_self_training:\n    extends: default",
        "  silver_self_training:\n    extends: defualt",
        "build.yaml",
        1,
        "profiles.silver_self_training.extends",
        "no profile 'defualt' to extend (did you mean 'default'?",
    ),
    (
        "profiles extending each other",
        "build.yaml",
        "  default:\n    doc:",
        "  default:\n    extends: template_generalisation\n    doc:",
        "build.yaml",
        None,
        "profiles.template_generalisation.extends",
        "profiles extend each other in a circle (default -> template_generalisation -> default)",
    ),
    (
        "unknown split",
        "build.yaml",
        "    held_out_splits: [random]",
        "    held_out_splits: [random, held_out_names]",
        "build.yaml",
        0,
        "profiles.default.held_out_splits[1]",
        "held_out_template",
    ),
]


def _problems(stderr: str) -> list[re.Match]:
    lines = [line for line in stderr.splitlines() if line and not line.endswith("in the specs")]
    matches = [LINE.match(line) for line in lines]
    assert all(matches), f"not all lines are file:line: key: message:\n{stderr}"
    return matches


@pytest.mark.parametrize("case", BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_broken_spec_is_reported_with_file_line_and_key(tmp_path, case):
    _, rel, old, new, file_suffix, line, key, fragment = case
    specs = copy_specs(tmp_path)
    original = (specs / rel).read_text(encoding="utf-8")
    first_line = original[: original.index(old)].count("\n") + 1
    edit(specs / rel, old, new)
    result = storyml("check", "--specs", str(specs))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    problems = _problems(result.stderr)
    hit = [m for m in problems if fragment in m["msg"]]
    assert hit, result.stderr
    assert hit[0]["file"].endswith(file_suffix)
    if line is not None:
        assert int(hit[0]["line"]) == first_line + line, result.stderr
    assert hit[0]["key"] == key, result.stderr


def test_empty_and_truncated_files(tmp_path):
    specs = copy_specs(tmp_path)
    (specs / "enums.yaml").write_text("# nothing here\n", encoding="utf-8")
    outputs = specs / "character" / "outputs.yaml"
    outputs.write_text(outputs.read_text(encoding="utf-8")[:900], encoding="utf-8")
    result = storyml("check", "--specs", str(specs))
    assert result.returncode == 2
    text = result.stderr
    assert "enums.yaml:1: <document>: empty file" in text
    assert "outputs.yaml" in text


def test_all_problems_are_reported_at_once(tmp_path):
    specs = copy_specs(tmp_path)
    edit(specs / "character/features.yaml", "total: 453", "total: 1")
    edit(specs / "character/outputs.yaml", "total: 42", "total: 2")
    result = storyml("check", "--specs", str(specs))
    assert result.returncode == 2
    problems = _problems(result.stderr)
    assert {(m["key"], m["file"].rsplit("/", 1)[-1]) for m in problems} >= {
        ("total", "features.yaml"),
        ("total", "outputs.yaml"),
    }


def test_failed_gen_leaves_generated_untouched(tmp_path):
    out = tmp_path / "generated"
    shutil.copytree(GENERATED, out, ignore=shutil.ignore_patterns("target", "__pycache__"))
    before = tree_bytes(out)
    specs = copy_specs(tmp_path)
    edit(specs / "text/labels.yaml", "    - SpeechAct", "    - SpeechAct\n    - SpeechAct")
    result = storyml("gen", "--specs", str(specs), "--out", str(out))
    assert result.returncode == 2
    assert tree_bytes(out) == before


def test_a_misspelled_enum_gives_one_problem_with_a_suggestion(tmp_path):
    """A typo in an enum's name is reported where the enum is used, with the name it resembles;
    the variants that hang off it do not echo it as knock-on problems."""
    specs = copy_specs(tmp_path)
    name = next(iter(load_specs(specs).one(EnumsFile).enums))
    edit(specs / "enums.yaml", f"{name}:", f"{name}X:")
    result = storyml("check", "--specs", str(specs))
    assert result.returncode == 2
    problems = [
        line for line in result.stderr.splitlines() if ": " in line and "problem" not in line
    ]
    assert problems and all(f"did you mean '{name}X'?" in p for p in problems), result.stderr
    assert len(problems) <= 3, result.stderr


def test_a_value_with_a_line_break_is_quoted_on_its_problem_line(tmp_path):
    """An unknown name holding a line break (found by the spec fuzzer) is escaped, so each problem
    stays one `file:line: key: message` line."""
    specs = copy_specs(tmp_path)
    edit(
        specs / "templates/movement.yaml",
        "registers: [player, narrator]",
        'registers: [player, "line\\nbreak"]',
    )
    result = storyml("check", "--specs", str(specs))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line]
    assert any("'line\\nbreak'" in line and "movement.yaml:" in line for line in lines), (
        result.stderr
    )
    assert all(
        line.startswith(str(specs)) or re.match(r"^\S+:\d+: ", line) or "problem" in line
        for line in lines
    ), result.stderr
