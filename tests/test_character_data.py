"""`storyml data characters`: valid, deterministic, rule-faithful, and free of the train/serve skew."""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spec_helpers import copy_specs, edit, storyml
from storyml_contract import TOTAL_INPUT_FEATURES, TOTAL_OUTPUT_FEATURES
from storyml_contract.character_features import (
    FEATURE_INDEX,
    RELATIONAL_EDGES_OFFSET,
    RELATIONAL_EDGES_SIZE,
    RELATIONAL_EDGES_SLOT_WIDTH,
    RELATIONAL_EDGES_SLOTS,
)
from storyml_contract.character_outputs import OUTPUT_FIELDS, decode_outputs, encode_labels
from storyml_contract.enums import ActionType, EmotionalPrimary

from codegen.spec.build import BuildFile
from codegen.spec.loader import load_specs
from codegen.spec.matrix import LabellingRulesFile
from storyml.cli import main
from storyml.data.characters import (
    PARTNER_SLOT,
    CoherenceScorer,
    Labeller,
    Matrix,
    content_hash,
    generate_characters,
    manifest_path_for,
    run_matrix,
    split_by_cell,
)
from storyml.errors import UserError

SMALL_CELLS = 150  # 150 cells x 4 variations: every property below, in well under a second


@pytest.fixture(scope="module")
def small_specs(tmp_path_factory):
    specs = copy_specs(tmp_path_factory.mktemp("matrix"))
    edit(specs / "matrix" / "matrix.yaml", "max_cells: 3000", f"max_cells: {SMALL_CELLS}")
    return specs


@pytest.fixture(scope="module")
def loaded(small_specs):
    return load_specs(small_specs)


@pytest.fixture(scope="module")
def generation(loaded):
    return run_matrix(loaded)


@pytest.fixture(scope="module")
def records(generation):
    return generation.records


@pytest.fixture(scope="module")
def matrix(loaded):
    return Matrix.from_specs(loaded)


def test_every_example_has_the_contract_widths_and_finite_values(records):
    assert records
    for r in records:
        assert set(r) == {"id", "features", "labels", "cell", "coherence", "hash"}
        assert len(r["features"]) == TOTAL_INPUT_FEATURES == 453
        assert len(r["labels"]) == TOTAL_OUTPUT_FEATURES == 42
        assert all(isinstance(x, float) and math.isfinite(x) for x in r["features"] + r["labels"])
        assert r["hash"] == content_hash(r["features"], r["labels"])
    assert len({r["id"] for r in records}) == len(records)


def test_labels_decode_and_each_categorical_group_is_one_hot(records):
    for r in records:
        decode_outputs(r["labels"])
        for f in OUTPUT_FIELDS:
            if f.kind == "categorical":
                group = r["labels"][f.offset : f.offset + f.width]
                assert sorted(group) == [0.0] * (f.width - 1) + [1.0], (r["id"], f.name)


def test_cli_output_is_byte_identical_across_runs(small_specs, tmp_path):
    outs = []
    for run in ("a", "b"):
        out = tmp_path / run / "ch.jsonl"
        assert main(["data", "characters", "--specs", str(small_specs), "--out", str(out)]) == 0
        outs.append((out.read_bytes(), manifest_path_for(out).read_bytes()))
    assert outs[0] == outs[1]
    assert len(outs[0][0].splitlines()) == len(generate_characters(small_specs))


def test_manifest_accounts_for_every_example(small_specs, loaded, tmp_path, generation):
    out = tmp_path / "ch.jsonl"
    assert main(["data", "characters", "--specs", str(small_specs), "--out", str(out)]) == 0
    m = json.loads(manifest_path_for(out).read_text())
    assert m["seed"] == generation.seed == loaded.one(BuildFile).seed  # no --seed: the build spec's
    ex = m["examples"]
    assert ex["accepted"] + ex["rejected"] == ex["generated"] == SMALL_CELLS * 4
    assert ex["accepted"] == len(out.read_text().splitlines()) == len(generation.records)
    assert sum(m["per_archetype"].values()) == sum(m["per_profile"].values()) == ex["accepted"]
    assert sum(m["rejections_by_check"].values()) >= ex["rejected"]
    assert m["cells"] == {
        "possible": len(generation.matrix.all_cells()),
        "sampled": SMALL_CELLS,
        "with_examples": len({r["cell"] for r in generation.records}),
        "sampling": "uniform without replacement from the full product, seeded",
    }
    assert m["spec_fingerprint"] == generation.matrix.fingerprint
    assert m["train_serve_skew"]["serving_like"] > 0


