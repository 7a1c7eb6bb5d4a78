"""One round of self-training: a trained NER tagger relabels the silver corpus for its student.

The teacher (trained on template data plus the rule-labelled corpus) reads each corpus sentence;
what it is sure of becomes the student's labels: its spans whose mean confidence reaches the
threshold, and the tokens it tags O with at least that probability (as `outside` ranges).
Everything else in the sentence trains at the ignore index, as rule-silver tokens do. Spans are
decoded as the engine decodes them (the contract's `decode_tags`), offsets are exact.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from storyml_contract.text import BIO_LABEL_INDEX, MAX_SEQ_LENGTH, OUTSIDE_LABEL

from storyml.data.bio import ATTENTION_MASK, INPUT_IDS, continues_word_flags, logits_to_spans
from storyml.data.events import make_entity
from storyml.data.records import TextRecord

STUDENT_ROLE = "Subject"  # the NER tagger never reads roles; a relabelled span keeps its rule role if it had one


def relabel(
    model: Any,
    tokenizer: Any,
    records: Sequence[TextRecord],
    min_confidence: float,
    batch_size: int = 32,
) -> list[TextRecord]:
    """Silver records relabelled by `model` (a token-classification model) in order: the teacher's
    confident spans as entities, its confident O tokens as `outside`; records it is sure of
    nothing in are left out."""
    import torch

    out: list[TextRecord] = []
    outside_index = BIO_LABEL_INDEX[OUTSIDE_LABEL]
    model.eval()
    for start in range(0, len(records), batch_size):
        batch = records[start : start + batch_size]
        enc = tokenizer(
            [r["text"] for r in batch],
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
            truncation=True,
            max_length=MAX_SEQ_LENGTH,
            padding=True,
            return_tensors="pt",
        )
        with torch.no_grad():
            logits = (
                model(**{INPUT_IDS: enc[INPUT_IDS], ATTENTION_MASK: enc[ATTENTION_MASK]})
                .logits.double()
                .numpy()
            )
        for row, record in enumerate(batch):
            n = int(enc[ATTENTION_MASK][row].sum())
            offsets = enc["offset_mapping"][row][:n].tolist()
            special = [bool(s) for s in enc["special_tokens_mask"][row][:n].tolist()]
            words = continues_word_flags(enc.word_ids(row)[:n])
            relabelled = _student_record(
                record, logits[row][:n], offsets, special, words, min_confidence, outside_index
            )
            if relabelled is not None:
                out.append(relabelled)
    return out


def _student_record(
    record: TextRecord,
    logits: np.ndarray,
    offsets: list[list[int]],
    special: list[bool],
    words: list[bool],
    min_confidence: float,
    outside_index: int,
) -> TextRecord | None:
    text = record["text"]
    spans = [
        s
        for s in logits_to_spans(logits, offsets, special, words)
        if s["confidence"] >= min_confidence
    ]
    rule_roles = {(e["start"], e["end"]): e["role"] for e in record["entities"]}
    entities = [
        make_entity(
            text,
            s["start"],
            s["end"],
            s["category"],
            rule_roles.get((s["start"], s["end"]), STUDENT_ROLE),
        )
        for s in spans
    ]
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    p_outside = shifted[:, outside_index] / shifted.sum(axis=-1)
    taken = [(e["start"], e["end"]) for e in entities]
    outside: list[list[int]] = []
    for t, (a, b) in enumerate(offsets):
        if special[t] or a == b or p_outside[t] < min_confidence:
            continue
        if any(a < end and start < b for start, end in taken):
            continue
        if outside and outside[-1][1] >= a - 1 and not _has_text(text, outside[-1][1], a):
            outside[-1][1] = b  # join neighbours separated by nothing but spaces
        else:
            outside.append([a, b])
    if not entities and not outside:
        return None
    return {**record, "entities": entities, "outside": outside}


def _has_text(text: str, start: int, end: int) -> bool:
    return bool(text[start:end].strip())
