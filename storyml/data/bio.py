"""Character-offset entities <-> per-token BIO labels, for any Hugging Face fast tokenizer.

`align_batch` tokenizes a whole batch in one call and labels every token with numpy over the
flattened batch (one `searchsorted`, no per-token Python loop). For a tokenizer that cuts at
whitespace and keeps none in its tokens (BERT WordPiece: both encoders here), it tokenizes each
distinct whitespace-free chunk of the batch once and lays the chunks' tokens out per text with
numpy: the same ids, offsets and words as whole-text tokenization, without re-tokenizing the
words a generated corpus repeats (tests/test_bio.py checks the two agree). `tags_to_spans` is the inverse,
with the engine's strict span-assembly rules. `TokenClassificationCollator` pads per batch:
`align_batch` never pads, so a batch is only as long as its longest sentence.

Labelling rules (deterministic, the same for every tokenizer):
- Offsets are character offsets into the text (never bytes), so non-ASCII text needs no care.
- A token's character range is first trimmed of surrounding whitespace (SentencePiece and
  byte-level tokenizers put the preceding space inside the token: "▁stone", "Ġstone").
  A token made only of whitespace keeps its range, so it is inside an entity only when that
  whitespace lies inside the entity (a space between the words of "the old key").
- A token belongs to the first entity its range overlaps. A token straddling the end of one
  entity and the start of the next belongs to the earlier one; a token straddling an entity's
  edge and plain text belongs to the entity (spans snap outward to token boundaries).
- The first token of an entity is B-X, its other tokens (subwords too) I-X, other tokens O,
  special tokens IGNORE_INDEX. An entity left with no token of its own (it lies inside a token
  claimed by an earlier entity, or past the truncation point) produces no label.
- Truncation keeps the tokenizer's closing special tokens ([SEP]); `align_batch` checks that it
  did (the hand-kept system dropped [SEP] when cutting at 128 tokens).

The offsets `align_batch` returns are the trimmed ones, so `tags_to_spans(labels, offsets)`
gives back entity character spans without stray whitespace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, pairwise
from typing import Any

import numpy as np
from storyml_contract.text import (
    BEGIN_LABEL_INDEX,
    BIO_LABEL_INDEX,
    ENTITY_CATEGORIES,
    IGNORE_INDEX,
    INSIDE_LABEL_INDEX,
    MAX_SEQ_LENGTH,
    OUTSIDE_LABEL,
    assemble_spans,
    decode_tags,
    word_tags,
)

from storyml.errors import UserError

# Keys of a Hugging Face tokenizer's output (BatchEncoding) and of the aligned batches built from
# it. They are the tokenizer's names, not the contract's: ONNX feeds use storyml_contract.ONNX_INPUTS.
INPUT_IDS, ATTENTION_MASK = "input_ids", "attention_mask"

__all__ = [
    "AlignedBatch",
    "TokenClassificationCollator",
    "align_batch",
    "as_features",
    "continues_word_flags",
    "logits_to_spans",
    "tags_to_spans",
]

OUTSIDE_INDEX = BIO_LABEL_INDEX[OUTSIDE_LABEL]
CATEGORY_INDEX: dict[str, int] = {c: i for i, c in enumerate(ENTITY_CATEGORIES)}
# Label id of B-X / I-X, indexed by the position of X in ENTITY_CATEGORIES.
_BEGIN_BY_CATEGORY = np.array([BEGIN_LABEL_INDEX[c] for c in ENTITY_CATEGORIES], dtype=np.int64)
_INSIDE_BY_CATEGORY = np.array([INSIDE_LABEL_INDEX[c] for c in ENTITY_CATEGORIES], dtype=np.int64)

# Every code point Python calls whitespace lies at or below U+3000 (ideographic space).
_WHITESPACE_CODEPOINTS = np.array([c for c in range(0x3001) if chr(c).isspace()], dtype=np.uint32)
# Separates texts in the batch-wide character axis, so no range crosses from one text to the next.
_TEXT_SEPARATOR = "\n"


# --- Entities -> token labels ------------------------------------------------------------------


def align_batch(
    tokenizer: Any,
    texts: Sequence[str],
    entities_per_text: Sequence[Sequence[Mapping[str, Any]]],
    max_length: int = MAX_SEQ_LENGTH,
    outside_per_text: Sequence[Sequence[Sequence[int]] | None] | None = None,
) -> AlignedBatch:
    """Tokenize `texts` in one call and label each token B-X / I-X / O / IGNORE_INDEX.

    `entities_per_text[i]` lists text i's entities as mappings with character offsets `start`,
    `end` (exclusive) and a `category` from ENTITY_CATEGORIES; they must not overlap.
    `outside_per_text[i]`, when given and not None, makes text i partially labelled (a silver
    record): only tokens overlapping one of its sorted, disjoint (start, end) character ranges
    are O, and tokens in neither an entity nor such a range get IGNORE_INDEX. Returns lists of
    lists, unpadded (an `AlignedBatch` mapping): input_ids, attention_mask, labels, offsets
    ((start, end) character pairs, whitespace-trimmed; (0, 0) for special tokens) and word_ids
    (the tokenizer's word of each token, None for special tokens; None for the whole column when
    the tokenizer does not say).
    """
    if len(texts) != len(entities_per_text):
        raise UserError(
            f"align_batch: {len(texts)} texts but {len(entities_per_text)} entity lists"
        )
    layout = _special_layout(tokenizer)
    if max_length < layout.count + 1:
        raise UserError(
            f"align_batch: max_length {max_length} leaves no room for text besides the "
            f"tokenizer's {layout.count} special tokens"
        )
    tokens = _encode(tokenizer, texts, max_length, layout)

    # One character axis for the whole batch: text i starts at text_base[i].
    text_lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    text_base = np.concatenate(([0], np.cumsum(text_lengths + len(_TEXT_SEPARATOR))))[:-1]
    token_text = np.repeat(np.arange(len(texts)), tokens.lengths)
    starts = tokens.starts + text_base[token_text]
    ends = tokens.ends + text_base[token_text]
    trimmed = _trim_whitespace(texts, starts, ends, tokens.special)
    if trimmed is not None:
        starts, ends = trimmed

    entity_starts, entity_ends, entity_category = _flatten_entities(
        texts, entities_per_text, text_lengths, text_base
    )
    labels = _label_tokens(
        starts, ends, tokens.special, entity_starts, entity_ends, entity_category
    )
    if outside_per_text is not None and any(o is not None for o in outside_per_text):
        labels = _ignore_unknown(labels, starts, ends, token_text, text_base, outside_per_text)
    return AlignedBatch(
        tokens, labels, starts - text_base[token_text], ends - text_base[token_text]
    )


class AlignedBatch(Mapping[str, list[Any] | None]):
    """`align_batch`'s result: columns of per-text lists, built from the flat batch on first read.

    Training reads input_ids, attention_mask and labels only; offsets and word_ids (a tuple or
    an int per token) cost as much again to build, so they are built when someone asks. The
    properties name each column with its type; only word_ids may be missing (None).
    """

    _COLUMNS = (INPUT_IDS, ATTENTION_MASK, "labels", "offsets", "word_ids")

    def __init__(self, tokens: _Tokens, labels: np.ndarray, starts: np.ndarray, ends: np.ndarray):
        self._tokens, self._labels, self._starts, self._ends = tokens, labels, starts, ends
        self._cuts = list(pairwise(np.concatenate(([0], np.cumsum(tokens.lengths))).tolist()))
        self._built: dict[str, list[Any] | None] = {}

    @property
    def input_ids(self) -> list[list[int]]:
        return self._column(INPUT_IDS)

    @property
    def attention_mask(self) -> list[list[int]]:
        return self._column(ATTENTION_MASK)

    @property
    def labels(self) -> list[list[int]]:
        """Per token: a BIO label index, or IGNORE_INDEX."""
        return self._column("labels")

    @property
    def offsets(self) -> list[list[tuple[int, int]]]:
        return self._column("offsets")

    @property
    def word_ids(self) -> list[list[int | None]] | None:
        return self["word_ids"]

    def _column(self, key: str) -> list[Any]:
        column = self[key]
        if column is None:  # only word_ids is ever missing
            raise KeyError(f"the {key} column was not built")
        return column

    def __getitem__(self, key: str) -> list[Any] | None:
        if key not in self._built:
            if key not in self._COLUMNS:
                raise KeyError(key)
            self._built[key] = self._build(key)
        return self._built[key]

    def __iter__(self):
        return iter(self._COLUMNS)

    def __len__(self) -> int:
        return len(self._COLUMNS)

    def _split(self, flat: list) -> list[list]:
        return [flat[a:b] for a, b in self._cuts]

    def _build(self, key: str) -> list | None:
        tokens = self._tokens
        if key == INPUT_IDS:
            return self._split(tokens.ids.tolist())
        if key == ATTENTION_MASK:
            return [[1] * (b - a) for a, b in self._cuts]
        if key == "labels":
            return self._split(self._labels.tolist())
        if key == "offsets":
            return self._split(list(zip(self._starts.tolist(), self._ends.tolist())))
        if tokens.words is None:
            return None
        words = tokens.words.astype(object)
        words[tokens.words < 0] = None
        return self._split(words.tolist())


# --- Tokenization ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tokens:
    """A batch's tokens, flat over the batch: text i owns the next `lengths[i]` rows.

    `starts`/`ends` are character offsets into each token's own text ((0, 0) for special
    tokens), untrimmed; `words` is the tokenizer's word index, -1 for None, and is None when the
    tokenizer does not report words.
    """

    ids: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    special: np.ndarray
    words: np.ndarray | None
    lengths: np.ndarray


@dataclass(frozen=True)
class _SpecialLayout:
    """The special tokens the post-processor puts around one sequence, read off a probe."""

    opening: tuple[int, ...]
    closing: tuple[int, ...]
    count: int
    # Whether every special token lies before or after the text (never inside it).
    bracketing: bool


def _special_layout(tokenizer: Any) -> _SpecialLayout:
    """The special tokens the tokenizer adds before and after a text.

    Read from a one-word probe, so it holds for any post-processor ([CLS] x [SEP], <s> x </s>,
    none at all).
    """
    probe = tokenizer(["a"], return_special_tokens_mask=True, truncation=False, padding=False)
    ids, mask = probe[INPUT_IDS][0], [bool(flag) for flag in probe["special_tokens_mask"][0]]
    lead = next((i for i, flag in enumerate(mask) if not flag), len(mask))
    tail = next((i for i, flag in enumerate(reversed(mask)) if not flag), len(mask))
    opening, closing = tuple(ids[:lead]), tuple(ids[len(ids) - tail :]) if tail else ()
    return _SpecialLayout(
        opening, closing, sum(mask), lead + tail == sum(mask) and lead < len(mask)
    )


def _encode(
    tokenizer: Any, texts: Sequence[str], max_length: int, layout: _SpecialLayout
) -> _Tokens:
    """Tokenize `texts`, truncated to `max_length` tokens, unpadded.

    Tokenizers whose pre-tokenizer splits at whitespace go through `_encode_chunks` (each
    distinct whitespace-free chunk of the batch tokenized once); any other goes through
    `_encode_texts`. Both give the same tokens, offsets and words (tests/test_bio.py checks it).
    """
    backend = _chunkable_backend(tokenizer, layout)
    if backend is not None:
        return _encode_chunks(tokenizer, backend, texts, max_length, layout)
    return _encode_texts(tokenizer, texts, max_length, layout)


def _encode_texts(
    tokenizer: Any, texts: Sequence[str], max_length: int, layout: _SpecialLayout
) -> _Tokens:
    """One batched tokenizer call over whole texts, truncated, unpadded.

    A transformers fast tokenizer is configured through its own `set_truncation_and_padding`
    (what its `__call__` does first) and then its Rust backend encodes the whole batch; reading
    the columns straight off the encodings skips the per-example dict building in `__call__`.
    Anything else that is called like a tokenizer goes through `__call__`.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and _configure(tokenizer, max_length):
        encodings = backend.encode_batch(list(texts), add_special_tokens=True)
        input_ids = [e.ids for e in encodings]
        offsets = [e.offsets for e in encodings]
        special_tokens_mask = [e.special_tokens_mask for e in encodings]
        word_ids = [e.word_ids for e in encodings]
    else:
        encoded = tokenizer(
            list(texts),
            truncation=True,
            max_length=max_length,
            padding=False,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
            return_attention_mask=True,
        )
        input_ids, offsets = encoded[INPUT_IDS], encoded["offset_mapping"]
        special_tokens_mask, word_ids = encoded["special_tokens_mask"], encoded.get("word_ids")
    _check_closing_specials(input_ids, special_tokens_mask, list(layout.closing), max_length)
    lengths = np.fromiter(map(len, input_ids), dtype=np.int64, count=len(input_ids))
    total = int(lengths.sum())
    local = np.fromiter(
        chain.from_iterable(chain.from_iterable(offsets)), dtype=np.int64, count=2 * total
    ).reshape(-1, 2)
    words = None
    if word_ids is not None:
        words = np.fromiter(
            (-1 if w is None else w for w in chain.from_iterable(word_ids)),
            dtype=np.int64,
            count=total,
        )
    return _Tokens(
        ids=np.fromiter(chain.from_iterable(input_ids), dtype=np.int64, count=total),
        starts=local[:, 0],
        ends=local[:, 1],
        special=np.fromiter(chain.from_iterable(special_tokens_mask), dtype=bool, count=total),
        words=words,
        lengths=lengths,
    )