def test_rejected_examples_are_the_incoherent_ones(loaded, generation):
    threshold = loaded.one(LabellingRulesFile).coherence.threshold
    assert all(r["coherence"] >= threshold for r in generation.records)
    assert generation.rejected == generation.generated - len(generation.records)


def test_the_default_seed_is_the_build_specs(small_specs, tmp_path):
    specs = tmp_path / "specs"
    shutil.copytree(small_specs, specs)
    edit(specs / "build.yaml", "seed: 2026", "seed: 7")
    assert (
        run_matrix(load_specs(specs)).records == run_matrix(load_specs(small_specs), seed=7).records
    )


def test_a_different_seed_gives_different_examples(loaded, records):
    other = run_matrix(loaded, seed=7).records
    assert {r["hash"] for r in other}.isdisjoint({r["hash"] for r in records})


# ---------------------------------------------------------------- the rules, hand-checked


def _context(**values):
    """A feature context as the rule language names it (see codegen/spec/matrix.py)."""
    base = {
        "count.relational_edges": 0,
        "count.history": 0,
        "scene_context.scene_type": "Connective",
        "scene_context.cast_size": 2,
        "player_event.confidence": 0.9,
        "player_event.target_count": 1,
    }
    return {**base, **{k.replace("__", "."): v for k, v in values.items()}}


def _label(matrix, ctx):
    labeller = Labeller(matrix.labelling, matrix.vocab, matrix.settings.decimals)
    outputs, _ = labeller.label(ctx)
    return decode_outputs(encode_labels(outputs))


def test_speech_in_a_calm_scene_makes_speak_the_action(matrix):
    out = _label(
        matrix,
        _context(
            player_event__event_type="Speech",
            player_event__register="Neutral",
            scene_context__tension=0.15,
        ),
    )
    assert out.action.action_type == ActionType.Speak
    assert out.speech.speech_occurs
    assert out.action.target_index is None  # no partner edge, nobody to target


def test_aggression_in_a_tense_scene_makes_resist_against_the_partner(matrix):
    ctx = _context(
        player_event__event_type="Action",
        player_event__register="Aggressive",
        scene_context__tension=0.9,
        scene_context__scene_type="Gate",
        partner__affection=0.0,
        partner__trust_benevolence=0.5,
        partner__role="Periphery",
        count__relational_edges=3,
    )
    ctx[PARTNER_SLOT] = 2
    out = _label(matrix, ctx)
    assert out.action.action_type == ActionType.Resist
    assert out.action.target_index == 2
    assert out.action.emotional_valence < 0
    anger, fear = int(EmotionalPrimary.Anger), int(EmotionalPrimary.Fear)
    assert out.emotion.intensity_delta[anger] > 0 and out.emotion.intensity_delta[fear] > 0
    assert out.emotion.awareness_shift[fear]


def test_an_observation_is_examined_in_silence(matrix):
    out = _label(
        matrix,
        _context(
            player_event__event_type="Observation",
            player_event__register="Neutral",
            scene_context__tension=0.5,
        ),
    )
    assert out.action.action_type == ActionType.Examine
    assert not out.speech.speech_occurs


def test_tenderness_warms_and_raises_trust(matrix):
    out = _label(
        matrix,
        _context(
            player_event__event_type="Speech",
            player_event__register="Tender",
            scene_context__tension=0.4,
        ),
    )
    assert out.action.emotional_valence > 0
    assert out.emotion.intensity_delta[int(EmotionalPrimary.Trust)] > 0


