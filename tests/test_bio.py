"""BIO alignment (storyml.data.bio): entity spans survive tokenization and come back exact.

Runs against the tiny trained WordPiece, the real MiniLM WordPiece, and two tokenizers whose
offsets carry whitespace (SentencePiece-style Metaspace BPE, GPT-2-style byte-level BPE), so the
rules hold for "any fast tokenizer", not just BERT.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_TOKENIZER_CORPUS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from storyml_contract.text import (
    BEGIN_LABEL_INDEX,
    BIO_LABEL_INDEX,
    BIO_LABELS,
    ENTITY_CATEGORIES,
    IGNORE_INDEX,
    INSIDE_LABEL_INDEX,
    MAX_SEQ_LENGTH,
    NUM_BIO_LABELS,
    assemble_spans,
    decode_tags,
    spans_from_scores,
    word_tags,
)

from storyml.data import bio
from storyml.data.bio import (
    TokenClassificationCollator,
    _label_tokens,
    align_batch,
    as_features,
    continues_word_flags,
    logits_to_spans,
    tags_to_spans,
)
from storyml.errors import UserError

WORDS = (
    "Zoë",
    "Łucja",
    "Þórr",
    "café",
    "naïve",
    "Søren",
    "Sarah",
    "Tom",
    "the",
    "stone",
    "key",
    "riverbed",
    "clearing",
    "picked",
    "up",
    "whispered",
    "trembling",
    "hands",
    "villagers",
    "smoke",
    "fjord",
    "東京",
    "🙂",
    "Ωmega",
    "façade",
    "über",
    "x",
    "old",
)
# Punctuation is its own pre-token for BERT and byte-level tokenizers: it may touch a word.
PUNCTUATION = ("!", "?", "—", ";")
SPACES = (" ", "  ", "\t")
SEPARATORS = SPACES + (", ", " and ")

settings.register_profile(
    "bio", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
FAST = settings.get_profile("bio")


# --- Extra tokenizers ------------------------------------------------------------------------


def _train_bpe(pre_tokenizer, post_processor_template: str | None, specials: list[str]):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizer
    alphabet = pre_tokenizers.ByteLevel.alphabet() if "ByteLevel" in repr(pre_tokenizer) else []
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=specials, initial_alphabet=alphabet
    )
    tok.train_from_iterator(TINY_TOKENIZER_CORPUS, trainer=trainer)
    if post_processor_template:
        tok.post_processor = processors.TemplateProcessing(
            single=post_processor_template,
            special_tokens=[(t, tok.token_to_id(t)) for t in ("<s>", "</s>")],
        )
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>")


@pytest.fixture(scope="module")
def metaspace_tokenizer():
    """SentencePiece-style: '▁stone' tokens whose offsets include the preceding space."""
    from tokenizers import pre_tokenizers

    return _train_bpe(pre_tokenizers.Metaspace(), "<s> $A </s>", ["<pad>", "<unk>", "<s>", "</s>"])


@pytest.fixture(scope="module")
def bytelevel_tokenizer():
    """GPT-2-style: untrimmed 'Ġstone' offsets, multi-byte characters split over tokens, no specials."""
    from tokenizers import pre_tokenizers

    return _train_bpe(
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False), None, ["<pad>"]
    )


# Whether the tokenizer always cuts a token at punctuation (so touching entities stay apart).
TOKENIZERS = {
    "tiny_tokenizer": True,
    "minilm_tokenizer": True,
    "metaspace_tokenizer": False,
    "bytelevel_tokenizer": True,
}


@pytest.fixture(scope="module", params=sorted(TOKENIZERS))
def tokenizer_case(request):
    return request.getfixturevalue(request.param), TOKENIZERS[request.param]


# --- Strategies -------------------------------------------------------------------------------


@st.composite
def annotated_texts(draw, punctuation_splits: bool = True):
    """A text of random words with random non-overlapping entities on word boundaries.

    Entities may touch (punctuation right after a word) or sit one space apart.
    """
    segments = draw(
        st.lists(
            st.tuples(
                st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
                st.none() | st.sampled_from(ENTITY_CATEGORIES),
            ),
            min_size=1,
            max_size=8,
        )
    )
    # Without punctuation splitting a comma may merge into the word before it: spaces only then.
    separators = SEPARATORS if punctuation_splits else SPACES
    text, entities = "", []
    for words, category in segments:
        if text:
            text += draw(st.sampled_from(separators))
        if punctuation_splits and draw(st.booleans()):
            words = words[:-1] + [words[-1] + draw(st.sampled_from(PUNCTUATION))]
        inner = draw(st.sampled_from(separators))
        start = len(text)
        text += inner.join(words)
        if category is not None:
            entities.append({"start": start, "end": len(text), "category": category})
    if punctuation_splits and draw(st.booleans()) and entities and entities[-1]["end"] == len(text):
        # A punctuation entity touching the previous entity with no character between.
        entities.append({"start": len(text), "end": len(text) + 1, "category": "GESTURE"})
        text += "!"
    return text, entities


def _spans(entities):
    return [(e["start"], e["end"], e["category"]) for e in entities]


def _found(aligned, i):
    return _spans(tags_to_spans(aligned["labels"][i], aligned["offsets"][i]))


# --- Entities -> BIO -> entities ---------------------------------------------------------------


@given(data=st.data())
@FAST
def test_round_trip_returns_the_entities_exactly(tokenizer_case, data):
    tokenizer, punctuation_splits = tokenizer_case
    batch = data.draw(st.lists(annotated_texts(punctuation_splits), min_size=1, max_size=4))
    texts = [t for t, _ in batch]
    aligned = align_batch(tokenizer, texts, [e for _, e in batch], max_length=512)
    for i, (text, entities) in enumerate(batch):
        assert _found(aligned, i) == _spans(entities), text
        # Character offsets, not bytes: the span slices back to the very same characters.
        for span, entity in zip(
            tags_to_spans(aligned["labels"][i], aligned["offsets"][i]), entities
        ):
            assert text[span["start"] : span["end"]] == text[entity["start"] : entity["end"]]


@given(data=st.data())
@FAST
def test_every_inside_tag_follows_its_own_category(tokenizer_case, data):
    tokenizer, punctuation_splits = tokenizer_case
    batch = data.draw(st.lists(annotated_texts(punctuation_splits), min_size=1, max_size=4))
    aligned = align_batch(tokenizer, [t for t, _ in batch], [e for _, e in batch])
    for labels in aligned["labels"]:
        for previous, label in zip([IGNORE_INDEX] + labels[:-1], labels):
            if label >= 0 and BIO_LABELS[label].startswith("I-"):
                category = BIO_LABELS[label][2:]
                assert previous in (BEGIN_LABEL_INDEX[category], INSIDE_LABEL_INDEX[category])


@given(data=st.data())
@FAST
def test_special_tokens_and_only_they_are_ignored(tokenizer_case, data):
    tokenizer, punctuation_splits = tokenizer_case
    batch = data.draw(st.lists(annotated_texts(punctuation_splits), min_size=1, max_size=4))
    texts = [t for t, _ in batch]
    aligned = align_batch(tokenizer, texts, [e for _, e in batch])
    own = tokenizer(
        texts, return_special_tokens_mask=True, truncation=True, max_length=MAX_SEQ_LENGTH
    )
    assert aligned["input_ids"] == own["input_ids"]
    for labels, mask in zip(aligned["labels"], own["special_tokens_mask"]):
        assert [label == IGNORE_INDEX for label in labels] == [bool(m) for m in mask]
        assert all(0 <= label < NUM_BIO_LABELS for label, m in zip(labels, mask) if not m)
    assert all(set(mask) == {1} for mask in aligned["attention_mask"])  # nothing padded


@given(
    data=st.data(),
    category=st.sampled_from(ENTITY_CATEGORIES),
    gap=st.sampled_from(["", " "]),
)
@FAST
def test_adjacent_entities_of_one_category_stay_separate(tokenizer_case, data, category, gap):
    tokenizer, punctuation_splits = tokenizer_case
    if gap == "" and not punctuation_splits:
        return  # a word and the punctuation touching it may merge into one token there
    first = data.draw(st.sampled_from(WORDS))
    second = data.draw(st.sampled_from(WORDS)) if gap else data.draw(st.sampled_from(PUNCTUATION))
    text = f"{first}{gap}{second}"
    entities = [
        {"start": 0, "end": len(first), "category": category},
        {"start": len(first) + len(gap), "end": len(text), "category": category},
    ]
    aligned = align_batch(tokenizer, [text], [entities])
    assert _found(aligned, 0) == _spans(entities)


@given(data=st.data(), max_length=st.integers(min_value=3, max_value=24))
@FAST
def test_truncation_keeps_the_closing_special_token_and_kept_text_only(
    tokenizer_case, data, max_length
):
    tokenizer, punctuation_splits = tokenizer_case
    text, entities = data.draw(annotated_texts(punctuation_splits))
    aligned = align_batch(tokenizer, [text], [entities], max_length=max_length)
    ids, labels, offsets = aligned["input_ids"][0], aligned["labels"][0], aligned["offsets"][0]
    assert len(ids) <= max_length
    closing = tokenizer(["a"], return_special_tokens_mask=True)
    trailing = [t for t, m in zip(closing["input_ids"][0], closing["special_tokens_mask"][0]) if m][
        -1:
    ]
    if closing["special_tokens_mask"][0][-1]:
        assert ids[-1:] == trailing  # [SEP] / </s> survives the cut (defect 7)
    kept_end = max(
        (end for (start, end), label in zip(offsets, labels) if label != IGNORE_INDEX), default=0
    )
    full = align_batch(tokenizer, [text], [entities], max_length=512)
    truncated = len(full["input_ids"][0]) > len(ids)
    expected = {(e["start"], e["category"]): e["end"] for e in entities}
    for start, end, category in _found(aligned, 0):
        assert end <= kept_end
        # A span is an entity, or the kept front part of one cut by truncation.
        assert (start, category) in expected
        assert end == expected[(start, category)] or (
            truncated and end < expected[(start, category)]
        )
    # Entities wholly inside the kept text come back exactly.
    assert [s for s in _spans(entities) if s[1] <= kept_end] == [
        s for s in _found(aligned, 0) if s[1] <= kept_end and s in _spans(entities)
    ]


# --- The chunked encoding equals the whole-text one ------------------------------------------

# Pieces that stress the chunk split: every separator, other whitespace, characters the BERT
# normalizer drops or splits off, an added token in the text, a word longer than WordPiece takes.
TRICKY_PIECES = (
    WORDS
    + PUNCTUATION
    + (
        " ",
        "\t",
        "\n",
        "\r",
        "\r\n",
        "\u00a0",
        "\u3000",
        "\x00",
        "\x0b",
        "\u0301",
        "\u200b",
        "[MASK]",
        "[SEP]",
        "東京",
        "x" * 120,
        "İ",
        "ß",
        "...",
    )
)


def _whole_and_chunked(tokenizer, texts, max_length):
    layout = bio._special_layout(tokenizer)
    backend = bio._chunkable_backend(tokenizer, layout)
    assert backend is not None
    whole = bio._encode_texts(tokenizer, texts, max_length, layout)
    chunked = bio._encode_chunks(tokenizer, backend, texts, max_length, layout)
    return whole, chunked


@pytest.mark.parametrize("name", ["tiny_tokenizer", "minilm_tokenizer"])
@given(
    texts=st.lists(
        st.lists(st.sampled_from(TRICKY_PIECES), max_size=12).map("".join), min_size=1, max_size=5
    ),
    max_length=st.sampled_from([3, 5, 9, 40, MAX_SEQ_LENGTH]),
)
@FAST
def test_chunked_encoding_equals_the_whole_text_encoding(request, name, texts, max_length):
    """align_batch tokenizes each distinct whitespace-free chunk once and lays the tokens out per
    text: ids, offsets, special flags, word indices and truncation all match the tokenizer's."""
    whole, chunked = _whole_and_chunked(request.getfixturevalue(name), texts, max_length)
    for column in ("ids", "starts", "ends", "special", "words", "lengths"):
        assert getattr(chunked, column).tolist() == getattr(whole, column).tolist(), column


