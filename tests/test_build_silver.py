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
    return {
        "id": "brown_fiction:x",
        "text": text,
        "register": "narrator",
        "silver": True,
        "event_kinds": [],
        "action_type": None,
        "outside": [[10, 18]],
        "entities": [
            {
                "start": 0,
                "end": 9,
                "byte_start": 0,
                "byte_end": 9,
                "text": "The scout",
                "category": "CHARACTER",
                "role": "Actor",
            }
        ],
    }


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
    build = Build(specs, "fast", None, tmp_path / "a", tmp_path / "w", False)
    assert build.profile.silver is None
    assert [p.name for p in build.text_training_files()] == ["events.train.jsonl"]


def test_the_committed_silver_records_match_the_labelling_rules():
    from spec_helpers import SPECS

    from codegen.spec.loader import load_specs
    from storyml.silver.label import labelled_staleness

    specs = load_specs(SPECS)
    (entry,) = specs.of_kind("corpus")
    assert entry.model.labelled is not None
    assert labelled_staleness(specs, entry) is None  # else: rerun `storyml data silver` as it says


def test_the_default_build_reads_the_committed_records_without_spacy(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "spacy", None)
    specs = copy_specs(tmp_path)
    build = Build(specs, "default", None, tmp_path / "a", tmp_path / "w", False)
    (entry,) = build.specs.of_kind("corpus")
    assert build.profile.silver.sentences == entry.model.labelled.sentences
    build.data.mkdir(parents=True)
    summary = build.make_silver(build.data_files())
    assert summary["silver_source"] == "committed"
    committed = read_jsonl(specs / "text" / entry.model.labelled.file)
    assert read_jsonl(build.data / SILVER_FILE) == committed and summary["silver"] == len(committed)


def test_stale_committed_records_stop_the_build_with_the_command_that_rewrites_them(tmp_path):
    from storyml.errors import UserError

    specs = copy_specs(tmp_path)
    path = specs / "text" / "corpus.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "PERSON: {category: CHARACTER, confidence: 0.8}",
            "PERSON: {category: CHARACTER, confidence: 0.7}",
        ),
        encoding="utf-8",
    )
    build = Build(specs, "default", None, tmp_path / "a", tmp_path / "w", False)
    build.data.mkdir(parents=True)
    with pytest.raises(UserError, match=r"labelling rules or the head words.*storyml data silver"):
        build.make_silver(build.data_files())


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
    (specs / "build.yaml").write_text(
        text.replace("{corpus: brown_fiction,", "{corpus: brown_fictoin,"), encoding="utf-8"
    )
    result = storyml("check", "--specs", str(specs))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "build.yaml:" in result.stderr and "profiles.default.silver.corpus" in result.stderr
    assert "brown_fiction" in result.stderr and "Traceback" not in result.stderr


# ---------------------------------------------------------------- self-training


def _tagger(vocab_size: int, favoured: str, margin: float):
    """A tiny token classifier whose every token prefers `favoured` by `margin` logits."""
    import torch
    from storyml_contract.text import BIO_LABEL_INDEX, MAX_SEQ_LENGTH, NUM_BIO_LABELS
    from transformers import BertConfig, BertForTokenClassification

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=20,
        max_position_embeddings=MAX_SEQ_LENGTH,
        num_labels=NUM_BIO_LABELS,
    )
    model = BertForTokenClassification(config).eval()
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
        model.classifier.bias[BIO_LABEL_INDEX[favoured]] = margin
    return model


def test_a_sure_teacher_marks_outside_and_an_unsure_one_marks_nothing(tiny_tokenizer):
    from storyml.silver.self_training import relabel

    record = fake_silver("Old Tamsin carried the lantern into the kitchen.")
    sure = relabel(
        _tagger(len(tiny_tokenizer), "O", 12.0), tiny_tokenizer, [record], min_confidence=0.9
    )
    (student,) = sure
    assert student["entities"] == [] and student["silver"] is True
    covered = "".join(record["text"][a:b] for a, b in student["outside"])
    assert covered.replace(" ", "") == record["text"].replace(" ", "")  # every token confidently O
    assert (
        relabel(
            _tagger(len(tiny_tokenizer), "O", 0.5), tiny_tokenizer, [record], min_confidence=0.9
        )
        == []
    )