def test_coherence_rejects_speaking_without_speech(matrix):
    ctx = _context(
        player_event__event_type="Speech",
        player_event__register="Neutral",
        scene_context__tension=0.5,
    )
    _, labels = Labeller(matrix.labelling, matrix.vocab, matrix.settings.decimals).label(ctx)
    scorer = CoherenceScorer(matrix.labelling.coherence)
    assert labels["action.action_type"] == "Speak" and labels["speech.speech_occurs"] is True
    assert scorer.score({**ctx, **labels}) == (1.0, [])
    score, failed = scorer.score({**ctx, **labels, "speech.speech_occurs": False})
    assert score < scorer.threshold and failed == ["action_scene_alignment"]


def test_generated_calm_speech_is_always_answered_by_speaking(records):
    # The same rule, checked on the encoded vectors of every generated example it covers.
    speech, tension = (
        FEATURE_INDEX["player_event.event_type=Speech"],
        FEATURE_INDEX["scene_context.tension"],
    )
    calm_registers = [FEATURE_INDEX[f"player_event.register={r}"] for r in ("Neutral", "Tender")]
    covered = [
        r
        for r in records
        if r["features"][speech] == 1.0
        and r["features"][tension] < 0.3
        and any(r["features"][i] == 1.0 for i in calm_registers)
    ]
    assert covered
    assert all(decode_outputs(r["labels"]).action.action_type == ActionType.Speak for r in covered)


# ---------------------------------------------------------------- train/serve skew (defect 8)


def _filled_edge_slots(features):
    return [
        k
        for k in range(RELATIONAL_EDGES_SLOTS)
        if any(
            features[
                RELATIONAL_EDGES_OFFSET + k * RELATIONAL_EDGES_SLOT_WIDTH : RELATIONAL_EDGES_OFFSET
                + (k + 1) * RELATIONAL_EDGES_SLOT_WIDTH
            ]
        )
    ]


def test_engine_shaped_inputs_are_in_the_distribution(records, matrix):
    tension = FEATURE_INDEX["scene_context.tension"]
    serving_tension = matrix.settings.serving.tension
    edges = [
        r["features"][RELATIONAL_EDGES_OFFSET : RELATIONAL_EDGES_OFFSET + RELATIONAL_EDGES_SIZE]
        for r in records
    ]
    engine_like = [
        r
        for r, e in zip(records, edges)
        if not any(e) and r["features"][tension] == serving_tension
    ]
    assert len(engine_like) >= 0.05 * len(records)
    # ... and the rest varies: every edge count, edges beyond slot 0, and tension across its range.
    counts = Counter(len(_filled_edge_slots(r["features"])) for r in records)
    assert set(counts) == set(range(RELATIONAL_EDGES_SLOTS + 1))
    assert any(_filled_edge_slots(r["features"])[-1:] not in ([], [0]) for r in records)
    tensions = [r["features"][tension] for r in records]
    assert min(tensions) < 0.2 and max(tensions) > 0.8


def test_history_lengths_vary_from_none_to_full(records):
    action = [FEATURE_INDEX[f"history[{k}].action={a.name}"] for k in range(3) for a in ActionType]
    lengths = Counter(sum(r["features"][i] for i in action) for r in records)
    assert {0.0, 1.0, 2.0, 3.0} <= set(lengths)


# ---------------------------------------------------------------- split by cell


def _fake_records(cells: list[str]) -> list[dict]:
    return [{"id": f"{c}#{i}", "cell": c} for i, c in enumerate(cells)]


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.sampled_from([f"cell{i}" for i in range(12)]), max_size=60),
    st.floats(0.0, 0.95),
    st.integers(0, 2**32),
)
def test_split_never_puts_a_cell_on_both_sides(cells, fraction, seed):
    records = _fake_records(cells)
    train, val = split_by_cell(records, fraction, seed)
    assert not {r["cell"] for r in train} & {r["cell"] for r in val}
    assert sorted(r["id"] for r in train + val) == sorted(r["id"] for r in records)
    assert [r for r in records if r in train] == train  # order kept
    if records:
        assert train
    if fraction > 0 and len(set(cells)) >= 2:
        assert val
    assert split_by_cell(records, fraction, seed) == (train, val)