def _configure(tokenizer: Any, max_length: int | None) -> bool:
    """Set a transformers fast tokenizer's backend to no padding and right truncation at
    `max_length` (None: no truncation), as its `__call__` would; False for other tokenizers."""
    configure = getattr(tokenizer, "set_truncation_and_padding", None)
    if configure is None:
        return False
    from transformers.tokenization_utils_base import PaddingStrategy, TruncationStrategy

    configure(
        padding_strategy=PaddingStrategy.DO_NOT_PAD,
        truncation_strategy=(
            TruncationStrategy.DO_NOT_TRUNCATE
            if max_length is None
            else TruncationStrategy.LONGEST_FIRST
        ),
        max_length=max_length,
        stride=0,
        pad_to_multiple_of=None,
        padding_side=None,
    )
    return True


# Whitespace every chunkable tokenizer cuts at and puts in no token (all four are whitespace to
# the Rust `char::is_whitespace` the pre-tokenizers use, and none is a control character to the
# BERT normalizer's clean-up, which turns them into spaces).
_CHUNK_SEPARATORS = ("\t", "\n", "\r")
# Normalizers that act on each character on its own (NFC/NFKC compose a character with the
# combining marks after it, never across whitespace), so a text normalizes chunk by chunk.
_CHUNKABLE_NORMALIZERS = (
    "BertNormalizer",
    "Lowercase",
    "NFC",
    "NFD",
    "NFKC",
    "NFKD",
    "StripAccents",
)
# Pre-tokenizers that split at whitespace and keep none of it in a pre-token.
_CHUNKABLE_PRE_TOKENIZERS = ("BertPreTokenizer", "Whitespace", "WhitespaceSplit")
# Models that tokenize each pre-token on its own, deterministically.
_CHUNKABLE_MODELS = ("WordPiece", "WordLevel")
# Post-processors that only add special tokens around the text (offsets untouched).
_CHUNKABLE_POST_PROCESSORS = ("TemplateProcessing", "BertProcessing")