def test_tokenizers_that_keep_whitespace_in_tokens_are_not_chunked(
    metaspace_tokenizer, bytelevel_tokenizer
):
    for tokenizer in (metaspace_tokenizer, bytelevel_tokenizer):
        assert bio._chunkable_backend(tokenizer, bio._special_layout(tokenizer)) is None


def _per_example_reference():
    """The per-example path benchmarks/bench_data_pipeline.py times align_batch against."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_data_pipeline.py"
    spec = importlib.util.spec_from_file_location("bench_data_pipeline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.align_per_example


@pytest.mark.parametrize("name", ["tiny_tokenizer", "minilm_tokenizer"])
def test_batched_alignment_equals_the_per_example_path_on_generated_data(request, name):
    from codegen.spec.loader import load_specs
    from storyml.data.events import generate_events

    tokenizer = request.getfixturevalue(name)
    records = generate_events(
        load_specs(Path(__file__).resolve().parents[1] / "specs"), seed=5, per_kind=12
    )
    # One long text so that truncation is part of the comparison.
    records.append(
        {"text": " ".join(r["text"] for r in records[:40]), "entities": records[0]["entities"]}
    )
    texts, entities = [r["text"] for r in records], [r["entities"] for r in records]
    assert sum(not t.isascii() for t in texts) > 0  # non-ASCII names are part of the data
    batched = align_batch(tokenizer, texts, entities, MAX_SEQ_LENGTH)
    single = _per_example_reference()(tokenizer, texts, entities, MAX_SEQ_LENGTH)
    assert len(batched["input_ids"][-1]) == MAX_SEQ_LENGTH
    for i, labels in enumerate(batched["labels"]):
        # The per-example path pads to MAX_SEQ_LENGTH: the batched row is its unpadded prefix.
        assert single["input_ids"][i][: len(labels)] == batched["input_ids"][i], texts[i]
        assert single["labels"][i][: len(labels)] == labels, texts[i]
        assert set(single["labels"][i][len(labels) :]) <= {IGNORE_INDEX}


def test_defect_7_tokenizer_that_cuts_sep_is_rejected(minilm_tokenizer):
    """The hand-kept system truncated the ids list after the fact, losing [SEP]."""

    def cut_after_the_fact(texts, **kwargs):
        limit = kwargs.pop("max_length", None)
        kwargs.update(truncation=False)
        encoded = minilm_tokenizer(texts, **kwargs)
        for key in list(encoded.keys()):
            encoded[key] = [row[:limit] for row in encoded[key]]
        return encoded

    long_text = " ".join(["stone"] * 200)
    with pytest.raises(UserError, match="closing special tokens"):
        align_batch(cut_after_the_fact, [long_text], [[]], max_length=MAX_SEQ_LENGTH)


def test_minilm_subwords_of_non_ascii_names_are_inside_tags(minilm_tokenizer):
    text = "Łucja and Þórr met at the café."
    entities = [
        {"start": 0, "end": 5, "category": "CHARACTER"},
        {"start": 10, "end": 14, "category": "CHARACTER"},
        {"start": 22, "end": 30, "category": "LOCATION"},
    ]
    aligned = align_batch(minilm_tokenizer, [text], [entities])
    tokens = minilm_tokenizer.convert_ids_to_tokens(aligned["input_ids"][0])
    tagged = [
        (tok, BIO_LABELS[label]) for tok, label in zip(tokens, aligned["labels"][0]) if label >= 0
    ]
    assert tagged[:3] == [("ł", "B-CHARACTER"), ("##uc", "I-CHARACTER"), ("##ja", "I-CHARACTER")]
    assert ("þ", "B-CHARACTER") in tagged and ("##or", "I-CHARACTER") in tagged
    assert [text[s:e] for s, e, _ in _found(aligned, 0)] == ["Łucja", "Þórr", "the café"]


def test_whitespace_in_token_offsets_is_trimmed(metaspace_tokenizer):
    text = "Sarah  picked up the  stone"
    entities = [{"start": 17, "end": 27, "category": "OBJECT"}]
    raw = metaspace_tokenizer([text], return_offsets_mapping=True)["offset_mapping"][0]
    assert any(text[s:e] != text[s:e].strip() for s, e in raw if e > s)  # the case exists
    aligned = align_batch(metaspace_tokenizer, [text], [entities])
    for (s, e), label in zip(aligned["offsets"][0], aligned["labels"][0]):
        if label != IGNORE_INDEX and text[s:e].strip():
            assert text[s:e] == text[s:e].strip()
    # The lone space token between "the" and "stone" lies inside the entity: I-, not O.
    assert _found(aligned, 0) == [(17, 27, "OBJECT")]


def test_straddling_tokens_follow_the_documented_rule():
    b, i, o = BEGIN_LABEL_INDEX, INSIDE_LABEL_INDEX, BIO_LABEL_INDEX["O"]
    # Entities A=[0,4) CHARACTER and B=[4,8) OBJECT; tokens [0,2) [2,6) [6,8) [9,12).
    starts, ends = np.array([0, 2, 6, 9]), np.array([2, 6, 8, 12])
    labels = _label_tokens(
        starts, ends, np.zeros(4, bool), np.array([0, 4]), np.array([4, 8]), np.array([0, 1])
    )
    # The token straddling A|B goes to the earlier entity; B begins at its first own token.
    assert labels.tolist() == [b["CHARACTER"], i["CHARACTER"], b["OBJECT"], o]
    # An entity starting inside a token snaps outward: that token carries its B-.
    labels = _label_tokens(
        np.array([0, 5]),
        np.array([5, 9]),
        np.zeros(2, bool),
        np.array([2]),
        np.array([9]),
        np.array([2]),
    )
    assert labels.tolist() == [b["LOCATION"], i["LOCATION"]]


@pytest.mark.parametrize(
    "entities, problem",
    [
        (
            [
                {"start": 0, "end": 5, "category": "CHARACTER"},
                {"start": 4, "end": 9, "category": "OBJECT"},
            ],
            "overlap",
        ),
        ([{"start": 3, "end": 3, "category": "OBJECT"}], "does not fit"),
        ([{"start": 0, "end": 99, "category": "OBJECT"}], "does not fit"),
        ([{"start": 0, "end": 5, "category": "PERSON"}], "not one of"),
        ([{"start": 0, "end": 5}], "needs start, end and category"),
    ],
)
def test_bad_entities_are_named(tiny_tokenizer, entities, problem):
    with pytest.raises(UserError, match=problem):
        align_batch(tiny_tokenizer, ["ok", "Sarah picked up the stone"], [[], entities])


def test_texts_and_entity_lists_must_pair_up(tiny_tokenizer):
    with pytest.raises(UserError, match="2 texts but 1 entity lists"):
        align_batch(tiny_tokenizer, ["a", "b"], [[]])


# --- Token tags -> spans: the engine's rules, one case each ---------------------------------------

OFFSETS = [(0, 0), (0, 3), (4, 7), (8, 11), (12, 15), (16, 19), (0, 0)]


def _tags(*labels):
    return [IGNORE_INDEX] + [BIO_LABEL_INDEX[label] for label in labels] + [IGNORE_INDEX]


@pytest.mark.parametrize(
    "labels, spans",
    [
        # B opens, I of the same category extends.
        (("B-OBJECT", "I-OBJECT", "O", "O", "O"), [(0, 7, "OBJECT")]),
        # O closes.
        (("B-OBJECT", "O", "I-OBJECT", "O", "O"), [(0, 3, "OBJECT")]),
        # An orphan I is dropped and never opens a span.
        (("I-OBJECT", "I-OBJECT", "O", "O", "O"), []),
        # A mismatched I closes the open span, is dropped, and later I's are orphans.
        (("B-OBJECT", "I-LOCATION", "I-OBJECT", "O", "O"), [(0, 3, "OBJECT")]),
        # A B right after a span closes it and opens the next, even of the same category.
        (
            ("B-OBJECT", "B-OBJECT", "I-OBJECT", "O", "B-CHARACTER"),
            [(0, 3, "OBJECT"), (4, 11, "OBJECT"), (16, 19, "CHARACTER")],
        ),
        # A span may run to the last text token; the closing special token ends it.
        (("O", "O", "B-ABSTRACT", "I-ABSTRACT", "I-ABSTRACT"), [(8, 19, "ABSTRACT")]),
    ],
)
def test_engine_span_rules(labels, spans):
    assert _spans(tags_to_spans(_tags(*labels), OFFSETS)) == spans


def test_special_tokens_close_spans_even_mid_entity():
    tags = _tags("B-OBJECT", "I-OBJECT", "I-OBJECT", "O", "O")
    special = [True, False, True, False, False, False, True]
    assert _spans(tags_to_spans(tags, OFFSETS, special)) == [(0, 3, "OBJECT")]


def test_confidence_is_the_mean_probability_of_the_predicted_labels():
    tags = _tags("B-OBJECT", "I-OBJECT", "O", "B-CHARACTER", "O")
    probs = np.full((len(tags), NUM_BIO_LABELS), 0.01)
    probs[1, BIO_LABEL_INDEX["B-OBJECT"]] = 0.9
    probs[2, BIO_LABEL_INDEX["I-OBJECT"]] = 0.6
    probs[4, BIO_LABEL_INDEX["B-CHARACTER"]] = 0.7
    spans = tags_to_spans(tags, OFFSETS, probs=probs)
    assert [s["confidence"] for s in spans] == pytest.approx([0.75, 0.7])
    assert [s["confidence"] for s in tags_to_spans(tags, OFFSETS)] == [1.0, 1.0]


def test_logits_to_spans_decodes_and_uses_softmax():
    logits = np.zeros((len(OFFSETS), NUM_BIO_LABELS))
    logits[1, BIO_LABEL_INDEX["B-LOCATION"]] = 5.0
    logits[2, BIO_LABEL_INDEX["I-LOCATION"]] = 5.0
    special = [True] + [False] * 5 + [True]
    (span,) = logits_to_spans(logits, OFFSETS, special)
    expected = np.exp(5.0) / (np.exp(5.0) + NUM_BIO_LABELS - 1)
    assert (span["start"], span["end"], span["category"]) == (0, 7, "LOCATION")
    assert span["confidence"] == pytest.approx(expected)


@given(tags=st.lists(st.integers(0, NUM_BIO_LABELS - 1), min_size=0, max_size=30))
@FAST
def test_assembled_spans_are_maximal_runs_opened_by_b(tags):
    offsets = [(3 * t, 3 * t + 2) for t in range(len(tags))]
    spans = tags_to_spans(tags, offsets, [False] * len(tags))
    starts = {s["start"] // 3: s for s in spans}
    for t, span in starts.items():
        assert BIO_LABELS[tags[t]] == "B-" + span["category"]
        last = (span["end"] - 2) // 3
        assert all(BIO_LABELS[x] == "I-" + span["category"] for x in tags[t + 1 : last + 1])
        # Maximal: the token after the span does not continue it.
        assert last + 1 == len(tags) or BIO_LABELS[tags[last + 1]] != "I-" + span["category"]
    # Every B opens exactly one span; nothing else does.
    assert sorted(starts) == [t for t, x in enumerate(tags) if BIO_LABELS[x].startswith("B-")]


# --- Whole words ----------------------------------------------------------------------------


def test_spans_snap_to_whole_words_the_first_subword_labels_the_word():
    """The issue's broken spans: "the c" (ended inside "council"), "r" (a lone sub-word)."""
    text = "the council elders"
    # [CLS] the c ##ounc ##il el ##ders [SEP]
    offsets = [(0, 0), (0, 3), (4, 5), (5, 9), (9, 11), (12, 14), (14, 18), (0, 0)]
    word_ids = [None, 0, 1, 1, 1, 2, 2, None]
    continues = continues_word_flags(word_ids)
    assert continues == [False, False, False, True, True, False, True, False]

    def spans(*labels):
        return [
            text[a:b]
            for a, b, _ in _spans(tags_to_spans(_tags(*labels), offsets, None, None, continues))
        ]

    assert spans("B-COLLECTIVE", "I-COLLECTIVE", "O", "O", "O", "O") == ["the council"]
    assert spans("O", "O", "B-COLLECTIVE", "I-COLLECTIVE", "O", "O") == []  # starts inside a word
    assert spans("O", "O", "O", "O", "B-CHARACTER", "O") == ["elders"]
    assert spans("O", "B-OBJECT", "B-LOCATION", "I-LOCATION", "O", "O") == ["council"]
    # Without word information every token is its own word (the old behaviour).
    assert [
        text[a:b]
        for a, b, _ in _spans(
            tags_to_spans(_tags("B-COLLECTIVE", "I-COLLECTIVE", "O", "O", "O", "O"), offsets)
        )
    ] == ["the c"]