def test_split_of_generated_data_is_near_the_fraction(records):
    train, val = split_by_cell(records, 0.15, seed=1)
    assert not {r["cell"] for r in train} & {r["cell"] for r in val}
    assert 0.1 <= len(val) / len(records) <= 0.25


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_split_refuses_a_fraction_outside_zero_to_one(fraction):
    with pytest.raises(UserError):
        split_by_cell(_fake_records(["a", "b"]), fraction, 0)


# ---------------------------------------------------------------- CLI errors


def test_out_must_be_jsonl(tmp_path, capsys):
    assert main(["data", "characters", "--out", str(tmp_path / "ch.json")]) == 2
    assert ".jsonl" in capsys.readouterr().err


def test_specs_without_a_matrix_are_a_clear_error(tmp_path):
    specs = copy_specs(tmp_path)
    for p in (specs / "matrix").iterdir():
        p.unlink()
    result = storyml(
        "data", "characters", "--specs", str(specs), "--out", str(tmp_path / "ch.jsonl")
    )
    assert result.returncode == 2
    assert "no training-matrix spec" in result.stderr
    assert not (tmp_path / "ch.jsonl").exists()


def test_zero_variations_is_refused(small_specs, tmp_path, capsys):
    assert (
        main(
            [
                "data",
                "characters",
                "--specs",
                str(small_specs),
                "--variations",
                "0",
                "--out",
                str(tmp_path / "ch.jsonl"),
            ]
        )
        == 2
    )
    assert "--variations" in capsys.readouterr().err


def test_reordered_feature_fields_keep_their_values(small_specs, records, tmp_path):
    """Swap two float fields of a type and two of a region in a copy of the feature spec, regenerate
    the contract package, and generate again with it: every value lands under its own name."""
    import os
    import shutil
    import subprocess
    import sys

    from spec_helpers import REPO
    from storyml_contract.character_features import FEATURE_NAMES

    from codegen.spec.contract import build_contract

    specs = tmp_path / "specs"
    shutil.copytree(small_specs, specs)
    features = specs / "character" / "features.yaml"
    central = "      - {name: central_tendency, doc: The axis value the character usually shows.}\n"
    variance = (
        "      - {name: variance, doc: How far the shown value strays from the central tendency.}\n"
    )
    edit(features, central + variance, variance + central)
    cast = "      - {name: cast_size, doc: Raw count of characters in the scene.}\n"
    tension = '      - {name: tension, doc: "Scene tension in [0, 1]."}\n'
    edit(features, cast + tension, tension + cast)
    names = (
        build_contract(load_specs(specs, codegen_only=True)).features["character_features"].leaves
    )
    assert names != FEATURE_NAMES and sorted(names) == sorted(FEATURE_NAMES)

    generated = tmp_path / "generated"
    assert storyml("gen", "--specs", str(specs), "--out", str(generated)).returncode == 0
    out = tmp_path / "reordered.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(generated / "python"), str(REPO)])}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import storyml_contract, sys; from storyml.cli import main; "
            "print(storyml_contract.__file__); sys.exit(main(sys.argv[1:]))",
            "data",
            "characters",
            "--specs",
            str(specs),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(str(generated / "python")), (
        result.stdout
    )  # the reordered package ran

    reordered = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in reordered] == [r["id"] for r in records]
    assert any(
        a["features"] != b["features"] for a, b in zip(reordered, records)
    )  # positions did move
    for a, b in zip(reordered, records):
        assert dict(zip(names, a["features"])) == dict(zip(FEATURE_NAMES, b["features"])), a["id"]
        assert a["labels"] == b["labels"], a["id"]
