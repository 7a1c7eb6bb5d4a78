"""Written prose (`kind: annotated_prose`): inline mentions become exact spans, the checker refuses
what is malformed or copied from an evaluation set, and a build trains on the sentences as written."""

from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from spec_helpers import REPO, copy_specs, storyml

from codegen.spec.errors import SpecError
from codegen.spec.loader import load_specs
from codegen.spec.models import TextLabelsFile
from codegen.spec.prose import MARKUP, OVERLAP_WORDS, parse_marked
from storyml.build.stages import PROSE_FILE, Build
from storyml.data.jsonl import read_jsonl
from storyml.data.prose import is_written, prose_records

LABELS = load_specs(REPO / "specs").one(TextLabelsFile)
CATEGORIES = LABELS.entity_categories.categories
KINDS = LABELS.event_kinds.labels
REGISTERS = list(LABELS.registers)


def write_prose(specs, sentences, name="written_test") -> None:
    doc = {"kind": "annotated_prose", "name": name, "sentences": sentences}
    path = specs / "text" / "prose" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


def sentence(text: str, kinds=None, register=None) -> dict:
    return {"text": text, "kinds": kinds or [KINDS[0]], "register": register or REGISTERS[0]}


# Text between mentions: anything but markup; mention words: no markup, no edge spaces.
plain_text = st.text(st.characters(blacklist_characters=MARKUP, blacklist_categories=("Cs",)))
mention_words = plain_text.map(str.strip).filter(bool)


@given(
    st.lists(st.tuples(plain_text, mention_words, st.sampled_from(CATEGORIES)), max_size=5),
    plain_text,
)
def test_every_mention_is_exactly_where_its_words_are(pieces, tail):
    marked = "".join(f"{before}[{words}|{category}]" for before, words, category in pieces) + tail
    if not marked.strip() or marked != marked.strip():
        with pytest.raises(ValueError):
            parse_marked(marked)
        return
    text, mentions = parse_marked(marked)
    assert [(text[m.start : m.end], m.category) for m in mentions] == [
        (words, category) for _, words, category in pieces
    ]
    assert text == "".join(before + words for before, words, _ in pieces) + tail


def test_a_stray_bracket_is_located_past_the_mentions_before_it():
    with pytest.raises(ValueError, match="at character 17 "):
        parse_marked("[Ama|CHARACTER] ] left.")


@pytest.mark.parametrize(
    "marked, says",
    [
        ("[the door|OBJECT opened.", "is not part of a [words|CATEGORY] mention"),
        ("The [old [mill]|LOCATION] burned.", "is not part of"),
        ("She paid [|ABSTRACT] twice.", "has no words"),
        ("She paid [ the debt|ABSTRACT].", "starts or ends with a space"),
        ("She paid [the debt|debt].", "is not a category name"),
        ("A | stands alone.", "is not part of"),
    ],
)
def test_malformed_markup_is_refused_with_what_is_wrong(marked, says):
    with pytest.raises(ValueError, match=says.replace("[", r"\[").replace("|", r"\|")):
        parse_marked(marked)


def problems_of(specs) -> list[str]:
    with pytest.raises(SpecError) as err:
        load_specs(specs)
    return [str(p) for p in err.value.problems]


def test_unknown_labels_are_located_with_a_suggestion(tmp_path):
    specs = copy_specs(tmp_path)
    good = f"[Amara|{CATEGORIES[0]}] left early."
    write_prose(
        specs,
        [
            sentence(good),
            sentence(f"[Amara|{CATEGORIES[0]}X] came back.", kinds=[KINDS[1] + "s"]),
            sentence("Kofi waited.", register="chorus"),
        ],
    )
    problems = problems_of(specs)
    where = "specs/text/prose/written_test.yaml:"
    assert any(
        where in p and "sentences[1].kinds" in p and f"did you mean {KINDS[1]!r}" in p
        for p in problems
    ), problems
    assert any("sentences[1].text" in p and f"{CATEGORIES[0]}X" in p for p in problems), problems
    assert any("sentences[2].register" in p and "chorus" in p for p in problems), problems
    assert not any("sentences[0]" in p for p in problems), problems


def test_malformed_markup_is_reported_by_check_with_file_line_and_key(tmp_path):
    specs = copy_specs(tmp_path)
    write_prose(specs, [sentence("Kofi waited."), sentence("[the door|OBJECT opened.")])
    result = storyml("check", "--specs", str(specs))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "written_test.yaml:" in result.stderr and "sentences[1].text" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_sentence_copied_from_an_evaluation_set_is_refused(tmp_path):
    specs = copy_specs(tmp_path)
    dev = json.loads(
        (REPO / "evalsets/dev_prose.jsonl").read_text(encoding="utf-8").splitlines()[0]
    )
    copied = " ".join(dev["text"].split()[:OVERLAP_WORDS])
    write_prose(specs, [sentence(copied + " after all.")])
    problems = problems_of(specs)
    assert any(
        "sentences[0].text" in p and "dev_prose.jsonl" in p and dev["id"] in p for p in problems
    ), problems


def test_the_same_sentence_twice_is_refused(tmp_path):
    specs = copy_specs(tmp_path)
    write_prose(specs, [sentence("Kofi waited by the well.")], name="first")
    write_prose(specs, [sentence("Kofi  waited by the WELL.")], name="second")
    problems = problems_of(specs)
    assert any("second.yaml" in p and "the same sentence as" in p for p in problems), problems