def test_span_confidence_uses_the_word_snapped_labels():
    offsets = [(0, 0), (0, 1), (1, 3), (0, 0)]
    probs = np.full((4, NUM_BIO_LABELS), 0.01)
    probs[1, BIO_LABEL_INDEX["B-OBJECT"]] = 0.8
    probs[2, BIO_LABEL_INDEX["I-OBJECT"]] = 0.4
    tags = [IGNORE_INDEX, BIO_LABEL_INDEX["B-OBJECT"], BIO_LABEL_INDEX["O"], IGNORE_INDEX]
    (span,) = tags_to_spans(tags, offsets, None, probs, [False, False, True, False])
    assert (span["start"], span["end"]) == (0, 3)
    assert span["confidence"] == pytest.approx(0.6)


@given(data=st.data(), n=st.integers(0, 30))
@FAST
def test_spans_never_start_or_end_inside_a_word(data, n):
    tags = data.draw(st.lists(st.integers(0, NUM_BIO_LABELS - 1), min_size=n, max_size=n))
    continues = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    offsets = [(3 * t, 3 * t + 2) for t in range(n)]
    spans = tags_to_spans(tags, offsets, [False] * n, None, continues)
    for span in spans:
        first, last = span["start"] // 3, (span["end"] - 2) // 3
        assert first == 0 or not continues[first]
        assert last + 1 == n or not continues[last + 1]


