"""`storyml predict`: run the exported ONNX models on text, the way the engine does.

Only what the engine ships is used: the `.onnx` files and `tokenizer.json` (read with
`tokenizers.Tokenizer.from_file`, no transformers, no training config). Decoding follows the
generated contract:
- event kinds: the contract's `decode_event_kinds` (every kind with sigmoid(logit) >
  EVENT_THRESHOLD; with EVENT_AT_LEAST_ONE, the most likely kind when none passes); a kind's
  confidence is its sigmoid;
- entities: the NER logits decoded whole by the contract's `decode_tags` (constrained Viterbi
  over words: an I-X only after B-X or I-X), spans assembled by the contract's strict rules
  (the engine's), span confidence the mean softmax probability of its tokens; offsets are
  character offsets into the input text.

- spans snap to whole words: the first sub-word's tag labels the word (the contract's
  `word_tags`, with the tokenizer's word_ids), so a span never starts or ends inside a word.

Nothing is cut off. A text that fits in MAX_SEQ_LENGTH tokens (special tokens included) is run
as it is; a longer one is run in overlapping windows of at most MAX_SEQ_LENGTH tokens, each
starting and ending on a word boundary (unless one word is longer than a window) and sharing
WINDOW_OVERLAP tokens with the next. Entities are merged over windows: each is taken from the
window where it lies furthest from a window edge (the text's own start and end are not edges),
and an entity that overlaps one already taken is dropped, so duplicates from the shared parts
collapse. Event kinds use the largest logit of each kind over the windows (for multi-label
kinds: the union of the windows' kinds). Every result says in `windows` how many windows were
run. Windows are batched, each batch padded to its own longest sequence. Empty or
whitespace-only text is not run through the models: there is nothing to classify, so it gets
no kinds, no entities and 0 windows.

Each model must say in its metadata that it is the model it is loaded as (model kind and the
contract's labels key), so swapped files are refused by name.

`Predictor` is the Python API; `storyml evaluate` uses it, so the figures it reports are those
of exactly this decoding path.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left, insort
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from storyml_contract import (
    ARTIFACT_FILES,
    CHARACTER_MODEL,
    EVENT_MODEL,
    INT8_ARTIFACT_FILES,
    NER_MODEL,
    ONNX_INPUTS,
    ONNX_OUTPUTS,
    TOKENIZER_FILE,
    TOTAL_OUTPUT_FEATURES,
)
from storyml_contract.text import (
    BIO_LABELS,
    EVENT_KIND_INDEX,
    EVENT_KIND_LABELS,
    IGNORE_INDEX,
    MAX_SEQ_LENGTH,
    NUM_BIO_LABELS,
    NUM_EVENT_KINDS,
    decode_tags,
    word_tags,
)

from storyml.data.bio import (
    ATTENTION_MASK,
    INPUT_IDS,
    align_batch,
    continues_word_flags,
    logits_to_spans,
)
from storyml.data.decode import event_decisions
from storyml.errors import UserError

DEFAULT_ARTIFACTS = Path("artifacts")
LATEST_FILE = "LATEST"  # in DEFAULT_ARTIFACTS: the path of the last build's artifacts
TEXT_MODELS = (EVENT_MODEL, NER_MODEL)
DEFAULT_BATCH_SIZE = 32
CHARACTER_BATCH_SIZE = 1024  # feature rows per call: the MLP is small, larger batches are cheap
CONFIDENCE_DIGITS = 6  # rounding of confidences in results; decisions use the unrounded values
# Tokens shared by consecutive windows of a long text: an entity cut by one window's edge lies
# whole inside the next (up to this many tokens).
WINDOW_OVERLAP = MAX_SEQ_LENGTH // 4
# What each text model's `logits` must be: its labels (metadata) and the width of its last axis.
TEXT_MODEL_LABELS: dict[str, tuple[str, ...]] = {
    EVENT_MODEL: EVENT_KIND_LABELS,
    NER_MODEL: BIO_LABELS,
}
TEXT_MODEL_WIDTH = {EVENT_MODEL: NUM_EVENT_KINDS, NER_MODEL: NUM_BIO_LABELS}
# Pad ids to try, in order, when tokenizer.json configures no padding.
PAD_TOKENS = ("[PAD]", "<pad>")


# --- Locating artifacts ----------------------------------------------------------------------


def resolve_artifacts_dir(path: str | Path | None = None) -> Path:
    """The artifacts directory to use: `path` if given, else the last build's.

    The last build's is the path written in `artifacts/LATEST` (relative to `artifacts/` or to
    the working directory, or absolute), or `artifacts/` itself when there is no LATEST.
    """
    if path is not None:
        chosen = Path(path)
    else:
        latest = DEFAULT_ARTIFACTS / LATEST_FILE
        chosen = DEFAULT_ARTIFACTS
        if latest.is_file():
            target = latest.read_text(encoding="utf-8").strip()
            candidates = [DEFAULT_ARTIFACTS / target, Path(target)]
            chosen = next((c for c in candidates if c.is_dir()), candidates[0])
            if not chosen.is_dir():
                raise UserError(
                    f"{latest} names {target!r}, which is not a directory; "
                    "run `storyml build` to make the artifacts"
                )
    if not chosen.is_dir():
        raise UserError(f"{chosen}: no artifacts directory; run `storyml build` to make the models")
    return chosen


def model_file(artifacts_dir: Path, model: str, int8: bool = False) -> Path:
    """Path of a model's .onnx file (its INT8 twin, INT8_ARTIFACT_FILES, when `int8`)."""
    return artifacts_dir / (INT8_ARTIFACT_FILES if int8 else ARTIFACT_FILES)[model]


