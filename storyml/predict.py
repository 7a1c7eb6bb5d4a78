"""`storyml predict`: run the exported ONNX models on text, the way the engine does.

Only what the engine ships is used: the `.onnx` files and `tokenizer.json` (read with
`tokenizers.Tokenizer.from_file`, no transformers, no training config). Decoding follows the
generated contract:
- event kinds: a kind is predicted when sigmoid(logit) > EVENT_THRESHOLD (compared as
  logit > EVENT_LOGIT_THRESHOLD); its confidence is the sigmoid;
- entities: per-token argmax of the NER logits, spans assembled by `storyml.data.bio`'s strict
  rules (the engine's), span confidence the mean softmax probability of its tokens; offsets are
  character offsets into the input text.

Inputs are batched, each batch padded to its own longest sequence and every sequence
truncated to MAX_SEQ_LENGTH tokens with its closing [SEP] kept. Empty or whitespace-only text
is not run through the models: there is nothing to classify, so it gets no kinds and no
entities.

`Predictor` is the Python API; `storyml evaluate` uses it, so the figures it reports are those
of exactly this decoding path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    EVENT_LOGIT_THRESHOLD,
    EVENT_MULTI_LABEL,
    IGNORE_INDEX,
    MAX_SEQ_LENGTH,
)

from storyml.data.bio import ATTENTION_MASK, INPUT_IDS, align_batch, logits_to_spans
from storyml.data.jsonl import read_jsonl_lines
from storyml.errors import UserError

DEFAULT_ARTIFACTS = Path("artifacts")
LATEST_FILE = "LATEST"  # in DEFAULT_ARTIFACTS: the path of the last build's artifacts
TEXT_MODELS = (EVENT_MODEL, NER_MODEL)
DEFAULT_BATCH_SIZE = 32
CHARACTER_BATCH_SIZE = 1024  # feature rows per call: the MLP is small, larger batches are cheap
CONFIDENCE_DIGITS = 6  # rounding of confidences in results; decisions use the unrounded values
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
    fingerprint and binds the contract's input and output names."""
    import onnxruntime as ort

    from storyml.export.metadata import verify_fingerprint

    options = ort.SessionOptions()
    options.log_severity_level = 3  # warnings about unused initializers are not the user's concern
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for a damaged file
        raise UserError(f"{path}: onnxruntime cannot load the model ({exc})") from None
    verify_fingerprint(session)
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
    strict (seqeval) scoring needs. Token lists cover the non-special tokens only."""

    text: str
    event_logits: np.ndarray | None  # [NUM_EVENT_KINDS]; None for empty text (not run)
    token_tags: list[str] = field(default_factory=list)  # argmax BIO label per token
    token_offsets: list[tuple[int, int]] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _chunks(items: Sequence, size: int) -> Iterator[tuple[int, Sequence]]:
    for start in range(0, len(items), size):
        yield start, items[start : start + size]


def event_kinds_from_logits(logits: Any, labels: Sequence[str] = EVENT_KIND_LABELS) -> list[list[str]]:
    """Decode [n, kinds] logits as the contract says: multi-label -> logit > EVENT_LOGIT_THRESHOLD
    (the same as sigmoid > EVENT_THRESHOLD); single-label -> argmax."""
    logits = np.asarray(logits, dtype=np.float64).reshape(-1, len(labels))
    if EVENT_MULTI_LABEL:
        chosen = logits > EVENT_LOGIT_THRESHOLD
    else:
        chosen = np.zeros(logits.shape, dtype=bool)
        chosen[np.arange(len(logits)), logits.argmax(axis=1)] = True
    return [[labels[j] for j in np.flatnonzero(row)] for row in chosen]


def event_kinds_result(logits: np.ndarray) -> list[dict[str, Any]]:
    """Predicted kinds, in contract order, with their sigmoid confidence."""
    probabilities = _sigmoid(np.asarray(logits, dtype=np.float64))
    chosen = event_kinds_from_logits(np.asarray(logits)[None, :])[0]
    return [
        {"label": label, "confidence": round(float(probabilities[EVENT_KIND_INDEX[label]]), CONFIDENCE_DIGITS)}
        for label in chosen
    ]


def empty_result(text: str) -> dict[str, Any]:
    return {"text": text, "event_kinds": [], "entities": []}


class Predictor:
    """The exported text models (and, on demand, the character predictor) of one artifacts dir.

    `Predictor(dir).predict(["I pick up the key."])` ->
    `[{"text", "event_kinds": [{"label", "confidence"}], "entities": [{"start", "end", "text",
    "category", "confidence"}]}]`, character offsets. `int8=True` runs the `<name>.int8.onnx`
    twins. Every model's contract fingerprint is checked before it is run.
    """

    def __init__(self, artifacts_dir: str | Path, *, int8: bool = False, batch_size: int = DEFAULT_BATCH_SIZE):
        if batch_size < 1:
            raise UserError(f"batch size must be at least 1, got {batch_size}")
        self.artifacts_dir = Path(artifacts_dir)
        if not self.artifacts_dir.is_dir():
            raise UserError(f"{self.artifacts_dir}: no artifacts directory; run `storyml build` to make the models")
        self.int8 = int8
        self.batch_size = batch_size
        self.tokenizer = EngineTokenizer(
            _require_file(self.artifacts_dir / TOKENIZER_FILE, "the tokenizer")
        )
        self.sessions = {
            model: open_session(_require_file(model_file(self.artifacts_dir, model, int8), f"the {model} model"), model)
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
            for i, analysis in zip(chunk, self._analyze_batch([texts[i] for i in chunk])):
                analyses[i] = analysis
        return analyses

    def _analyze_batch(self, texts: list[str]) -> list[TextAnalysis]:
        aligned = align_batch(self.tokenizer, texts, [[] for _ in texts], MAX_SEQ_LENGTH)
        ids = pad_batch(aligned[INPUT_IDS], self.tokenizer.pad_token_id)
        mask = pad_batch(aligned[ATTENTION_MASK], 0)
        event_logits = self._run(EVENT_MODEL, text_feeds(EVENT_MODEL, ids, mask))[0]
        ner_logits = self._run(NER_MODEL, text_feeds(NER_MODEL, ids, mask))[0]
        analyses = []
        for row, text in enumerate(texts):
            length = len(aligned[INPUT_IDS][row])
            offsets = [tuple(o) for o in aligned["offsets"][row]]
            # With no entities given, align_batch labels exactly the special tokens IGNORE_INDEX.
            special = [label == IGNORE_INDEX for label in aligned["labels"][row]]
            token_logits = ner_logits[row, :length]
            spans = logits_to_spans(token_logits, offsets, special)
            tags = token_logits.argmax(axis=-1)
            analyses.append(
                TextAnalysis(
                    text=text,
                    event_logits=event_logits[row],
                    token_tags=[BIO_LABELS[t] for t, s in zip(tags, special) if not s],
                    token_offsets=[o for o, s in zip(offsets, special) if not s],
                    result={
                        "text": text,
                        "event_kinds": event_kinds_result(event_logits[row]),
                        "entities": [
                            {
                                "start": span["start"],
                                "end": span["end"],
                                "text": text[span["start"] : span["end"]],
                                "category": span["category"],
                                "confidence": round(span["confidence"], CONFIDENCE_DIGITS),
                            }
                            for span in spans
                        ],
                    },
                )
            )
        return analyses

    def _run(self, model: str, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        session = self.sessions[model]
        return session.run(list(ONNX_OUTPUTS[model]), {name: feeds[name] for name in ONNX_INPUTS[model]})

    # Character predictor -----------------------------------------------------------------

    def has_character_model(self) -> bool:
        return model_file(self.artifacts_dir, CHARACTER_MODEL, self.int8).is_file()

    def predict_characters(self, features: Sequence[Sequence[float]]) -> np.ndarray:
        """Raw outputs [n, 42] (heads concatenated in contract order) for feature rows [n, 453]."""
        if self._character_session is None:
            path = _require_file(model_file(self.artifacts_dir, CHARACTER_MODEL, self.int8),
                                 f"the {CHARACTER_MODEL} model")
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


def read_texts(path: Path) -> list[str]:
    """The `text` field of every record of a JSONL file; blank lines are not records."""
    texts = []
    for number, record in read_jsonl_lines(path):
        if not isinstance(record.get("text"), str):
            raise UserError(f"{path}:{number}: a record needs a string field 'text'")
        texts.append(record["text"])
    return texts


def to_json_line(result: Mapping[str, Any]) -> str:
    return json.dumps(result, sort_keys=True, ensure_ascii=False)


def format_result(result: Mapping[str, Any]) -> str:
    """A few readable lines for one result."""
    kinds = ", ".join(f"{k['label']} ({k['confidence']:.2f})" for k in result["event_kinds"]) or "none"
    lines = [json.dumps(result["text"], ensure_ascii=False), f"  event kinds: {kinds}"]
    if not result["entities"]:
        lines.append("  entities:    none")
    for n, e in enumerate(result["entities"]):
        lead = "  entities:    " if n == 0 else " " * 15
        lines.append(f"{lead}[{e['start']}:{e['end']}] {e['text']!r} {e['category']} ({e['confidence']:.2f})")
    return "\n".join(lines)


# --- CLI -------------------------------------------------------------------------------------