def test_align_batch_reports_the_tokenizers_words(tiny_tokenizer):
    aligned = align_batch(tiny_tokenizer, ["the council smiled."], [[]])
    word_ids = aligned["word_ids"][0]
    assert word_ids[0] is None and word_ids[-1] is None
    assert len(word_ids) == len(aligned["input_ids"][0])
    assert word_ids[1:-1] == sorted(word_ids[1:-1])


# --- Dynamic padding ----------------------------------------------------------------------------


def test_collator_pads_to_the_longest_in_the_batch(tiny_tokenizer):
    texts = ["Zoë smiled.", "Sarah picked up the stone near the old café."]
    entities = [[{"start": 0, "end": 3, "category": "CHARACTER"}], []]
    aligned = align_batch(tiny_tokenizer, texts, entities)
    batch = TokenClassificationCollator.for_tokenizer(tiny_tokenizer)(as_features(aligned))
    short, long = (len(ids) for ids in aligned["input_ids"])
    assert batch["input_ids"].shape == batch["labels"].shape == (2, long)
    pad = tiny_tokenizer.pad_token_id
    assert batch["input_ids"][0, short:].tolist() == [pad] * (long - short)
    assert batch["attention_mask"][0].tolist() == [1] * short + [0] * (long - short)
    assert batch["labels"][0].tolist() == aligned["labels"][0] + [IGNORE_INDEX] * (long - short)
    assert batch["labels"][1].tolist() == aligned["labels"][1]
    assert str(batch["input_ids"].dtype) == "torch.int64"
    padded8 = TokenClassificationCollator(pad, pad_to_multiple_of=8)(as_features(aligned))
    assert padded8["input_ids"].shape[1] % 8 == 0