def _chunkable_backend(tokenizer: Any, layout: _SpecialLayout) -> Any | None:
    """The tokenizers.Tokenizer behind `tokenizer` when a text tokenizes as the concatenation of
    its whitespace-separated chunks (then special tokens around it), else None.

    That holds when the normalizer is per character, the pre-tokenizer cuts at whitespace and
    the model works per pre-token; added tokens (matched in the raw text) must contain no
    whitespace and not absorb the whitespace beside them (lstrip / rstrip).
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or getattr(tokenizer, "truncation_side", "right") != "right":
        return None
    parts = (
        (backend.normalizer, _CHUNKABLE_NORMALIZERS, True),
        (backend.pre_tokenizer, _CHUNKABLE_PRE_TOKENIZERS, False),
        (backend.model, _CHUNKABLE_MODELS, False),
        (backend.post_processor, _CHUNKABLE_POST_PROCESSORS, True),
    )
    for part, allowed, optional in parts:
        if part is None and optional:
            continue
        if type(part).__name__ not in allowed:
            return None
    if not layout.bracketing:
        return None
    for token in backend.get_added_tokens_decoder().values():
        if token.lstrip or token.rstrip or any(c.isspace() for c in token.content):
            return None
    return backend


def _encode_chunks(
    tokenizer: Any, backend: Any, texts: Sequence[str], max_length: int, layout: _SpecialLayout
) -> _Tokens:
    """Tokenize each distinct whitespace-free chunk of the batch once, then lay the chunks' tokens
    out text by text (numpy over the flat batch), truncate and add the special tokens.

    Sentences made from a shared vocabulary repeat their chunks: 8,000 generated sentences hold
    about 93,000 chunks but 6,000 distinct ones. A word index counts the tokenizer's words from
    the start of the text: a chunk's words follow those of the chunks before it.
    """
    _configure(tokenizer, None)  # chunks are never truncated; the text is, below
    joined = _TEXT_SEPARATOR.join(texts)
    for separator in _CHUNK_SEPARATORS:
        joined = joined.replace(separator, " ")
    chunks = joined.split(" ")  # every text starts a chunk; empty chunks have no tokens
    chunk_lengths = np.fromiter(map(len, chunks), dtype=np.int64, count=len(chunks))
    chunk_at = np.cumsum(chunk_lengths + 1) - chunk_lengths - 1
    distinct = {chunk: i for i, chunk in enumerate(dict.fromkeys(chunks))}
    kind = np.fromiter(map(distinct.__getitem__, chunks), dtype=np.int64, count=len(chunks))

    encodings = backend.encode_batch(list(distinct), add_special_tokens=False)
    kind_count = np.fromiter(map(len, encodings), dtype=np.int64, count=len(encodings))
    kind_total = int(kind_count.sum())
    kind_first = np.cumsum(kind_count) - kind_count
    kind_ids = np.fromiter(
        chain.from_iterable(e.ids for e in encodings), dtype=np.int64, count=kind_total
    )
    kind_offsets = np.fromiter(
        chain.from_iterable(chain.from_iterable(e.offsets for e in encodings)),
        dtype=np.int64,
        count=2 * kind_total,
    ).reshape(-1, 2)
    kind_special = np.fromiter(
        chain.from_iterable(e.special_tokens_mask for e in encodings), dtype=bool, count=kind_total
    )
    kind_word = np.fromiter(
        (-1 if w is None else w for w in chain.from_iterable(e.word_ids for e in encodings)),
        dtype=np.int64,
        count=kind_total,
    )
    kind_words = np.zeros(len(encodings), dtype=np.int64)
    np.maximum.at(kind_words, np.repeat(np.arange(len(encodings)), kind_count), kind_word + 1)

    # Chunk occurrences -> their tokens, in batch order.
    count = kind_count[kind]
    total = int(count.sum())
    token_chunk = np.repeat(np.arange(len(chunks)), count)
    source = np.repeat(kind_first[kind] - (np.cumsum(count) - count), count) + np.arange(total)
    text_lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    text_base = np.concatenate(([0], np.cumsum(text_lengths + len(_TEXT_SEPARATOR))))[:-1]
    chunk_text = np.searchsorted(text_base, chunk_at, side="right") - 1
    # Word index of each chunk's first word within its text.
    chunk_words = kind_words[kind]
    before = np.cumsum(chunk_words) - chunk_words
    first_chunk = np.searchsorted(chunk_at, text_base)
    word_base = before - before[first_chunk][chunk_text]

    token_text = chunk_text[token_chunk]
    per_text = np.bincount(token_text, minlength=len(texts))
    position = np.arange(total) - (np.cumsum(per_text) - per_text)[token_text]
    keep = position < max_length - layout.count
    token_chunk, token_text, source, position = (
        token_chunk[keep],
        token_text[keep],
        source[keep],
        position[keep],
    )
    base = chunk_at[token_chunk] - text_base[token_text]

    kept = np.minimum(per_text, max_length - layout.count)
    opening = len(layout.opening)
    lengths = kept + layout.count
    out_first = np.cumsum(lengths) - lengths
    size = int(lengths.sum())
    ids = np.empty(size, dtype=np.int64)
    starts = np.zeros(size, dtype=np.int64)
    ends = np.zeros(size, dtype=np.int64)
    special = np.ones(size, dtype=bool)
    words = np.full(size, -1, dtype=np.int64)
    at = out_first[token_text] + opening + position
    ids[at] = kind_ids[source]
    starts[at] = kind_offsets[source, 0] + base
    ends[at] = kind_offsets[source, 1] + base
    special[at] = kind_special[source]
    words[at] = np.where(kind_word[source] < 0, -1, kind_word[source] + word_base[token_chunk])
    for k, token in enumerate(layout.opening):
        ids[out_first + k] = token
    for k, token in enumerate(layout.closing):
        ids[out_first + opening + kept + k] = token
    return _Tokens(ids=ids, starts=starts, ends=ends, special=special, words=words, lengths=lengths)


def _label_tokens(
    starts: np.ndarray,
    ends: np.ndarray,
    special: np.ndarray,
    entity_starts: np.ndarray,
    entity_ends: np.ndarray,
    entity_category: np.ndarray,
) -> np.ndarray:
    """Label ids for tokens [starts, ends) given sorted, disjoint entities, all on one axis."""
    labels = np.full(starts.shape, OUTSIDE_INDEX, dtype=np.int64)
    if len(entity_starts):
        # The first entity ending after the token starts is the only candidate for the earliest
        # overlap; it overlaps when it also starts before the token ends (or, for an empty
        # token, before the token's position).
        candidate = np.searchsorted(entity_ends, starts, side="right")
        in_range = candidate < len(entity_starts)
        candidate = np.minimum(candidate, len(entity_starts) - 1)
        overlaps = in_range & (entity_starts[candidate] < np.maximum(ends, starts + 1)) & ~special
        entity = np.where(overlaps, candidate, -1)
        previous = np.concatenate(([-1], entity[:-1]))
        first = overlaps & (entity != previous)
        category = entity_category[candidate]
        labels = np.where(
            overlaps,
            np.where(first, _BEGIN_BY_CATEGORY[category], _INSIDE_BY_CATEGORY[category]),
            labels,
        )
    return np.where(special, IGNORE_INDEX, labels)


def _ignore_unknown(
    labels: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    token_text: np.ndarray,
    text_base: np.ndarray,
    outside_per_text: Sequence[Sequence[Sequence[int]] | None],
) -> np.ndarray:
    """O tokens of partially labelled texts that overlap none of their outside ranges -> IGNORE_INDEX."""
    partial = np.array([o is not None for o in outside_per_text], dtype=bool)
    rows = [
        (int(a) + int(text_base[i]), int(b) + int(text_base[i]))
        for i, ranges in enumerate(outside_per_text)
        if ranges
        for a, b in ranges
    ]
    table = np.array(sorted(rows), dtype=np.int64).reshape(-1, 2)
    known = np.zeros(starts.shape, dtype=bool)
    if len(table):
        candidate = np.searchsorted(table[:, 1], starts, side="right")
        in_range = candidate < len(table)
        candidate = np.minimum(candidate, len(table) - 1)
        known = in_range & (table[candidate, 0] < np.maximum(ends, starts + 1))
    unknown = partial[token_text] & (labels == OUTSIDE_INDEX) & ~known
    return np.where(unknown, IGNORE_INDEX, labels)


def _flatten_entities(
    texts: Sequence[str],
    entities_per_text: Sequence[Sequence[Mapping[str, Any]]],
    text_lengths: np.ndarray,
    text_base: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entities as (start, end, category index) arrays on the batch axis, sorted and checked."""
    counts = [len(entities) for entities in entities_per_text]
    owner = np.repeat(np.arange(len(texts)), counts)
    try:
        rows = [
            (e["start"], e["end"], CATEGORY_INDEX[e["category"]])
            for entities in entities_per_text
            for e in entities
        ]
    except (KeyError, TypeError) as err:
        raise UserError(_describe_bad_entity(entities_per_text)) from err
    table = np.array(rows, dtype=np.int64).reshape(-1, 3)
    start, end, category = table[:, 0], table[:, 1], table[:, 2]
    bad = (start < 0) | (end <= start) | (end > text_lengths[owner])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        text_index = int(owner[i])
        raise UserError(
            f"text {text_index}: entity [{start[i]}, {end[i]}) does not fit inside the text "
            f"of {text_lengths[text_index]} characters: {texts[text_index]!r}"
        )
    start = start + text_base[owner]
    end = end + text_base[owner]
    order = np.argsort(start, kind="stable")
    start, end, category, owner = start[order], end[order], category[order], owner[order]
    overlap = end[:-1] > start[1:]
    if overlap.any():
        i = int(np.flatnonzero(overlap)[0])
        text_index = int(owner[i])
        base = int(text_base[text_index])
        raise UserError(
            f"text {text_index}: entities [{start[i] - base}, {end[i] - base}) and "
            f"[{start[i + 1] - base}, {end[i + 1] - base}) overlap: {texts[text_index]!r}"
        )
    return start, end, category