def _require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise UserError(f"{path}: {what} is missing; run `storyml build` to make the artifacts")
    return path


def open_session(path: Path, model: str) -> Any:
    """An onnxruntime session for `path`, refused unless it carries the current contract's
    fingerprint, says in its metadata that it is `model` (model kind, and for the text models
    the contract's labels of its output), and binds the contract's input and output names."""
    import onnxruntime as ort

    from storyml.export.metadata import KEY_LABELS, KEY_MODEL_KIND, verify_fingerprint

    options = ort.SessionOptions()
    options.log_severity_level = 3  # warnings about unused initializers are not the user's concern
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for a damaged file
        raise UserError(f"{path}: onnxruntime cannot load the model ({exc})") from None
    meta = verify_fingerprint(session, name=str(path))
    fix = "the artifacts directory is mixed up; rebuild it with `storyml build`"
    if meta.model_kind and meta.model_kind != model:
        raise UserError(
            f"{path}: this file holds the {meta.model_kind} model (metadata {KEY_MODEL_KIND!r}), "
            f"not the {model}; {fix}"
        )
    if model in TEXT_MODEL_LABELS:
        output = ONNX_OUTPUTS[model][0]
        labels = meta.labels.get(output) if isinstance(meta.labels, dict) else None
        if labels is not None and tuple(labels) != TEXT_MODEL_LABELS[model]:
            raise UserError(
                f"{path}: the {model} must label its {output!r} with the contract's "
                f"{len(TEXT_MODEL_LABELS[model])} labels, but its metadata {KEY_LABELS!r} lists "
                f"{len(labels)} others ({', '.join(map(str, labels[:3]))}, ...); {fix}"
            )
    inputs = tuple(i.name for i in session.get_inputs())
    outputs = tuple(o.name for o in session.get_outputs())
    if set(inputs) != set(ONNX_INPUTS[model]) or set(outputs) != set(ONNX_OUTPUTS[model]):
        raise UserError(
            f"{path}: the model has inputs {list(inputs)} and outputs {list(outputs)}, but the "
            f"contract says {list(ONNX_INPUTS[model])} -> {list(ONNX_OUTPUTS[model])}"
        )
    return session


# --- Tokenization ----------------------------------------------------------------------------


