"""`storyml vocab import`: the WordNet reader, the category rules, the name selection, the
written file, and the committed lexicon.yaml. No lexical source is needed: a tiny
WordNet-format fixture (tests/fixtures/wordnet) and stub name and frequency sources stand in."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import yaml

from storyml.cli import main
from storyml.cli.check import STALE
from storyml.vocab.importer import LIST_OF_CATEGORY, NAMES_LIST, VERB_LISTS, Sources, run_import
from storyml.vocab.lexicon import article, classify_nouns, select
from storyml.vocab.names import script, select_names
from storyml.vocab.verbs import classify_verbs
from storyml.vocab.wordnet import load_nouns, load_verbs

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "wordnet"
LEXICON = REPO / "specs" / "vocabulary" / "lexicon.yaml"
FREQ = {"bread": 5.0, "blacksmith": 3.5, "will": 5.2, "rose": 4.5, "noise": 4.6}


def zipf(word: str) -> float:
    return FREQ.get(word, 3.2)  # common enough for a noun, rare enough for a name


@pytest.fixture(scope="module")
def net():
    return load_nouns(FIXTURE)


def test_reader_parses_synsets_senses_and_version(net):
    assert net.version == "3.0"
    assert net.synset("gesture.n.02").lemmas == ["gesture", "motion"]
    assert net.first_sense("bow").lexname == "noun.artifact"  # senses in index order
    assert net.synset("cellar.n.01").lemmas == ["cellar", "basement"]
    assert net.ancestors(net.synset("nod.n.01")) == {"00000010", "00000009", "00000001"}
    assert net.tagged["guard"] == 1 and net.tagged_other["guard"] == 10
    assert any("Princeton" in line for line in net.notice)


def test_nouns_fall_in_the_category_of_their_first_sense(net):
    got = {
        lemma: category
        for category, words in classify_nouns(net, zipf).items()
        for lemma, _ in words
    }
    assert got == {
        "blacksmith": "CHARACTER",  # noun.person
        "club": "COLLECTIVE",
        "guild": "COLLECTIVE",  # noun.group under social_group.n.01
        "nod": "GESTURE",  # under gesture.n.02, although mostly a verb
        "gesture": "GESTURE",
        "bread": "OBJECT",  # noun.food
        "cellar": "LOCATION",
        "basement": "LOCATION",  # artifact under structure.n.01
        "harbour": "LOCATION",  # noun.location
        "noise": "SENSORY",
        "creak": "SENSORY",
        "debt": "ABSTRACT",
        "arrears": "ABSTRACT",  # noun.state under debt.n.01
        "porridge": "OBJECT",
    }
    # Left out: "bow" (first sense a knot, no category), "herd" (a group, not of people),
    # "London" (a proper name), "guard" (mostly a verb), "person"/"entity" (too general).


def test_verbs_fall_in_the_list_of_their_first_sense(net):
    verbs = load_verbs(FIXTURE)
    assert sorted(verbs.synset("stroll.v.01").frames) == [22]
    lists = classify_verbs(verbs, net.tagged, zipf, exclude=set())
    assert lists == {
        "lexicon_perform_verbs": ["scrub"],  # verb.contact with an object
        "lexicon_move_verbs": ["stroll toward"],  # under travel.v.01, no object
        "lexicon_emotion_verbs": ["giggle"],  # under express_emotion.v.01
        "lexicon_speech_verbs": ["growl"],  # verb.communication under growl.v.01
    }
    # Left out: "post" (a stopword: 'post the letter' is not its first sense in a story),
    # "smooch" (never tagged as a verb), "nod" and "guard" (no rule), "travel" (too general).
    assert classify_verbs(verbs, net.tagged, zipf, exclude={"scrub"})["lexicon_perform_verbs"] == []
    rare_past = classify_verbs(
        verbs, net.tagged, lambda w: 1.0 if w == "giggled" else zipf(w), set()
    )
    assert rare_past["lexicon_emotion_verbs"] == []  # its past form is rare: not used as a verb


def test_frequency_threshold_and_ordering(net):
    rare = classify_nouns(net, lambda w: 2.0 if w == "blacksmith" else 3.2)
    assert "blacksmith" not in [w for w, _ in rare["CHARACTER"]]
    assert select([("b", 3.0), ("a", 3.0), ("c", 5.0), ("d", 4.0)], 3, {"d"}) == ["c", "a", "b"]
    assert article("GESTURE", "nod") == "a nod" and article("GESTURE", "oath") == "an oath"
    assert article("OBJECT", "bread") == "the bread"


def test_names_round_robin_by_locale_and_filtered():
    by_locale = {
        "xx_XX": ["Will", "Rose", "Anna", "Berit", "Cato", "Dagny", "bad", "Jean-Luc"],
        "yy_YY": ["Emil", "Fenna", "Anna"],
        "zz_ZZ": ["Дмитрий", "Ольга", "Ivan"],
    }
    names = select_names(by_locale, 6, zipf, exclude={"Cato"}, other_script_share=0.2)
    assert len(names) == 6 and names == sorted(names)
    assert not {"Will", "Rose", "Cato", "bad"} & set(names)  # English words, excluded, lowercase
    assert {"Emil", "Fenna"} <= set(names)  # the small locale gets its turns
    assert sum(script(n) == "CYRILLIC" for n in names) == 1  # other scripts sparingly
    assert select_names(by_locale, 6, zipf, {"Cato"}, other_script_share=0.2) == names


def stub_sources(net) -> Sources:
    return Sources(
        net=net,
        wordnet_origin="a test fixture",
        zipf=zipf,
        names_by_locale={"xx_XX": ["Anna", "Sarah", "Berit"], "yy_YY": ["Emil"]},
        versions={"faker": "0.0-test", "wordfreq": "0.0-test", "lemminflect": "0.0-test"},
        verbs=load_verbs(FIXTURE),
    )


def test_import_writes_a_valid_deterministic_spec(tmp_path, net, capsys):
    specs = tmp_path / "specs"
    shutil.copytree(REPO / "specs", specs)
    out = specs / "vocabulary" / "lexicon.yaml"
    lists = run_import(specs, out, per_category=5, n_names=10, sources=stub_sources(net))
    first = out.read_bytes()
    run_import(specs, out, per_category=5, n_names=10, sources=stub_sources(net))
    assert out.read_bytes() == first
    text = first.decode("utf-8")
    assert "Code generated by storyml vocab import. DO NOT EDIT." in text
    assert "WordNet 3.0" in text and "faker 0.0-test" in text and "wordfreq 0.0-test" in text
    data = yaml.safe_load(text)
    assert data["lists"]["lexicon_gestures"]["words"] == ["a gesture"]  # "a slow nod" is by hand
    assert "the cellar" not in lists["lexicon_locations"]  # already in the hand-written list
    assert "Sarah" not in lists[NAMES_LIST]  # likewise
    assert set(data["lists"]) == {*LIST_OF_CATEGORY.values(), NAMES_LIST, *VERB_LISTS}
    assert data["lists"]["lexicon_move_verbs"]["verbs"] == ["stroll toward"]
    assert lists["lexicon_perform_verbs"] == ["scrub"]
    # valid (not 2); new head words may leave the committed silver records stale (1), said on stdout
    assert main(["check", "--specs", str(specs)]) in (0, STALE), capsys.readouterr().err


def test_missing_source_exits_2_with_install_hint(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "faker", None)  # import faker -> ImportError
    assert main(["vocab", "import", "--out", str(tmp_path / "x.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install -e '.[lexicon]'" in err[0]
    assert not (tmp_path / "x.yaml").exists()


def test_committed_lexicon_is_generated_with_source_versions_and_wired_in():
    text = LEXICON.read_text(encoding="utf-8")
    head = text.split("\nkind:", 1)[0]
    assert "Code generated by storyml vocab import. DO NOT EDIT." in head
    for needle in (
        "WordNet 3.0",
        "Princeton University",
        "faker 40.63.0",
        "MIT",
        "wordfreq 3.1.1",
        "CC-BY-SA 4.0",
    ):
        assert needle in head, needle
    data = yaml.safe_load(text)
    assert data["kind"] == "vocabulary" and data["name"] == "lexicon"
    included = set()
    for path in (REPO / "specs" / "vocabulary").glob("*.yaml"):
        for wl in (yaml.safe_load(path.read_text(encoding="utf-8"))["lists"]).values():
            included.update(wl.get("include", []))
    for name, wl in data["lists"].items():
        entries = wl["verbs"] if name in VERB_LISTS else wl["words"]
        assert entries == sorted(entries) and entries, name
        assert name in included, f"{name} is not included by any hand-written list"
