"""The training-matrix specs: valid as shipped, and every broken reference is a located error."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from spec_helpers import SPECS, copy_specs, edit, storyml

from codegen.spec.loader import load_specs
from codegen.spec.matrix import (
    ArchetypesFile,
    AxisTrait,
    Compare,
    LabellingRulesFile,
    PersonalityAxesFile,
    RelationalDynamicsFile,
    SceneProfilesFile,
    vocabulary_for,
)
from codegen.spec.models import EnumsFile, MlpModelFile
from storyml.cli import main


def test_shipped_matrix_specs_pass_check():
    specs = load_specs(SPECS)
    names = {
        e.doc.path.name
        for k in (
            "personality_axes",
            "archetypes",
            "relational_dynamics",
            "scene_profiles",
            "labelling_rules",
            "character_matrix",
        )
        for e in specs.of_kind(k)
    }
    assert names == {
        "axes.yaml",
        "archetypes.yaml",
        "dynamics.yaml",
        "scenes.yaml",
        "labelling.yaml",
        "matrix.yaml",
    }


def test_shipped_matrix_has_the_reference_catalogue():
    specs = load_specs(SPECS)
    axes = specs.one(PersonalityAxesFile)
    assert len(axes.axis_names) == 32 and len(axes.groups) == 6
    archetypes = specs.one(ArchetypesFile).archetypes
    assert len(archetypes) == 12
    assert all(10 <= len(a.axes) <= 16 for a in archetypes.values())
    assert len(specs.one(RelationalDynamicsFile).dynamics) == 10
    assert len(specs.one(SceneProfilesFile).profiles) == 10


def _problem_line(text: str, marker: str) -> int:
    return text[: text.index(marker)].count("\n") + 1


# (file, text to replace, replacement, key the error names, words of its message, marker for its line)
BROKEN = [
    (
        "archetypes.yaml",
        "      creative_expression: {value: [0.75, 0.95]",
        "      creative_expresion: {value: [0.75, 0.95]",
        "archetypes.wandering_artist.axes.creative_expresion",
        "unknown personality axis",
        "creative_expresion",
    ),
    (
        "archetypes.yaml",
        "joy_wonder: {value: [0.6, 0.9], layer: Sediment",
        "joy_wonder: {value: [0.6, 0.9], layer: Sediments",
        "archetypes.wandering_artist.axes.joy_wonder.layer",
        "unknown TemporalLayer variant 'Sediments'",
        "Sediments",
    ),
    (
        "archetypes.yaml",
        "      Joy: {intensity: [0.4, 0.7], awareness: [Articulate, Recognizable]}",
        "      Joy: {intensity: [0.4, 0.7], awareness: [Articulate, Aware]}",
        "archetypes.wandering_artist.emotions.Joy.awareness[1]",
        "unknown AwarenessLevel variant",
        "Aware]",
    ),
    (
        "scenes.yaml",
        "tension: [0.1, 0.35]",
        "tension: []",
        "profiles.quiet_reunion.tension",
        "a range is [low, high]",
        "tension: []",
    ),
    (
        "dynamics.yaml",
        "affection: [0.4, 0.7], debt: [-0.2, 0.1]}",
        "affection: [0.7, 0.4], debt: [-0.2, 0.1]}",
        "dynamics.mentor_student.a_to_b.affection",
        "empty range: low 0.7 is above high 0.4",
        "affection: [0.7",
    ),
    (
        "scenes.yaml",
        "{event_type: Speech, register: Tender, weight: 3}",
        "{event_type: Speech, register: Tendre, weight: 3}",
        "profiles.quiet_reunion.events[0].register",
        "unknown EmotionalRegister variant 'Tendre'",
        "Tendre",
    ),
    (
        "dynamics.yaml",
        "      - {a: Hub, b: Periphery}\n      - {a: Gate, b: Bridge}",
        "      - {a: Hub, b: Perifery}\n      - {a: Gate, b: Bridge}",
        "dynamics.mentor_student.roles[0].b",
        "unknown TopologicalRole variant 'Perifery'",
        "Perifery",
    ),
    (
        "labelling.yaml",
        "when: {player_event.event_type: Speech}",
        "when: {player_event.evnt_type: Speech}",
        "rules[1].when.player_event.evnt_type",
        "unknown path 'player_event.evnt_type'",
        "evnt_type",
    ),
    (
        "labelling.yaml",
        "action.action_type.Speak: 2.5",
        "action.action_type.Talk: 2.5",
        "rules[1].raise.action.action_type.Talk",
        "unknown ActionType variant 'Talk'",
        "Talk: 2.5",
    ),
    (
        "labelling.yaml",
        "when: {scene_context.scene_type: Gate}",
        "when: {scene_context.scene_type: {gt: 0.5}}",
        "scene_context.scene_type",
        "number comparisons do not apply",
        "{gt: 0.5}",
    ),
    (
        "labelling.yaml",
        "action.action_type.Speak: 2.5",
        "action.confidence: 2.5",
        "rules[1].raise.action.confidence",
        "derived",
        "action.confidence: 2.5",
    ),
    (
        "labelling.yaml",
        "then: {action.emotional_valence: {le: 0.2}}",
        "then: {action.emotional_valance: {le: 0.2}}",
        "coherence.checks.emotional_consistency.implications[0].then.action.emotional_valance",
        "unknown path",
        "emotional_valance",
    ),
    (
        "labelling.yaml",
        "  speech.confidence: {resolve: winner_probability, of: speech.register}\n",
        "",
        "targets",
        "missing output field: speech.confidence",
        "targets:",
    ),
    (
        "archetypes.yaml",
        "self_edge:\n      trust_competence: [0.5, 0.8]",
        "self_edge:\n      trust_competense: [0.5, 0.8]",
        "archetypes.wandering_artist.self_edge.trust_competense",
        "unknown self_edge field",
        "trust_competense",
    ),
]


@pytest.mark.parametrize(
    "file,old,new,key,message,marker", BROKEN, ids=[b[3] + ":" + b[4][:20] for b in BROKEN]
)
def test_broken_matrix_spec_is_a_located_error(
    tmp_path, capsys, file, old, new, key, message, marker
):
    specs = copy_specs(tmp_path)
    path = specs / "matrix" / file
    edit(path, old, new)
    assert main(["check", "--specs", str(specs)]) == 2
    err = capsys.readouterr().err
    line = _problem_line(path.read_text(encoding="utf-8"), marker)
    pattern = (
        rf"^{re.escape(str(path))}:{line}: [^\n]*{re.escape(key)}[^\n]*: [^\n]*{re.escape(message)}"
    )
    assert re.search(pattern, err, re.MULTILINE), err


def test_cli_exit_code_for_a_broken_matrix(tmp_path):
    specs = copy_specs(tmp_path)
    edit(specs / "matrix" / "scenes.yaml", "cast_size: [2, 3]", "cast_size: [3, 2]")
    result = storyml("check", "--specs", str(specs))
    assert result.returncode == 2
    assert re.search(
        r"scenes\.yaml:\d+: profiles\.quiet_reunion\.cast_size: empty range", result.stderr
    )


def test_archetype_with_too_many_axes_is_refused(tmp_path, capsys):
    # The feature tensor has a fixed number of axis slots; more axes would be silently dropped.
    specs = copy_specs(tmp_path)
    vocab = vocabulary_for(load_specs(SPECS))
    extra = [
        a
        for a in vocab.axes
        if a not in load_specs(SPECS).one(ArchetypesFile).archetypes["wise_elder"].axes
    ]
    lines = "".join(
        f"      {a}: {{value: [0.1, 0.2], layer: Topsoil, provenance: Generated}}\n" for a in extra
    )
    edit(
        specs / "matrix" / "archetypes.yaml",
        "  wise_elder:\n    doc: Has seen the pattern before and chooses "
        "words with care.\n    axes:\n",
        "  wise_elder:\n    doc: x\n    axes:\n" + lines,
    )
    assert main(["check", "--specs", str(specs)]) == 2
    assert "archetypes.wise_elder.axes: " in capsys.readouterr().err


def test_specs_without_a_matrix_still_check(tmp_path):
    specs = copy_specs(tmp_path)
    for p in (specs / "matrix").iterdir():
        p.unlink()
    load_specs(specs)  # contract-only spec sets stay valid


def test_a_partial_matrix_names_what_is_missing(tmp_path, capsys):
    specs = copy_specs(tmp_path)
    (specs / "matrix" / "labelling.yaml").unlink()
    assert main(["check", "--specs", str(specs)]) == 2
    assert "needs a `kind: labelling_rules` file" in capsys.readouterr().err


finite = st.floats(-2.0, 2.0, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(finite, finite)
def test_axis_range_is_valid_exactly_when_ordered_and_on_the_unit_scale(low, high):
    data = {"value": [low, high], "layer": "Topsoil", "provenance": "Authored"}
    ok = low <= high and 0.0 <= low and high <= 1.0
    if ok:
        assert AxisTrait.model_validate(data).value == [low, high]
    else:
        with pytest.raises(ValidationError):
            AxisTrait.model_validate(data)


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(["gt", "ge", "lt", "le"]),
    st.sampled_from(["in", "not_in"]),
    st.sampled_from(["at_most", "at_least"]),
)
def test_a_comparison_never_mixes_families(num, enum, flags):
    assert Compare.model_validate({num: 0.5}).family == "number"
    assert Compare.model_validate({enum: ["A"]}).family == "enum"
    assert Compare.model_validate({flags: 1}).family == "flags"
    for mixed in ({num: 0.5, enum: ["A"]}, {enum: ["A"], flags: 1}, {num: 0.5, flags: 1}):
        with pytest.raises(ValidationError, match="mixes"):
            Compare.model_validate(mixed)


def test_every_rule_path_is_in_the_vocabulary():
    # The vocabulary is derived from the feature layout: every region the language binds exists.
    specs = load_specs(SPECS)
    vocab = vocabulary_for(specs)
    assert not vocab.problems
    assert {
        "scene_context.tension",
        "player_event.event_type",
        "partner.affection",
        "partner.role",
        "last_turn.action",
        "count.relational_edges",
        "feeling.Fear",
        "axis.anger",
    } <= set(vocab.paths)
    assert math.isfinite(specs.one(LabellingRulesFile).coherence.threshold)


SAMPLER_BREAKAGES = [
    (
        "{name: range_high, doc:",
        "{name: range_top, doc:",
        "type 'AxisSlot' (region 'tensor'): field 'value' must be a type of the floats central_tendency, variance, "
        "range_low, range_high for the example sampler",
    ),
    (
        "{name: cast_size, doc:",
        "{name: cast_count, doc:",
        "region 'scene_context' has no field 'cast_size'; the example sampler fills it",
    ),
    (
        "{name: tension, doc:",
        "{name: tension, constant: true, doc:",
        "region 'scene_context': field 'tension' is declared `constant`, but the example sampler fills it",
    ),
    (
        "{name: role, onehot: TopologicalRole, doc:",
        "{name: role, doc:",
        "type 'RelationalEdge' (region 'relational_edges'): field 'role' must be a one-hot for the example sampler",
    ),
]


@pytest.mark.parametrize(
    "old,new,message", SAMPLER_BREAKAGES, ids=[b[2][:40] for b in SAMPLER_BREAKAGES]
)
def test_a_feature_field_the_sampler_fills_is_checked(tmp_path, capsys, old, new, message):
    """The data generator fills records by field name: `check` names a field it needs and lacks."""
    specs = copy_specs(tmp_path)
    edit(specs / "character" / "features.yaml", old, new)
    assert main(["check", "--specs", str(specs)]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"matrix\.yaml:\d+: features: {re.escape(message)}", err), err


# A field the character data generator never writes is an error unless the layout declares it constant.
# HistoryTurn is the item of the last region, so growing it moves no offset: only the history size and total.
TURN_END = (
    '      - {name: emotional_valence, doc: "How the turn felt to the character, on [-1, 1]."}\n'
)


def _widen_input(specs, added: int) -> None:
    """Keep the character model's declared parameter count right for `added` more input floats."""
    model = load_specs(SPECS).one(MlpModelFile)
    edit(
        specs / "character" / "model.yaml",
        f"parameters: {model.parameters}",
        f"parameters: {model.parameters + added * model.trunk[0].width}",
    )