class EngineTokenizer:
    """`tokenizers.Tokenizer` loaded from tokenizer.json, called like a transformers fast
    tokenizer so `storyml.data.bio.align_batch` (the training-time alignment) can drive it.

    Padding configured in the file is switched off (batches are padded here, to their longest
    sequence) and truncation set to the requested length; the post-processor adds the special
    tokens after truncating, so [SEP] survives.
    """

    def __init__(self, path: Path):
        from tokenizers import Tokenizer

        try:
            self.backend = Tokenizer.from_file(str(path))
        except Exception as exc:  # noqa: BLE001 - tokenizers raises a bare Exception for a bad file
            raise UserError(f"{path}: not a readable tokenizers file ({exc})") from None
        self.backend.no_padding()
        self.pad_token_id = self._pad_id()
        probe = self.backend.encode("a", add_special_tokens=True)
        self.special_count = sum(probe.special_tokens_mask)  # [CLS] and [SEP] for BERT

    def plain(self, texts: Sequence[str]) -> list[Any]:
        """`tokenizers.Encoding`s of whole texts: no special tokens, no truncation."""
        self.backend.no_truncation()
        return self.backend.encode_batch(list(texts), add_special_tokens=False)

    def _pad_id(self) -> int:
        padding = self.backend.padding
        if padding is not None:
            return int(padding["pad_id"])
        ids = (self.backend.token_to_id(token) for token in PAD_TOKENS)
        return next((i for i in ids if i is not None), 0)

    def __call__(
        self,
        texts: Sequence[str],
        truncation: bool = True,
        max_length: int = MAX_SEQ_LENGTH,
        padding: bool = False,
        return_offsets_mapping: bool = True,
        return_special_tokens_mask: bool = True,
        return_attention_mask: bool = True,
    ) -> dict[str, list]:
        if padding:
            raise ValueError("EngineTokenizer never pads; batches are padded by the caller")
        if truncation:
            self.backend.enable_truncation(max_length)
        else:
            self.backend.no_truncation()
        encodings = self.backend.encode_batch(list(texts), add_special_tokens=True)
        return {
            INPUT_IDS: [e.ids for e in encodings],
            ATTENTION_MASK: [e.attention_mask for e in encodings],
            "offset_mapping": [e.offsets for e in encodings],
            "special_tokens_mask": [e.special_tokens_mask for e in encodings],
            "word_ids": [e.word_ids for e in encodings],
        }


def text_feeds(model: str, ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """The ONNX feeds of a text model: token ids and attention mask, under its contract input names
    (ONNX_INPUTS lists them in the order the model takes them)."""
    ids_name, mask_name = ONNX_INPUTS[model]
    return {ids_name: ids, mask_name: mask}


def pad_batch(sequences: Sequence[Sequence[int]], value: int) -> np.ndarray:
    """[batch, longest] int64, right-padded with `value`."""
    width = max(len(s) for s in sequences)
    table = np.full((len(sequences), width), value, dtype=np.int64)
    for row, seq in enumerate(sequences):
        table[row, : len(seq)] = seq
    return table


# --- Prediction ------------------------------------------------------------------------------


@dataclass
class TextAnalysis:
    """Everything the models said about one text: the result plus the token-level view that
    strict (seqeval) scoring needs. Token lists cover the non-special tokens only (for a text
    run in windows: each token once, from the window where it lies furthest from an edge) and
    the tags are the word-snapped ones the spans are assembled from."""

    text: str
    event_logits: np.ndarray | None  # [NUM_EVENT_KINDS], max over windows; None for empty text
    token_tags: list[str] = field(default_factory=list)  # decoded BIO label per token, word-snapped
    token_offsets: list[tuple[int, int]] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)


@dataclass
class _WindowOutput:
    """What the models said about one window; offsets are into the whole text."""

    base: int  # character offset of the window in the text
    event_logits: np.ndarray
    ner_logits: np.ndarray  # [tokens, NUM_BIO_LABELS]
    offsets: list[tuple[int, int]]
    special: list[bool]
    continues_word: list[bool]