def _describe_bad_entity(entities_per_text: Sequence[Sequence[Mapping[str, Any]]]) -> str:
    """Name the first entity without integer start/end and a known category."""
    for text_index, entities in enumerate(entities_per_text):
        for entity in entities:
            if not isinstance(entity, Mapping) or not {"start", "end", "category"} <= entity.keys():
                return f"text {text_index}: entity {entity!r} needs start, end and category"
            if entity["category"] not in CATEGORY_INDEX:
                return (
                    f"text {text_index}: entity category {entity['category']!r} is not one of "
                    f"{', '.join(ENTITY_CATEGORIES)}"
                )
    return "entities must be mappings with integer start, end and a category"


def _trim_whitespace(
    texts: Sequence[str], starts: np.ndarray, ends: np.ndarray, special: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Shrink token ranges past leading/trailing whitespace; None when no token has any.

    Whitespace-only tokens keep their range (see the module docstring).
    """
    joined = _TEXT_SEPARATOR.join(texts) + _TEXT_SEPARATOR
    codepoints = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    real = ~special & (ends > starts)
    last = np.maximum(ends - 1, 0)
    # Most tokenizers put no whitespace in a token: look at the tokens' edges first.
    edge_space = np.isin(codepoints[starts], _WHITESPACE_CODEPOINTS) | np.isin(
        codepoints[last], _WHITESPACE_CODEPOINTS
    )
    if not (real & edge_space).any():
        return None
    is_space = np.isin(codepoints, _WHITESPACE_CODEPOINTS)
    # Prefix count of whitespace characters: a range is all-whitespace when the count spans it.
    spaces_before = np.concatenate(([0], np.cumsum(is_space)))
    all_space = real & (spaces_before[ends] - spaces_before[starts] == ends - starts)
    candidates = real & ~all_space
    starts, ends = starts.copy(), ends.copy()
    # Tokens rarely carry more than one whitespace character; loop per character, not per token.
    while True:
        lead = candidates & is_space[starts]
        trail = candidates & is_space[np.maximum(ends - 1, 0)]
        if not (lead.any() or trail.any()):
            break
        starts += lead
        ends -= trail
    return starts, ends


def _check_closing_specials(
    input_ids: list[list[int]],
    special_tokens_mask: list[list[int]],
    closing_ids: list[int],
    max_length: int,
) -> None:
    """Fail loudly when truncation cut the closing special tokens off any sequence."""
    if not closing_ids:
        return
    k = len(closing_ids)
    for i, (ids, mask) in enumerate(zip(input_ids, special_tokens_mask)):
        if ids[-k:] != closing_ids or not all(mask[-k:]):
            raise UserError(
                f"text {i}: after truncation to {max_length} tokens the sequence ends with "
                f"{ids[-k:]} instead of the tokenizer's closing special tokens {closing_ids}; "
                "use a fast tokenizer whose post-processor adds special tokens after truncating"
            )


def as_features(aligned: Mapping[str, list]) -> list[dict[str, list[int]]]:
    """Columns from `align_batch` -> one dict per example, the shape a Trainer dataset yields."""
    return [
        {INPUT_IDS: ids, ATTENTION_MASK: mask, "labels": labels}
        for ids, mask, labels in zip(aligned[INPUT_IDS], aligned[ATTENTION_MASK], aligned["labels"])
    ]


# --- Token tags -> entity spans (the engine's strict assembly) ----------------------------------


def tags_to_spans(
    tag_ids: Sequence[int],
    offsets: Sequence[Sequence[int]],
    special_mask: Sequence[bool] | None = None,
    probs: Any = None,
    continues_word: Sequence[bool] | None = None,
) -> list[dict[str, Any]]:
    """Assemble entity spans from one sequence's per-token label ids, as the engine does.

    The rules are the generated contract's `assemble_spans` (the Rust crate has the same
    function, checked against this one by golden tests): tags are snapped to whole words
    first (a token that continues a word takes the label of the word's first token, see
    `word_tags`; `continues_word[t]` is true when token t is in the same tokenizer word as
    token t - 1, and without it every token is a word of its own); then B-X opens a span; I-X
    extends an open span of category X; O, an I- of another category, or an I- with no open
    span closes it (orphan I- tokens are dropped); special tokens close spans. A span runs from
    its first token's start to its last token's end. Confidence is the mean of
    `probs[t][label]` over its tokens, `label` the word-snapped one (1.0 without probs).
    Without `special_mask`, tokens tagged IGNORE_INDEX or with an empty offset range (special
    and padding tokens) count as special.
    """
    if len(offsets) != len(tag_ids):
        raise ValueError(f"{len(tag_ids)} tags but {len(offsets)} offsets")
    if special_mask is not None and len(special_mask) != len(tag_ids):
        raise ValueError(f"{len(tag_ids)} tags but {len(special_mask)} special-mask entries")
    tags = [int(tag) for tag in tag_ids]
    special = [
        tag == IGNORE_INDEX
        or (
            bool(special_mask[t])
            if special_mask is not None
            else int(offsets[t][0]) == int(offsets[t][1])
        )
        for t, tag in enumerate(tags)
    ]
    # Special tokens carry no label that matters (IGNORE_INDEX included): read them as O.
    tags = [OUTSIDE_INDEX if special[t] else tag for t, tag in enumerate(tags)]
    if continues_word is None:
        continues_word = [False] * len(tags)
    elif len(continues_word) != len(tags):
        raise ValueError(f"{len(tags)} tags but {len(continues_word)} word flags")
    continues_word = [bool(flag) for flag in continues_word]
    spans = []
    snapped = word_tags(tags, special, continues_word)
    for first, end, category in assemble_spans(tags, special, continues_word):
        confidence = (
            float(np.mean([float(probs[t][snapped[t]]) for t in range(first, end)]))
            if probs is not None
            else 1.0
        )
        spans.append(
            {
                "start": int(offsets[first][0]),
                "end": int(offsets[end - 1][1]),
                "category": ENTITY_CATEGORIES[category],
                "confidence": confidence,
            }
        )
    return spans


def continues_word_flags(word_ids: Sequence[int | None]) -> list[bool]:
    """Per token: is it in the same tokenizer word as the token before it (`Encoding.word_ids`,
    None for special tokens)."""
    return [t > 0 and w is not None and w == word_ids[t - 1] for t, w in enumerate(word_ids)]


def logits_to_spans(
    logits: Any,
    offsets: Sequence[Sequence[int]],
    special_mask: Sequence[bool] | None = None,
    continues_word: Sequence[bool] | None = None,
) -> list[dict[str, Any]]:
    """Spans from [seq, NUM_BIO_LABELS] logits as the engine reads them: the contract's
    `decode_tags` (constrained Viterbi over words, not a per-token argmax), then `tags_to_spans`
    with softmax probabilities as confidences."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs = shifted / shifted.sum(axis=-1, keepdims=True)
    special = (
        [bool(flag) for flag in special_mask]
        if special_mask is not None
        else [int(a) == int(b) for a, b in offsets]
    )
    words = (
        [False] * len(logits) if continues_word is None else [bool(flag) for flag in continues_word]
    )
    tags = decode_tags(logits.tolist(), special, words)
    return tags_to_spans(tags, offsets, special, probs, words)