# ---------------------------------------------------------------- constrained decoding


def _scores(*rows: dict[str, float]) -> list[list[float]]:
    out = []
    for row in rows:
        scores = [0.0] * NUM_BIO_LABELS
        for label, value in row.items():
            scores[BIO_LABEL_INDEX[label]] = value
        out.append(scores)
    return out


def test_a_span_the_argmax_would_split_is_decoded_whole():
    # "[CLS] the kitchen door [SEP]": token by token B-LOCATION I-OBJECT I-OBJECT, which the strict
    # rules read as a lone "the"; the best whole sequence is one OBJECT span.
    scores = _scores(
        {"O": 5},
        {"B-LOCATION": 3, "B-OBJECT": 2.5},
        {"I-OBJECT": 4, "I-LOCATION": 1},
        {"I-OBJECT": 4},
        {"O": 5},
    )
    special, words = [True, False, False, False, True], [False] * 5
    argmax = [int(np.argmax(row)) for row in scores]
    assert assemble_spans(argmax, special, words) == [(1, 2, ENTITY_CATEGORIES.index("LOCATION"))]
    assert spans_from_scores(scores, special, words) == [(1, 4, ENTITY_CATEGORIES.index("OBJECT"))]


def _valid(path: list[int]) -> bool:
    """No I-X unless it follows B-X or I-X."""
    previous = None
    for label in path:
        name = BIO_LABELS[label]
        if name.startswith("I-") and previous not in ("B-" + name[2:], name):
            return False
        previous = name
    return True


