"""Character-offset entities <-> per-token BIO labels, for any Hugging Face fast tokenizer.

`align_batch` tokenizes a whole batch in one call and labels every token with numpy over the
flattened batch (one `searchsorted`, no per-token Python loop). `tags_to_spans` is the inverse,
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
_WHITESPACE_CODEPOINTS = np.array(
    [c for c in range(0x3001) if chr(c).isspace()], dtype=np.uint32
)
# Separates texts in the batch-wide character axis, so no range crosses from one text to the next.
_TEXT_SEPARATOR = "\n"


# --- Entities -> token labels ------------------------------------------------------------------


def align_batch(
    tokenizer: Any,
    texts: Sequence[str],
    entities_per_text: Sequence[Sequence[Mapping[str, Any]]],
    max_length: int = MAX_SEQ_LENGTH,
    outside_per_text: Sequence[Sequence[Sequence[int]] | None] | None = None,
) -> dict[str, list]:
    """Tokenize `texts` in one call and label each token B-X / I-X / O / IGNORE_INDEX.

    `entities_per_text[i]` lists text i's entities as mappings with character offsets `start`,
    `end` (exclusive) and a `category` from ENTITY_CATEGORIES; they must not overlap.
    `outside_per_text[i]`, when given and not None, makes text i partially labelled (a silver
    record): only tokens overlapping one of its sorted, disjoint (start, end) character ranges
    are O, and tokens in neither an entity nor such a range get IGNORE_INDEX. Returns lists of
    lists, unpadded: input_ids, attention_mask, labels, offsets ((start, end) character pairs,
    whitespace-trimmed; (0, 0) for special tokens) and word_ids (the tokenizer's word of each
    token, None for special tokens; None for the whole column when the tokenizer does not say).
    """
    if len(texts) != len(entities_per_text):
        raise UserError(
            f"align_batch: {len(texts)} texts but {len(entities_per_text)} entity lists"
        )
    special_count, closing_ids = _special_layout(tokenizer)
    if max_length < special_count + 1:
        raise UserError(
            f"align_batch: max_length {max_length} leaves no room for text besides the "
            f"tokenizer's {special_count} special tokens"
        )
    input_ids, attention_mask, offsets, special_tokens_mask, word_ids = _encode(tokenizer, texts, max_length)
    lengths = np.fromiter(map(len, input_ids), dtype=np.int64, count=len(input_ids))
    bounds = np.concatenate(([0], np.cumsum(lengths)))
    special = np.fromiter(
        chain.from_iterable(special_tokens_mask), dtype=bool, count=int(bounds[-1])
    )
    _check_closing_specials(input_ids, special_tokens_mask, closing_ids, max_length)

    # One character axis for the whole batch: text i starts at text_base[i].
    text_lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    text_base = np.concatenate(([0], np.cumsum(text_lengths + len(_TEXT_SEPARATOR))))[:-1]
    token_text = np.repeat(np.arange(len(texts)), lengths)
    local = np.fromiter(
        chain.from_iterable(chain.from_iterable(offsets)), dtype=np.int64, count=2 * int(bounds[-1])
    ).reshape(-1, 2)
    starts = local[:, 0] + text_base[token_text]
    ends = local[:, 1] + text_base[token_text]
    trimmed = _trim_whitespace(texts, starts, ends, special)
    if trimmed is not None:
        starts, ends, changed = trimmed
        offsets = _replace_offsets(offsets, bounds, starts, ends, text_base, token_text, changed)

    entity_starts, entity_ends, entity_category = _flatten_entities(
        texts, entities_per_text, text_lengths, text_base
    )
    labels = _label_tokens(starts, ends, special, entity_starts, entity_ends, entity_category)
    if outside_per_text is not None and any(o is not None for o in outside_per_text):
        labels = _ignore_unknown(labels, starts, ends, token_text, text_base, outside_per_text)
    flat = labels.tolist()
    cuts = bounds.tolist()
    return {
        INPUT_IDS: input_ids,
        ATTENTION_MASK: attention_mask,
        "labels": [flat[a:b] for a, b in pairwise(cuts)],
        "offsets": offsets,
        "word_ids": word_ids,
    }


def _encode(tokenizer: Any, texts: Sequence[str], max_length: int) -> tuple[list, list, list, list, list | None]:
    """ids, attention mask, offsets, special-token mask, word ids: one batched call, truncated,
    unpadded.

    A transformers fast tokenizer is configured through its own `set_truncation_and_padding`
    (what its `__call__` does first) and then its Rust backend encodes the whole batch; reading
    the four columns straight off the encodings skips the per-example dict building in
    `__call__`, about a third of the tokenization time on short sentences. Anything else that is
    called like a tokenizer goes through `__call__`.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    configure = getattr(tokenizer, "set_truncation_and_padding", None)
    if backend is not None and configure is not None:
        from transformers.tokenization_utils_base import PaddingStrategy, TruncationStrategy

        configure(
            padding_strategy=PaddingStrategy.DO_NOT_PAD,
            truncation_strategy=TruncationStrategy.LONGEST_FIRST,
            max_length=max_length,
            stride=0,
            pad_to_multiple_of=None,
            padding_side=None,
        )
        encodings = backend.encode_batch(list(texts), add_special_tokens=True)
        return (
            [e.ids for e in encodings],
            [e.attention_mask for e in encodings],
            [e.offsets for e in encodings],
            [e.special_tokens_mask for e in encodings],
            [e.word_ids for e in encodings],
        )
    encoded = tokenizer(
        list(texts),
        truncation=True,
        max_length=max_length,
        padding=False,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
        return_attention_mask=True,
    )
    return (
        encoded[INPUT_IDS],
        encoded[ATTENTION_MASK],
        encoded["offset_mapping"],
        encoded["special_tokens_mask"],
        encoded.get("word_ids"),
    )


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