# --- Dynamic padding ------------------------------------------------------------------------------


class TokenClassificationCollator:
    """Pads a batch to its longest sequence: input_ids with the pad id, attention_mask with 0,
    labels with IGNORE_INDEX. Other keys (offsets) are dropped. Returns int64 torch tensors.

    transformers.DataCollatorForTokenClassification does the same padding but pushes every
    feature key through `tokenizer.pad`, which fails on the ragged `offsets` column; this
    one keeps to the three model columns and needs only the pad id.
    """

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int | None = None):
        self.pad_token_id = int(pad_token_id)
        self.pad_to_multiple_of = pad_to_multiple_of

    @classmethod
    def for_tokenizer(cls, tokenizer: Any, pad_to_multiple_of: int | None = None):
        if tokenizer.pad_token_id is None:
            raise UserError("the tokenizer has no pad token, so batches cannot be padded")
        return cls(tokenizer.pad_token_id, pad_to_multiple_of)

    def __call__(self, features: Sequence[Mapping[str, Sequence[int]]]) -> dict[str, Any]:
        import torch  # imported here: generating data needs no torch, only training does

        width = max(len(f[INPUT_IDS]) for f in features)
        if self.pad_to_multiple_of:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        fill = {INPUT_IDS: self.pad_token_id, ATTENTION_MASK: 0, "labels": IGNORE_INDEX}
        batch = {}
        for key, value in fill.items():
            if key not in features[0]:
                continue
            table = np.full((len(features), width), value, dtype=np.int64)
            for row, feature in enumerate(features):
                table[row, : len(feature[key])] = feature[key]
            batch[key] = torch.from_numpy(table)
        return batch