def plan_windows(
    word_ids: Sequence[int | None], budget: int, overlap: int = WINDOW_OVERLAP
) -> list[tuple[int, int]]:
    """Token ranges [start, end) of the windows covering a text of `len(word_ids)` tokens.

    One window when the text fits in `budget` tokens. Otherwise each window holds at most
    `budget` tokens, ends on a word boundary (cut inside a word only when the window holds a
    single word) and the next starts on the first word boundary at least `overlap` tokens before
    its end, always after its start, so windows overlap and every token is in at least one
    (where words are too long for that, the next window starts where the last one ended: every
    window ends later than the one before).
    """
    n = len(word_ids)
    if budget < 1:
        raise ValueError(f"window budget must be at least 1 token, got {budget}")
    if n <= budget:
        return [(0, n)]
    starts = [
        t for t in range(n) if t == 0 or word_ids[t] is None or word_ids[t] != word_ids[t - 1]
    ]
    windows = []
    s = 0
    while True:
        limit = s + budget
        if limit >= n:
            windows.append((s, n))
            return windows
        i = bisect_left(starts, limit + 1) - 1  # the last word start <= limit
        e = starts[i] if starts[i] > s else limit
        if windows and e <= windows[-1][1]:
            # The overlap left no room for another whole word: start where the last window ended.
            s = windows[-1][1]
            continue
        windows.append((s, e))
        j = bisect_left(starts, max(e - overlap, s + 1))  # the first word start in the overlap
        s = starts[j] if j < len(starts) and starts[j] <= e else max(e - overlap, s + 1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# What _chunks slices: a list of texts or pieces, or the rows of an array.
_Rows = TypeVar("_Rows", Sequence[Any], np.ndarray)


def _chunks(items: _Rows, size: int) -> Iterator[tuple[int, _Rows]]:
    for start in range(0, len(items), size):
        yield start, items[start : start + size]


def event_kinds_from_logits(
    logits: Any, labels: Sequence[str] = EVENT_KIND_LABELS
) -> list[list[str]]:
    """Decode [n, kinds] logits as the contract says (`decode_event_kinds`): the kinds above
    EVENT_THRESHOLD, or the most likely one where the contract asks for at least one."""
    return [[labels[int(j)] for j in np.flatnonzero(row)] for row in event_decisions(logits)]


def event_kinds_result(logits: np.ndarray) -> list[dict[str, Any]]:
    """Predicted kinds, in contract order, with their sigmoid confidence."""
    probabilities = _sigmoid(np.asarray(logits, dtype=np.float64))
    chosen = event_kinds_from_logits(np.asarray(logits)[None, :])[0]
    return [
        {
            "label": label,
            "confidence": round(float(probabilities[EVENT_KIND_INDEX[label]]), CONFIDENCE_DIGITS),
        }
        for label in chosen
    ]


def empty_result(text: str) -> dict[str, Any]:
    return {"text": text, "event_kinds": [], "entities": [], "windows": 0}


class Predictor:
    """The exported text models (and, on demand, the character predictor) of one artifacts dir.

    `Predictor(dir).predict(["I pick up the key."])` ->
    `[{"text", "event_kinds": [{"label", "confidence"}], "entities": [{"start", "end", "text",
    "category", "confidence"}], "windows"}]`, character offsets. `int8=True` runs the
    `<name>.int8.onnx` twins. Every model's contract fingerprint and kind are checked before it
    is run.
    """

    def __init__(
        self, artifacts_dir: str | Path, *, int8: bool = False, batch_size: int = DEFAULT_BATCH_SIZE
    ):
        if batch_size < 1:
            raise UserError(f"batch size must be at least 1, got {batch_size}")
        self.artifacts_dir = Path(artifacts_dir)
        if not self.artifacts_dir.is_dir():
            raise UserError(
                f"{self.artifacts_dir}: no artifacts directory; run `storyml build` to make the models"
            )
        self.int8 = int8
        self.batch_size = batch_size
        self.tokenizer = EngineTokenizer(
            _require_file(self.artifacts_dir / TOKENIZER_FILE, "the tokenizer")
        )
        self.window_tokens = MAX_SEQ_LENGTH - self.tokenizer.special_count  # text tokens per window
        self.sessions = {
            model: open_session(
                _require_file(model_file(self.artifacts_dir, model, int8), f"the {model} model"),
                model,
            )
            for model in TEXT_MODELS
        }
        self._character_session: Any = None

    # Text models -------------------------------------------------------------------------

    def predict(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """One result per text, in order (see the class docstring for the shape)."""
        return [analysis.result for analysis in self.analyze(texts)]

    def analyze(self, texts: Sequence[str]) -> list[TextAnalysis]:
        """Results plus per-token tags, one per text, in order."""
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise UserError(f"input {i}: text must be a string, got {type(text).__name__}")
        analyses = [TextAnalysis(text, None, result=empty_result(text)) for text in texts]
        runnable = [i for i, text in enumerate(texts) if text.strip()]
        for _, chunk in _chunks(runnable, self.batch_size):
            for i, analysis in zip(chunk, self._analyze_texts([texts[i] for i in chunk])):
                analyses[i] = analysis
        return analyses

    def windows(self, text: str) -> list[tuple[int, int]]:
        """Character ranges [start, end) of the windows `text` is run in (one: the whole text)."""
        return self._plan([text])[0][0]

    def _plan(self, texts: list[str]) -> list[tuple[list[tuple[int, int]], list[float]]]:
        """Per text: the character ranges of its windows and the character offsets where each
        window's share of the tokens ends (a token belongs to the window where it is furthest
        from an edge: the cut lies in the middle of the overlap)."""
        plans = []
        for text, encoding in zip(texts, self.tokenizer.plain(texts)):
            ranges = plan_windows(encoding.word_ids, self.window_tokens)
            if len(ranges) == 1:
                plans.append(([(0, len(text))], [math.inf]))
                continue
            offsets = encoding.offsets
            chars = [(offsets[s][0], offsets[e - 1][1]) for s, e in ranges]
            cuts = [
                offsets[(ranges[w + 1][0] + ranges[w][1]) // 2][0] for w in range(len(ranges) - 1)
            ]
            plans.append((chars, [*cuts, math.inf]))
        return plans

    def _analyze_texts(self, texts: list[str]) -> list[TextAnalysis]:
        plans = self._plan(texts)
        pieces = [(i, a, b) for i, (chars, _) in enumerate(plans) for a, b in chars]
        outputs: list[_WindowOutput] = []
        for _, chunk in _chunks(pieces, self.batch_size):
            outputs.extend(self._run_windows([(texts[i][a:b], a) for i, a, b in chunk]))
        analyses, k = [], 0
        for text, (chars, cuts) in zip(texts, plans):
            analyses.append(self._merge(text, outputs[k : k + len(chars)], cuts))
            k += len(chars)
        return analyses

    def _run_windows(self, pieces: list[tuple[str, int]]) -> list[_WindowOutput]:
        texts = [piece for piece, _ in pieces]
        aligned = align_batch(self.tokenizer, texts, [[] for _ in texts], MAX_SEQ_LENGTH)
        ids = pad_batch(aligned.input_ids, self.tokenizer.pad_token_id)
        mask = pad_batch(aligned.attention_mask, 0)
        event_logits = self._run(EVENT_MODEL, text_feeds(EVENT_MODEL, ids, mask))
        ner_logits = self._run(NER_MODEL, text_feeds(NER_MODEL, ids, mask))
        outputs = []
        for row, (_, base) in enumerate(pieces):
            length = len(aligned.input_ids[row])
            # With no entities given, align_batch labels exactly the special tokens IGNORE_INDEX.
            special = [label == IGNORE_INDEX for label in aligned.labels[row]]
            offsets = [
                (0, 0) if s else (a + base, b + base)
                for (a, b), s in zip(aligned.offsets[row], special)
            ]
            word_ids = aligned.word_ids[row] if aligned.word_ids is not None else [None] * length
            outputs.append(
                _WindowOutput(
                    base,
                    event_logits[row],
                    ner_logits[row, :length],
                    offsets,
                    special,
                    continues_word_flags(word_ids),
                )
            )
        return outputs

    def _merge(self, text: str, windows: list[_WindowOutput], cuts: list[float]) -> TextAnalysis:
        """One text's result from its windows (see the module docstring for the rules)."""
        candidates = []  # (distance from a window edge, window, span)
        token_tags: list[str] = []
        token_offsets: list[tuple[int, int]] = []
        owned_from: float = 0
        for w, out in enumerate(windows):
            spans = logits_to_spans(out.ner_logits, out.offsets, out.special, out.continues_word)
            tags = word_tags(
                decode_tags(out.ner_logits.tolist(), out.special, out.continues_word),
                out.special,
                out.continues_word,
            )
            starts = [o[0] for o, s in zip(out.offsets, out.special) if not s]
            for span in spans:
                first = bisect_left(starts, span["start"])
                end = bisect_left(starts, span["end"])
                left = first if w > 0 else math.inf
                right = len(starts) - end if w < len(windows) - 1 else math.inf
                candidates.append((min(left, right), w, span))
            for tag, offset, special in zip(tags, out.offsets, out.special):
                if not special and owned_from <= offset[0] < cuts[w]:
                    token_tags.append(BIO_LABELS[tag])
                    token_offsets.append(offset)
            owned_from = cuts[w]
        taken: list[tuple[int, int]] = []  # (start, end), sorted
        entities = []
        for _, _, span in sorted(candidates, key=lambda c: (-c[0], c[1], c[2]["start"])):
            i = bisect_left(taken, (span["start"], span["end"]))
            if (i > 0 and taken[i - 1][1] > span["start"]) or (
                i < len(taken) and taken[i][0] < span["end"]
            ):
                continue
            insort(taken, (span["start"], span["end"]))
            entities.append(span)
        entities.sort(key=lambda e: e["start"])
        event_logits = np.max(np.stack([out.event_logits for out in windows]), axis=0)
        return TextAnalysis(
            text=text,
            event_logits=event_logits,
            token_tags=token_tags,
            token_offsets=token_offsets,
            result={
                "text": text,
                "event_kinds": event_kinds_result(event_logits),
                "entities": [
                    {
                        "start": span["start"],
                        "end": span["end"],
                        "text": text[span["start"] : span["end"]],
                        "category": span["category"],
                        "confidence": round(span["confidence"], CONFIDENCE_DIGITS),
                    }
                    for span in entities
                ],
                "windows": len(windows),
            },
        )

    def _run(self, model: str, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        """The model's logits, checked to be as wide as the contract says."""
        session = self.sessions[model]
        [logits] = session.run(
            list(ONNX_OUTPUTS[model]), {name: feeds[name] for name in ONNX_INPUTS[model]}
        )
        logits = np.asarray(logits)
        width = TEXT_MODEL_WIDTH[model]
        expected_rank = 2 if model == EVENT_MODEL else 3
        if logits.ndim != expected_rank or logits.shape[-1] != width:
            raise UserError(
                f"{model_file(self.artifacts_dir, model, self.int8)}: the {model} returned logits of "
                f"shape {list(logits.shape)}, the contract says [..., {width}]; rebuild the "
                "artifacts with `storyml build`"
            )
        return logits

    # Character predictor -----------------------------------------------------------------

    def has_character_model(self) -> bool:
        return model_file(self.artifacts_dir, CHARACTER_MODEL, self.int8).is_file()

    def predict_characters(self, features: Sequence[Sequence[float]]) -> np.ndarray:
        """Raw outputs [n, 42] (heads concatenated in contract order) for feature rows [n, 453]."""
        if self._character_session is None:
            path = _require_file(
                model_file(self.artifacts_dir, CHARACTER_MODEL, self.int8),
                f"the {CHARACTER_MODEL} model",
            )
            self._character_session = open_session(path, CHARACTER_MODEL)
        rows = np.asarray(features, dtype=np.float32)
        # Output names are listed in head order, so concatenating them gives the contract vector.
        outputs = list(ONNX_OUTPUTS[CHARACTER_MODEL])
        parts = [np.zeros((0, TOTAL_OUTPUT_FEATURES), dtype=np.float32)]
        for _, batch in _chunks(rows, CHARACTER_BATCH_SIZE):
            heads = self._character_session.run(outputs, {ONNX_INPUTS[CHARACTER_MODEL][0]: batch})
            parts.append(np.concatenate(heads, axis=1))
        result = np.concatenate(parts, axis=0)
        if result.shape[1] != TOTAL_OUTPUT_FEATURES:
            raise UserError(
                f"{self.artifacts_dir}: the character predictor returns {result.shape[1]} outputs, "
                f"the contract says {TOTAL_OUTPUT_FEATURES}"
            )
        return result


# --- Files and printing ----------------------------------------------------------------------


STDIO = "-"  # --input - reads stdin, --output - writes stdout
PREDICTION_FIELDS = ("event_kinds", "entities", "windows")


@dataclass
class InputLine:
    """One line of a JSONL input: its record, or why it cannot be run (and what of it parsed)."""

    number: int
    record: dict[str, Any] | None = None
    error: str | None = None


def read_input_bytes(path: Path | str) -> bytes:
    """The bytes of `path` (`-`: stdin); a directory, missing or unreadable file is a UserError."""
    import sys

    if str(path) == STDIO:
        return sys.stdin.buffer.read()
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: is a directory, not a JSONL file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read the input ({exc.strerror or exc})") from None


def decode_input(data: bytes, source: str) -> str:
    """UTF-8 text (a leading BOM is dropped); anything else is a UserError naming line and byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UserError(
            f"{source}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


def unencodable(value: str) -> str | None:
    """None when `value` is valid Unicode text, else a description of its first lone surrogate."""
    try:
        value.encode("utf-8")
        return None
    except UnicodeEncodeError as exc:
        return f"lone surrogate U+{ord(value[exc.start]):04X} at character {exc.start}"


def parse_input_lines(text: str) -> list[InputLine]:
    """Every line of a JSONL text, blank ones included (lines end at \\n only, so a U+2028 in a
    string stays inside its record); a final newline does not start another line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    parsed = []
    for number, line in enumerate(lines, start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            parsed.append(InputLine(number, error=f"line {number}: blank line, no record"))
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            parsed.append(
                InputLine(
                    number, error=f"line {number}: not valid JSON ({exc.msg} at column {exc.colno})"
                )
            )
            continue
        except RecursionError:
            parsed.append(InputLine(number, error=f"line {number}: JSON nested too deeply"))
            continue
        if not isinstance(record, dict):
            parsed.append(
                InputLine(
                    number,
                    error=f"line {number}: expected a JSON object, got {type(record).__name__}",
                )
            )
            continue
        bad = unencodable(json.dumps(record, ensure_ascii=False))
        if bad is not None:
            parsed.append(
                InputLine(number, error=f"line {number}: not valid Unicode ({bad} of the record)")
            )
        elif not isinstance(record.get("text"), str):
            parsed.append(
                InputLine(number, record, f"line {number}: a record needs a string field 'text'")
            )
        else:
            parsed.append(InputLine(number, record))
    return parsed


def _free_key(record: Mapping[str, Any], key: str) -> str:
    while key in record:
        key = "input_" + key
    return key


def output_record(record: Mapping[str, Any] | None, added: Mapping[str, Any]) -> dict[str, Any]:
    """The input record with `added` fields: every input field passes through; an input field
    with the name of an added one is kept as `input_<name>` (prefixed until free)."""
    out = dict(record or {})
    for key, value in added.items():
        if key in out and not (key == "text" and out[key] == value):
            out[_free_key(out, "input_" + key)] = out.pop(key)
        out[key] = value
    return out


def predict_lines(predictor: Predictor, lines: Sequence[InputLine]) -> list[dict[str, Any]]:
    """One output record per input line, in order: the record with the predictions, or the
    record (what parsed of it) with an `error`."""
    runnable = [line.record for line in lines if line.error is None and line.record is not None]
    results = iter(predictor.predict([record["text"] for record in runnable]))
    out = []
    for line in lines:
        if line.error is None and line.record is not None:
            result = next(results)
            out.append(
                output_record(line.record, {k: result[k] for k in ("text", *PREDICTION_FIELDS)})
            )
        else:
            out.append(
                output_record(
                    line.record if isinstance(line.record, dict) else None, {"error": line.error}
                )
            )
    return out


# Line breaks to str.splitlines that JSON leaves raw in strings (the others are control
# characters, which JSON escapes): escaped, so no reader splits an output line in two.
_LINE_BREAK_ESCAPES = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def to_json_line(result: Mapping[str, Any]) -> str:
    return json.dumps(result, sort_keys=True, ensure_ascii=False).translate(_LINE_BREAK_ESCAPES)


def check_output_path(output: Path | str, input_path: Path | str | None) -> None:
    """Refuse, before any model runs, an output that is a directory, the input itself, or in a
    place that cannot be written."""
    import os

    if str(output) == STDIO:
        return
    output = Path(output)
    if output.is_dir():
        raise UserError(f"{output}: is a directory; give a file name for --output")
    if input_path is not None and str(input_path) != STDIO:
        same = output.resolve() == Path(input_path).resolve()
        if not same and output.exists():
            try:
                same = output.samefile(input_path)
            except OSError:
                same = False
        if same:
            raise UserError(
                f"{output}: --output is the --input file; it would be overwritten. Give another name"
            )
    parent = output.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"{output}: cannot write here ({parent} is not a directory)")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{output}: cannot write here ({parent} is not writable)")


def format_result(result: Mapping[str, Any]) -> str:
    """A few readable lines for one result."""
    kinds = (
        ", ".join(f"{k['label']} ({k['confidence']:.2f})" for k in result["event_kinds"]) or "none"
    )
    lines = [json.dumps(result["text"], ensure_ascii=False), f"  event kinds: {kinds}"]
    if result.get("windows", 1) > 1:
        lines.append(f"  windows:     {result['windows']} (overlapping, merged)")
    if not result["entities"]:
        lines.append("  entities:    none")
    for n, e in enumerate(result["entities"]):
        lead = "  entities:    " if n == 0 else " " * 15
        lines.append(
            f"{lead}[{e['start']}:{e['end']}] {e['text']!r} {e['category']} ({e['confidence']:.2f})"
        )
    return "\n".join(lines)


# --- CLI -------------------------------------------------------------------------------------