def _grow_history(specs, new_field: str, width: int) -> Path:
    path = specs / "character" / "features.yaml"
    edit(path, TURN_END, TURN_END + f"      - {new_field}\n")
    edit(path, "total: 453", f"total: {453 + 3 * width}")
    edit(path, "offset: 405\n    size: 48", f"offset: 405\n    size: {48 + 3 * width}")
    _widen_input(specs, 3 * width)
    return path


def test_a_feature_the_generator_never_writes_is_a_located_error(tmp_path, capsys):
    specs = copy_specs(tmp_path)
    path = _grow_history(specs, "{name: weather, doc: Never sampled.}", 1)
    assert main(["check", "--specs", str(specs)]) == 2
    err = capsys.readouterr().err
    line = _problem_line(path.read_text(encoding="utf-8"), "{name: weather")
    pattern = (
        rf"^{re.escape(str(path))}:{line}: types\.HistoryTurn\.fields\[4\]: field 'weather': "
        r"the character data generator never writes it[^\n]*`constant: true`"
    )
    assert re.search(pattern, err, re.MULTILINE), err
    assert err.count("\n") == 2, err  # the one problem and the count: no knock-on


def test_a_feature_declared_constant_passes_and_the_generator_skips_it(tmp_path, capsys):
    specs = copy_specs(tmp_path)
    _grow_history(specs, "{name: weather, doc: Left at zero on purpose., constant: true}", 1)
    assert main(["check", "--specs", str(specs)]) == 0, capsys.readouterr().err
    # the generator's view of the record is the checker's: the constant field is not written
    vocab = vocabulary_for(load_specs(specs))
    assert "weather" not in vocab.item_fields("history") and "last_turn.weather" not in vocab.paths