@given(
    rows=st.lists(
        st.lists(st.integers(-3, 3), min_size=NUM_BIO_LABELS, max_size=NUM_BIO_LABELS),
        min_size=1,
        max_size=3,
    )
)
@FAST
def test_decoding_finds_the_best_sequence_the_strict_rules_read_whole(rows):
    import itertools

    n = len(rows)
    tags = decode_tags(rows, [False] * n, [False] * n)
    assert _valid(tags)
    best = max(
        sum(rows[t][k] for t, k in enumerate(path))
        for path in itertools.product(range(NUM_BIO_LABELS), repeat=n)
        if _valid(list(path))
    )
    assert sum(rows[t][k] for t, k in enumerate(tags)) == best
    argmax = [int(np.argmax(row)) for row in rows]
    if _valid(argmax):  # nothing to repair: decoding agrees with the per-token argmax
        assert tags == argmax


@given(data=st.data(), n=st.integers(0, 20))
@FAST
def test_decoded_tags_lose_no_labelled_word(data, n):
    rows = data.draw(
        st.lists(
            st.lists(st.integers(-3, 3), min_size=NUM_BIO_LABELS, max_size=NUM_BIO_LABELS),
            min_size=n,
            max_size=n,
        )
    )
    special = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    words = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    tags = word_tags(decode_tags(rows, special, words), special, words)
    covered = {
        t for first, end, _ in assemble_spans(tags, special, words) for t in range(first, end)
    }
    labelled = {t for t, tag in enumerate(tags) if not special[t] and BIO_LABELS[tag] != "O"}
    assert (
        covered == labelled
    )  # every non-O word is in a span: no orphan or mismatched I- is dropped