def _ignore_unknown(labels: np.ndarray, starts: np.ndarray, ends: np.ndarray, token_text: np.ndarray,
                    text_base: np.ndarray, outside_per_text: Sequence[Sequence[Sequence[int]] | None]
                    ) -> np.ndarray:
    """O tokens of partially labelled texts that overlap none of their outside ranges -> IGNORE_INDEX."""
    partial = np.array([o is not None for o in outside_per_text], dtype=bool)
    rows = [(int(a) + int(text_base[i]), int(b) + int(text_base[i]))
            for i, ranges in enumerate(outside_per_text) if ranges for a, b in ranges]
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
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Shrink token ranges past leading/trailing whitespace; None when no token has any.

    Whitespace-only tokens keep their range (see the module docstring).
    """
    joined = _TEXT_SEPARATOR.join(texts) + _TEXT_SEPARATOR
    codepoints = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    is_space = np.isin(codepoints, _WHITESPACE_CODEPOINTS)
    # Prefix count of whitespace characters: a range is all-whitespace when the count spans it.
    spaces_before = np.concatenate(([0], np.cumsum(is_space)))
    real = ~special & (ends > starts)
    all_space = real & (spaces_before[ends] - spaces_before[starts] == ends - starts)
    candidates = real & ~all_space
    last = np.maximum(ends - 1, 0)
    needs = candidates & (is_space[starts] | is_space[last])
    if not needs.any():
        return None
    starts, ends = starts.copy(), ends.copy()
    # Tokens rarely carry more than one whitespace character; loop per character, not per token.
    while True:
        lead = candidates & is_space[starts]
        trail = candidates & is_space[np.maximum(ends - 1, 0)]
        if not (lead.any() or trail.any()):
            break
        starts += lead
        ends -= trail
    return starts, ends, needs


def _replace_offsets(
    offsets: list[list[tuple[int, int]]],
    bounds: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    text_base: np.ndarray,
    token_text: np.ndarray,
    changed: np.ndarray,
) -> list[list[tuple[int, int]]]:
    """Copy `offsets` with the trimmed ranges of the changed tokens (others untouched)."""
    offsets = [list(row) for row in offsets]
    for flat in np.flatnonzero(changed).tolist():
        text_index = int(token_text[flat])
        base = int(text_base[text_index])
        offsets[text_index][flat - int(bounds[text_index])] = (
            int(starts[flat]) - base,
            int(ends[flat]) - base,
        )
    return offsets


def _special_layout(tokenizer: Any) -> tuple[int, list[int]]:
    """How many special tokens the tokenizer adds, and the ids of those after the text.

    Read from a one-word probe, so it holds for any post-processor ([CLS] x [SEP], <s> x </s>,
    none at all).
    """
    probe = tokenizer(["a"], return_special_tokens_mask=True, truncation=False, padding=False)
    ids, mask = probe[INPUT_IDS][0], probe["special_tokens_mask"][0]
    closing: list[int] = []
    for token, flag in zip(reversed(ids), reversed(mask)):
        if not flag:
            break
        closing.append(token)
    return sum(mask), closing[::-1]


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
        for ids, mask, labels in zip(
            aligned[INPUT_IDS], aligned[ATTENTION_MASK], aligned["labels"]
        )
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
    special = [tag == IGNORE_INDEX or (bool(special_mask[t]) if special_mask is not None
                                       else int(offsets[t][0]) == int(offsets[t][1]))
               for t, tag in enumerate(tags)]
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
        confidence = (float(np.mean([float(probs[t][snapped[t]]) for t in range(first, end)]))
                      if probs is not None else 1.0)
        spans.append({"start": int(offsets[first][0]), "end": int(offsets[end - 1][1]),
                      "category": ENTITY_CATEGORIES[category], "confidence": confidence})
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
    special = ([bool(flag) for flag in special_mask] if special_mask is not None
               else [int(a) == int(b) for a, b in offsets])
    words = [False] * len(logits) if continues_word is None else [bool(flag) for flag in continues_word]
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

