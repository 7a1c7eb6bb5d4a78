"""`storyml build` end to end on a tiny profile: artifacts in the engine's layout, then cached."""

from __future__ import annotations

import json

import pytest
from spec_helpers import GENERATED, copy_specs, edit, set_key, storyml
from storyml_contract import MAX_SEQ_LENGTH

from storyml.data.splits import test_file as split_file

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One tiny build shared by the tests below (about half a minute on two cores)."""
    tmp = tmp_path_factory.mktemp("build")
    specs = copy_specs(tmp)
    set_key(specs / "build.yaml", ("profiles", "fast", "events_per_kind"), 12)
    set_key(specs / "build.yaml", ("profiles", "fast", "mlp_max_epochs"), 1)
    set_key(specs / "matrix/matrix.yaml", ("max_cells",), 120)
    set_key(specs / "text/training.yaml", ("profiles", "fast", "epochs"), 1)
    # Trained on, not held out: the build must neither write nor score that split.
    edit(
        specs / "build.yaml",
        "    events_per_kind: 12\n",
        "    events_per_kind: 12\n    held_out_splits: [random, held_out_vocabulary]\n",
    )
    artifacts, work = tmp / "artifacts" / "fast", tmp / "runs"
    args = (
        "build",
        "--fast",
        "--specs",
        str(specs),
        "--artifacts",
        str(artifacts),
        "--work",
        str(work),
        "--generated",
        str(GENERATED),
    )
    first = storyml(*args, cwd=tmp)
    second = storyml(*args, cwd=tmp)
    return {"tmp": tmp, "specs": specs, "artifacts": artifacts, "first": first, "second": second}


def test_build_publishes_the_engine_layout(built):
    assert built["first"].returncode == 0, (
        built["first"].stdout[-3000:] + built["first"].stderr[-3000:]
    )
    names = {p.name for p in built["artifacts"].iterdir()}
    engine = {
        "event_classifier.onnx",
        "ner_classifier.onnx",
        "character_predictor.onnx",
        "tokenizer.json",
    }
    assert engine <= names
    assert {"build.json", "BUILD.md", "evaluation"} <= names
    tokenizer = json.loads((built["artifacts"] / "tokenizer.json").read_text())
    assert (
        tokenizer["padding"] is None
    )  # the engine pads per batch, never to the maximum (defect 7)
    assert tokenizer["truncation"]["max_length"] == MAX_SEQ_LENGTH
    summary = json.loads((built["artifacts"] / "build.json").read_text())
    for kind, report in summary["stages"]["export"].items():
        assert report["max_diff"] <= report["atol"], kind
    sizes = summary["artifact_bytes_including_external_data"]
    for name, size in sizes.items():
        on_disk = sum(p.stat().st_size for p in built["artifacts"].glob(name + "*"))
        assert size == on_disk, name  # the reported size counts external data files too


def test_build_json_says_what_each_stage_ran_on_and_how_fast_it_trained(built):
    """Device and peak memory per stage that ran (None for a skipped one), training examples per
    second per model, and the device settings the text models trained with. What is read here is
    the second, cached build's: its training stages report the speeds stamped by the first."""
    summary = json.loads((built["artifacts"] / "build.json").read_text())
    assert set(summary["stage_resources"]) == set(summary["stage_seconds"])
    for stage, seconds in summary["stage_seconds"].items():
        used = summary["stage_resources"][stage]
        if seconds is None:
            assert used is None, stage
            continue
        assert used["device"].startswith(("cpu:", "cuda:")), stage
        assert used["process_peak_rss_bytes"] > 0, stage
    text = summary["stages"]["train-text"]
    assert text["device"]["kind"] in ("cpu", "cuda")
    assert set(text["examples_per_second"]) == set(text["models"])
    assert all(speed > 0 for speed in text["examples_per_second"].values())
    assert summary["stages"]["train-mlp"]["examples_per_second"] > 0
    report = (built["artifacts"] / "BUILD.md").read_text()
    assert "## Device and memory" in report and "character_predictor:" in report


def test_report_labels_template_scores_and_has_a_real_prose_estimate(built):
    report = json.loads((built["artifacts"] / "evaluation" / "report.json").read_text())
    assert report["generalization_estimate"]["n"] >= 60
    text = (built["artifacts"] / "BUILD.md").read_text()
    assert "template data: not a measure of generalization" in text
    assert "real prose" in text


def test_a_split_the_profile_trains_on_is_neither_published_nor_scored(built):
    data = {p.name for p in (built["artifacts"] / "data").iterdir()}
    assert {split_file("random"), split_file("held_out_vocabulary")} <= data
    assert split_file("held_out_template") not in data
    report = json.loads((built["artifacts"] / "evaluation" / "report.json").read_text())
    assert {"random", "held_out_vocabulary"} <= set(report["sets"])
    assert "trained on" in report["skipped"]["held_out_template"]


def test_an_unchanged_second_build_skips_every_training_stage(built):
    out = built["second"].stdout
    assert built["second"].returncode == 0, out[-3000:] + built["second"].stderr[-3000:]
    for stage in ("data", "train-text", "train-mlp", "export", "quantize", "evaluate"):
        block = out.split(f"] {stage}:")[1].split("\n[")[0]
        assert "skipped: inputs unchanged" in block, stage
    for stage in ("check", "gen-check", "publish"):  # guards and publishing are never cached
        block = out.split(f"] {stage}:")[1].split("\n[")[0]
        assert "done in" in block, stage


def test_predict_reads_the_published_models(built):
    result = storyml(
        "predict",
        "--artifacts",
        str(built["artifacts"]),
        "Zoë picked up the key.",
        cwd=built["tmp"],
    )
    assert result.returncode == 0, result.stderr


def test_a_stale_generated_tree_stops_the_build_before_training(tmp_path):
    specs = copy_specs(tmp_path)
    # A valid spec change (a kind with no template would stop at the check instead): two labels swapped.
    edit(
        specs / "text/labels.yaml",
        "    - SpeechAct\n    - RelationalShift\n",
        "    - RelationalShift\n    - SpeechAct\n",
    )
    result = storyml(
        "build",
        "--fast",
        "--specs",
        str(specs),
        "--work",
        str(tmp_path / "w"),
        "--artifacts",
        str(tmp_path / "a"),
        "--generated",
        str(GENERATED),
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "storyml gen" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "a").exists()