def test_records_carry_exact_character_and_byte_offsets(tmp_path):
    specs = copy_specs(tmp_path)
    write_prose(
        specs,
        [sentence(f"“Wait,” [Søren|{CATEGORIES[0]}] told [the Ōkami ferry|{CATEGORIES[1]}].")],
    )
    (record,) = [r for r in prose_records(load_specs(specs)) if r.get("prose") == "written_test"]
    text, encoded = record["text"], record["text"].encode("utf-8")
    assert text == "“Wait,” Søren told the Ōkami ferry."
    for e in record["entities"]:
        assert text[e["start"] : e["end"]] == e["text"]
        assert encoded[e["byte_start"] : e["byte_end"]].decode("utf-8") == e["text"]
    assert is_written(record)


def test_a_file_kept_from_the_event_classifier_trains_the_ner_tagger_alone(tmp_path):
    from storyml.train.encoders import build_tokenizer
    from storyml.train.text import UNKNOWN_EVENTS, EpochFeatures, encode_records, task_features

    specs = copy_specs(tmp_path)
    mention = f"[Kofi|{CATEGORIES[0]}]"
    write_prose(specs, [sentence(f"{mention} waited by the well.")], name="written_both")
    write_prose(specs, [sentence(f"{mention} left the mill.")], name="written_tags_only")
    path = specs / "text" / "prose" / "written_tags_only.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    path.write_text(yaml.safe_dump({**doc, "train_event_kinds": False}), encoding="utf-8")
    loaded = load_specs(specs)
    records = prose_records(loaded, ["written_both", "written_tags_only"])
    assert [(r["text"], r["event_kinds"]) for r in records] == [
        ("Kofi waited by the well.", [KINDS[0]]),
        ("Kofi left the mill.", []),
    ]
    assert all(r["entities"] for r in records)  # the tagger learns both sentences' mentions
    # A silver record stays out of the event classifier even where a rule guessed its kinds.
    records.append({**records[0], "id": "silver-1", "silver": True, "outside": []})

    tokenizer = build_tokenizer(loaded, "tiny", [r["text"] for r in records])
    features = encode_records(tokenizer, records)
    assert [f["event_labels"] == UNKNOWN_EVENTS for f in features] == [False, True, True]
    event_keys = {"input_ids": "input_ids", "labels": "event_labels"}
    ner_keys = {"input_ids": "input_ids", "labels": "ner_labels"}
    assert len(task_features(features, event_keys)) == 1
    assert len(task_features(features, ner_keys)) == 3
    epochs = EpochFeatures(records, tokenizer, {}, frozenset(), 0.5, seed=7)
    assert len(task_features(epochs, event_keys)) == 1
    assert len(task_features(epochs, ner_keys)) == 3


def test_resampling_leaves_a_written_sentence_as_written():
    from storyml.train.text import EpochFeatures

    written = {
        "id": "w-1",
        "text": "Ama left the mill.",
        "event_kinds": [KINDS[0]],
        "register": REGISTERS[0],
        "entities": [{"start": 0, "end": 3, "text": "Ama", "category": CATEGORIES[0]}],
        "prose": "written_test",
    }
    generated = {k: v for k, v in written.items() if k != "prose"}
    generated["entities"] = [{**e, "role": "Actor"} for e in written["entities"]]
    pools = {CATEGORIES[0]: ("the smith", "Kofi")}
    features = EpochFeatures([written, generated], None, pools, frozenset(), 1.0, seed=7)
    for epoch in range(3):
        features.epoch = epoch
        assert features.epoch_record(0) == written
    assert {features.epoch_record(1)["text"] for features.epoch in range(3)} - {written["text"]}


def test_a_prose_profile_trains_on_each_sentence_repeat_times(tmp_path):
    specs = copy_specs(tmp_path)
    write_prose(specs, [sentence("Kofi waited by the well."), sentence("Ama left.")])
    data = yaml.safe_load((specs / "build.yaml").read_text(encoding="utf-8"))
    data["profiles"]["fast"]["prose"] = {"specs": ["written_test"], "repeat": 3}
    data["profiles"]["fast"]["events_per_kind"] = 12
    (specs / "build.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    build = Build(specs, "fast", None, tmp_path / "artifacts", tmp_path / "work", False)
    summary = build.make_data()
    assert summary["prose"] == 2
    assert [p.name for p in build.text_training_files()][:2] == ["events.train.jsonl", PROSE_FILE]
    written = read_jsonl(build.data / PROSE_FILE)
    assert [r["text"] for r in written] == ["Kofi waited by the well.", "Ama left."]
    train = build.text_training_records(None)
    assert sum(r.get("prose") == "written_test" for r in train) == 2 * 3


def test_a_profile_naming_a_missing_prose_spec_is_refused(tmp_path):
    specs = copy_specs(tmp_path)
    data = yaml.safe_load((specs / "build.yaml").read_text(encoding="utf-8"))
    data["profiles"]["fast"]["prose"] = {"specs": ["no_such_prose"]}
    (specs / "build.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    problems = problems_of(specs)
    assert any("profiles.fast.prose.specs[0]" in p and "no_such_prose" in p for p in problems), (
        problems
    )