def test_teacher_spans_are_exact_decoded_and_keep_rule_roles(tiny_tokenizer):
    from storyml.silver.self_training import relabel

    record = fake_silver()
    (student,) = relabel(
        _tagger(len(tiny_tokenizer), "B-CHARACTER", 12.0), tiny_tokenizer, [record], 0.9
    )
    assert student["outside"] == []
    assert student["entities"] and all(e["category"] == "CHARACTER" for e in student["entities"])
    for e in student["entities"]:
        assert (
            record["text"][e["start"] : e["end"]] == e["text"] and " " not in e["text"]
        )  # a span per word
        assert record["text"].encode()[e["byte_start"] : e["byte_end"]].decode() == e["text"]
    again = relabel(
        _tagger(len(tiny_tokenizer), "B-CHARACTER", 12.0), tiny_tokenizer, [record], 0.9
    )
    assert again == [student]


def test_the_student_trains_on_the_teachers_labels_with_the_teachers_tokenizer(
    tmp_path, monkeypatch
):
    import storyml.silver.label as label
    import storyml.silver.self_training as self_training
    import storyml.train.text as text
    from storyml.train.text import resolve_settings

    monkeypatch.setattr(
        label,
        "label_corpus",
        lambda specs, name=None, limit=None, nlp=None: (
            [fake_silver()],
            {"sentences": 1, "entities": {"CHARACTER": 1}},
        ),
    )
    build = silver_build(tmp_path)
    import yaml

    path = build.specs_dir / "build.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["profiles"]["fast"]["silver"]["self_training"] = {"min_confidence": 0.9}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    build = Build(build.specs_dir, "fast", None, tmp_path / "artifacts", tmp_path / "work", False)
    build.make_data()
    settings = resolve_settings(build.specs, None, "fast")
    ner, _ = settings.task_named("token")
    events, _ = settings.task_named("sequence")
    calls = []

    def fake_train(specs, train, validation, encoder, run_dir, **kw):
        calls.append({"train": train, "run_dir": run_dir, **kw})
        names = kw.get("tasks") or (events, ner)
        return {
            "models": {n: f"{n}@{len(calls)}" for n in names},
            "metrics": {n: {} for n in names},
            "history": {n: "trained" for n in names},
            "examples_per_second": {n: 100.0 for n in names},
            "paths": {n: run_dir / n for n in names},
            "tokenizer": kw.get("tokenizer") or "teacher-tokenizer",
            "settings": settings,
        }

    relabelled = {**fake_silver(), "outside": [[0, 3]]}
    monkeypatch.setattr(text, "train_text_models", fake_train)
    monkeypatch.setattr(
        self_training,
        "relabel",
        lambda model, tokenizer, records, min_confidence: (
            [relabelled]
            if (model, tokenizer, min_confidence) == (f"{ner}@1", "teacher-tokenizer", 0.9)
            else []
        ),
    )
    result = build.text_models()
    teacher, student = calls
    assert fake_silver() in teacher["train"]  # the rule labels teach the teacher
    assert student["tasks"] == (ner,) and student["tokenizer"] == "teacher-tokenizer"
    assert relabelled in student["train"] and fake_silver() not in student["train"]
    assert result["models"] == {events: f"{events}@1", ner: f"{ner}@2"}  # events stay the teacher's


def test_check_names_stale_committed_records_and_the_command_that_renews_them(tmp_path):
    """A new head word changes the labelling rules: `storyml check` exits 1 (valid specs, a stale
    output, as `gen --check` does) and prints the `storyml data silver` line to run."""
    from spec_helpers import edit

    specs = copy_specs(tmp_path)
    assert storyml("check", "--specs", str(specs)).returncode == 0
    edit(specs / "text/corpus.yaml", "OBJECT: [door,", "OBJECT: [lantern, door,")
    result = storyml("check", "--specs", str(specs))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "stale:" in result.stdout and "storyml data silver --corpus" in result.stdout