def test_a_feature_the_generator_writes_passes(tmp_path, capsys):
    # every one-hot of a history turn is drawn by the sampler: a new one is written, not zeros
    specs = copy_specs(tmp_path)
    _grow_history(
        specs,
        "{name: mood, onehot: AwarenessLevel, doc: Drawn per turn.}",
        len(load_specs(SPECS).one(EnumsFile).enums["AwarenessLevel"].variants),
    )
    assert main(["check", "--specs", str(specs)]) == 0, capsys.readouterr().err
    assert "mood" in vocabulary_for(load_specs(specs)).item_fields("history")


def test_a_region_the_generator_never_writes_is_an_error_unless_constant(tmp_path, capsys):
    specs = copy_specs(tmp_path)
    path = specs / "character" / "features.yaml"
    path.write_text(
        path.read_text(encoding="utf-8") + "  - name: mood\n    fields:\n      - {name: level}\n"
        "  - name: spare\n    slots: {count: 1}\n    item: AxisValue\n",
        encoding="utf-8",
    )
    edit(path, "total: 453", "total: 458")
    _widen_input(specs, 5)
    assert main(["check", "--specs", str(specs)]) == 2
    err = capsys.readouterr().err
    text = path.read_text(encoding="utf-8")
    assert (
        f"features.yaml:{_problem_line(text, '{name: level}')}: regions[7].fields[0]: field 'level'"
        in err
    ), err
    assert (
        f"features.yaml:{_problem_line(text, '- name: spare')}: regions[8]: region 'spare'" in err
    ), err
    edit(path, "{name: level}", "{name: level, constant: true}")
    edit(path, "item: AxisValue\n", "item: AxisValue\n    constant: true\n")
    assert main(["check", "--specs", str(specs)]) == 0, capsys.readouterr().err
