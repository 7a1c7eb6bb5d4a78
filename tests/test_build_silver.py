"""A build profile with `silver:` adds silver-labelled real text to the NER tagger's training set."""

from __future__ import annotations

import sys

import pytest
from spec_helpers import copy_specs, set_key, storyml

from storyml.build.stages import SILVER_FILE, Build
from storyml.data.jsonl import read_jsonl


def silver_build(tmp_path, sentences: int = 3) -> Build:
    specs = copy_specs(tmp_path)
    set_key(specs / "build.yaml", ("profiles", "fast", "events_per_kind"), 12)
    set_key(specs / "matrix/matrix.yaml", ("max_cells",), 60)
    profile = {"silver": {"corpus": "brown_fiction", "sentences": sentences}}
    import yaml

    data = yaml.safe_load((specs / "build.yaml").read_text(encoding="utf-8"))
    data["profiles"]["fast"].update(profile)
    (specs / "build.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return Build(specs, "fast", None, tmp_path / "artifacts", tmp_path / "work", False)


def fake_silver(text: str = "The scout crossed the bridge.") -> dict:
    return {"id": "brown_fiction:x", "text": text, "register": "narrator", "silver": True,
            "event_kinds": [], "action_type": None, "outside": [[10, 18]],
            "entities": [{"start": 0, "end": 9, "byte_start": 0, "byte_end": 9, "text": "The scout",
                          "category": "CHARACTER", "role": "Actor"}]}


def test_the_silver_records_join_the_text_training_set_and_its_cache_key(tmp_path, monkeypatch):
    import storyml.silver.label as label

    seen = {}

    def fake_label_corpus(specs, name=None, limit=None, nlp=None):
        seen.update(name=name, limit=limit)
        return [fake_silver()], {"sentences": limit, "entities": {"CHARACTER": 1}}

    monkeypatch.setattr(label, "label_corpus", fake_label_corpus)
    build = silver_build(tmp_path, sentences=3)
    summary = build.make_data()
    assert seen == {"name": "brown_fiction", "limit": 3}
    assert summary["silver"] == 1
    files = build.text_training_files()
    assert [p.name for p in files] == ["events.train.jsonl", SILVER_FILE]
    assert read_jsonl(files[1]) == [fake_silver()]
    before = build.text_run_dir()
    (build.data / SILVER_FILE).write_text("", encoding="utf-8")  # other silver data: another run
    assert build.text_run_dir() != before


def test_a_profile_without_silver_trains_on_template_data_alone(tmp_path):
    specs = copy_specs(tmp_path)
    build = Build(specs, "default", None, tmp_path / "a", tmp_path / "w", False)
    assert [p.name for p in build.text_training_files()] == ["events.train.jsonl"]


def test_a_silver_profile_without_spacy_stops_with_the_install_line(tmp_path, monkeypatch):
    from storyml.errors import UserError

    monkeypatch.setitem(sys.modules, "spacy", None)
    build = silver_build(tmp_path)
    with pytest.raises(UserError, match=r"pip install -e '\.\[silver\]'"):
        build.make_data()
    assert not (build.data / SILVER_FILE).exists()


def test_an_unknown_silver_corpus_is_a_located_check_error(tmp_path):
    specs = copy_specs(tmp_path)
    text = (specs / "build.yaml").read_text(encoding="utf-8")
    (specs / "build.yaml").write_text(text.replace("silver: {corpus: brown_fiction}",
                                                   "silver: {corpus: brown_fictoin}"), encoding="utf-8")
    result = storyml("check", "--specs", str(specs))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "build.yaml:" in result.stderr and "profiles.silver.silver.corpus" in result.stderr
    assert "brown_fiction" in result.stderr and "Traceback" not in result.stderr
