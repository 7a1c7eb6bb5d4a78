"""Export the three models to the ONNX files the engine loads, with parity checks and metadata.

One `ExportConfig` per model kind (a table, as in Optimum's exporters): the
engine's input/output names and the file name come from the generated contract;
how inputs look and which axes are dynamic is said once per kind. A file is
written only after `onnx.checker` and the PyTorch-vs-onnxruntime parity check
pass, and is moved into place atomically.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import onnx
import torch
from storyml_contract import (
    ARTIFACT_FILES,
    BIO_LABELS,
    CHARACTER_MODEL,
    CONTRACT_FINGERPRINT,
    CONTRACT_VERSION,
    EVENT_KIND_LABELS,
    EVENT_MODEL,
    MAX_SEQ_LENGTH,
    NER_MODEL,
    ONNX_INPUTS,
    ONNX_OPSET,
    ONNX_OUTPUTS,
    TOTAL_INPUT_FEATURES,
)
from storyml_contract.character_outputs import HEADS, OUTPUT_NAMES
from torch import nn

import storyml
from codegen.spec.errors import one_of
from codegen.spec.export import ExportFile
from storyml.errors import UserError
from storyml.export import metadata as md

# protobuf cannot serialise a message of 2 GiB or more; only then do weights go to an external file.
BATCH_AXIS, SEQUENCE_AXIS = "batch", "sequence"
# Fixed parity inputs for text models: (batch, sequence length, padded rows). The first is also the
# tracing example; it must contain padding, or a tracer may drop the mask as "all ones".
TEXT_FIXED_SHAPES = ((2, 16, 1), (1, MAX_SEQ_LENGTH, 0))
FEATURE_FIXED_BATCHES = (1, 3)


class ExportError(UserError):
    """An export that failed its checks; nothing was written."""


# ---------------------------------------------------------------- the per-kind table


def _text_inputs(
    config: ExportConfig,
    rng: np.random.Generator,
    batch: int,
    length: int,
    padded_rows: int,
    vocab_size: int,
    pad_id: int,
) -> dict[str, np.ndarray]:
    """Token ids and a right-padded attention mask; the first `padded_rows` rows are shorter."""
    ids_name, mask_name = config.inputs  # in the order the model takes them
    input_ids = rng.integers(0, vocab_size, size=(batch, length), dtype=np.int64)
    mask = np.ones((batch, length), dtype=np.int64)
    for row in range(min(padded_rows, batch)):
        keep = int(rng.integers(1, length)) if length > 1 else 1
        mask[row, keep:] = 0
        input_ids[row, keep:] = pad_id
    return {ids_name: input_ids, mask_name: mask}


def _feature_inputs(
    config: ExportConfig, rng: np.random.Generator, batch: int
) -> dict[str, np.ndarray]:
    (name,) = config.inputs
    return {name: rng.normal(size=(batch, TOTAL_INPUT_FEATURES)).astype(np.float32)}


@dataclass(frozen=True)
class ExportConfig:
    kind: str  # an artifact of specs/artifacts.yaml
    text: bool  # token inputs with batch and sequence axes, else a feature matrix
    labels: Callable[
        [], dict[str, list[str]]
    ]  # per output: label of each position of its last axis
    output_axes: dict[str, dict[int, str]]  # dynamic axes of the outputs

    @property
    def inputs(self) -> tuple[str, ...]:
        return ONNX_INPUTS[self.kind]

    @property
    def outputs(self) -> tuple[str, ...]:
        return ONNX_OUTPUTS[self.kind]

    @property
    def file(self) -> str:
        return ARTIFACT_FILES[self.kind]

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        # Defect 7: batch AND sequence are dynamic for text models, so nothing is padded to 128.
        in_axes = {0: BATCH_AXIS, 1: SEQUENCE_AXIS} if self.text else {0: BATCH_AXIS}
        return {**{name: dict(in_axes) for name in self.inputs}, **self.output_axes}


def _head_labels() -> dict[str, list[str]]:
    return {h.name: list(OUTPUT_NAMES[h.offset : h.offset + h.width]) for h in HEADS}


EXPORT_CONFIGS: dict[str, ExportConfig] = {
    EVENT_MODEL: ExportConfig(
        EVENT_MODEL,
        text=True,
        labels=lambda: {ONNX_OUTPUTS[EVENT_MODEL][0]: list(EVENT_KIND_LABELS)},
        output_axes={ONNX_OUTPUTS[EVENT_MODEL][0]: {0: BATCH_AXIS}},
    ),
    NER_MODEL: ExportConfig(
        NER_MODEL,
        text=True,
        labels=lambda: {ONNX_OUTPUTS[NER_MODEL][0]: list(BIO_LABELS)},
        output_axes={ONNX_OUTPUTS[NER_MODEL][0]: {0: BATCH_AXIS, 1: SEQUENCE_AXIS}},
    ),
    CHARACTER_MODEL: ExportConfig(
        CHARACTER_MODEL,
        text=False,
        labels=_head_labels,
        output_axes={name: {0: BATCH_AXIS} for name in ONNX_OUTPUTS[CHARACTER_MODEL]},
    ),
}
assert set(EXPORT_CONFIGS) == set(ARTIFACT_FILES), "every artifact needs an export config"


# ---------------------------------------------------------------- wrapping any module


OutputSelector = str | int | Callable[[Any], Any] | None


def _pick(result: Any, key: str | int) -> Any:
    if isinstance(result, Mapping) or hasattr(result, "keys"):  # dict or transformers ModelOutput
        if key in result.keys():
            return result[key]
    elif isinstance(result, (tuple, list)) and isinstance(key, int):
        return result[key]
    if isinstance(key, str) and hasattr(result, key):
        return getattr(result, key)
    raise ExportError(f"the model's output has no {key!r} (it returned {type(result).__name__})")


def select_outputs(
    result: Any, config: ExportConfig, output: OutputSelector
) -> tuple[torch.Tensor, ...]:
    """The tensors for `config.outputs`, from whatever the module returned.

    Text kinds have one output: `output` picks it (a key/attribute of a dict or
    ModelOutput, an index of a tuple, or a function); by default `logits`, or
    element 0 of a tuple. Head kinds take a tuple in head order, a mapping by
    head name, or one tensor of the concatenated heads (split by HEADS).
    """
    if callable(output):
        result = output(result)
    elif output is not None:
        result = _pick(result, output)
    names = config.outputs
    if len(names) == 1:
        if isinstance(result, torch.Tensor):
            return (result,)
        if isinstance(result, (tuple, list)):
            return (result[0],)
        return (_pick(result, names[0]),)
    if isinstance(result, torch.Tensor):
        widths = [h.width for h in HEADS]
        return tuple(torch.split(result, widths, dim=-1))
    if isinstance(result, (tuple, list)) and len(result) == len(names):
        return tuple(result)
    return tuple(_pick(result, name) for name in names)


class OnnxWrapper(nn.Module):
    """Positional inputs in the engine's order, a tuple of the engine's outputs."""

    def __init__(self, model: nn.Module, config: ExportConfig, output: OutputSelector = None):
        super().__init__()
        self.model, self.config, self.output = model, config, output

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        result = self.model(**dict(zip(self.config.inputs, inputs)))
        return select_outputs(result, self.config, self.output)


@contextmanager
def eager_attention(model: nn.Module) -> Iterator[None]:
    """Export transformers with eager attention, restoring the previous choice afterwards.

    SDPA attention exports too, but as a graph onnxruntime's transformer optimizer does not
    recognise; eager attention becomes fused `Attention` nodes there (and quantizes as QAttention).
    """
    # (a transformers model's set_attn_implementation, the implementation it had): found by name,
    # as any module that has one may hold a config of its own
    changed: list[tuple[Callable[[str | None], None], str | None]] = []
    for module in model.modules():
        set_attention = getattr(module, "set_attn_implementation", None)
        previous = getattr(getattr(module, "config", None), "_attn_implementation", None)
        if set_attention is not None and previous != "eager":
            changed.append((set_attention, previous))
    for set_attention, _ in changed:
        set_attention("eager")
    try:
        yield
    finally:
        for set_attention, previous in reversed(changed):
            set_attention(previous)


# ---------------------------------------------------------------- inputs for tracing and parity


def _find_config(model: nn.Module) -> Any:
    for module in model.modules():
        if getattr(getattr(module, "config", None), "vocab_size", None):
            return module.config
    return None


def _vocab_size(model: nn.Module) -> int:
    config = _find_config(model)
    if config is not None:
        return int(config.vocab_size)
    for module in model.modules():
        input_embeddings = getattr(module, "get_input_embeddings", None)
        if input_embeddings is not None:
            return int(input_embeddings().num_embeddings)
    raise ExportError(
        "cannot tell the model's vocabulary size (no transformers config, no input embeddings)"
    )


def _max_length(model: nn.Module) -> int:
    config = _find_config(model)
    positions = getattr(config, "max_position_embeddings", None)
    return min(MAX_SEQ_LENGTH, int(positions)) if positions else MAX_SEQ_LENGTH


def fixed_inputs(config: ExportConfig, model: nn.Module) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    if not config.text:
        return [_feature_inputs(config, rng, b) for b in FEATURE_FIXED_BATCHES]
    vocab, pad = _vocab_size(model), _pad_id(model)
    return [
        _text_inputs(config, rng, b, min(length, _max_length(model)), padded, vocab, pad)
        for b, length, padded in TEXT_FIXED_SHAPES
    ]


def random_inputs(config: ExportConfig, model: nn.Module, parity) -> list[dict[str, np.ndarray]]:
    """Random batch sizes and, for text, random lengths with random right-padding."""
    rng = np.random.default_rng(parity.seed)
    out = []
    for _ in range(parity.random_inputs):
        batch = int(rng.integers(1, parity.max_batch + 1))
        if not config.text:
            out.append(_feature_inputs(config, rng, batch))
            continue
        max_len = _max_length(model)
        length = int(rng.integers(min(parity.min_sequence, max_len), max_len + 1))
        out.append(
            _text_inputs(
                config,
                rng,
                batch,
                length,
                int(rng.integers(0, batch + 1)),
                _vocab_size(model),
                _pad_id(model),
            )
        )
    return out


def _pad_id(model: nn.Module) -> int:
    return int(getattr(_find_config(model), "pad_token_id", None) or 0)


# ---------------------------------------------------------------- sizes (defect 1)


def _tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for g in attr.graphs:
                yield from _tensors(g)


def external_data_files(path: Path | str) -> list[Path]:
    """The external-data files an .onnx file refers to (none when all weights are inside)."""
    path = Path(path)
    model = onnx.load(str(path), load_external_data=False)
    locations: set[str] = set()
    for tensor in _tensors(model.graph):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            locations.update(e.value for e in tensor.external_data if e.key == "location")
    return sorted(path.parent / loc for loc in locations)


def artifact_size(path: Path | str) -> int:
    """Bytes of the model file plus every external-data file it refers to."""
    path = Path(path)
    return path.stat().st_size + sum(f.stat().st_size for f in external_data_files(path))


# ---------------------------------------------------------------- parity


@dataclass(frozen=True)
class ParityResult:
    max_diff: float
    per_output: dict[str, float]
    inputs_checked: int
    shapes: list[list[int]]  # shape of the first input of each batch checked


def _torch_outputs(wrapper: OnnxWrapper, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    with torch.no_grad():
        outs = wrapper(*(torch.from_numpy(feed[name]) for name in wrapper.config.inputs))
    return [o.detach().numpy() for o in outs]


def check_parity(
    wrapper: OnnxWrapper, session, feeds: Sequence[dict[str, np.ndarray]], atol: float
) -> ParityResult:
    """Run PyTorch and onnxruntime on the same inputs; raise ExportError past `atol`."""
    config = wrapper.config
    per_output = {name: 0.0 for name in config.outputs}
    shapes = []
    for feed in feeds:
        expected = _torch_outputs(wrapper, feed)
        got = session.run(list(config.outputs), feed)
        shapes.append(list(feed[config.inputs[0]].shape))
        for name, e, g in zip(config.outputs, expected, got):
            if e.shape != g.shape:
                raise ExportError(
                    f"{config.kind}: output {name!r} has shape {list(g.shape)} in onnxruntime but "
                    f"{list(e.shape)} in PyTorch for input shape {shapes[-1]}"
                )
            if not np.isfinite(g).all():
                raise ExportError(
                    f"{config.kind}: output {name!r} is not finite in onnxruntime "
                    f"for input shape {shapes[-1]}"
                )
            per_output[name] = max(
                per_output[name], float(np.max(np.abs(e - g))) if e.size else 0.0
            )
    worst = max(per_output, key=lambda name: per_output[name])
    if per_output[worst] > atol:
        raise ExportError(
            f"{config.kind}: ONNX parity failed: output {worst!r} differs from PyTorch by up to "
            f"{per_output[worst]:.3g} (atol {atol:g}); the file was not written"
        )
    return ParityResult(per_output[worst], per_output, len(feeds), shapes)


# ---------------------------------------------------------------- export


@dataclass(frozen=True)
class ExportReport:
    kind: str
    path: Path
    size_bytes: int  # the .onnx file plus any external-data files (defect 1)
    external_data_files: list[Path]
    max_diff: float
    max_diff_per_output: dict[str, float]
    parity_inputs: int
    parity_shapes: list[list[int]]
    atol: float
    opset: int
    metadata: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        d["external_data_files"] = [str(p) for p in self.external_data_files]
        return d


def _architecture(model: nn.Module) -> dict[str, Any]:
    config = _find_config(model)
    if config is None:
        return {}
    keys = ("model_type", "hidden_size", "num_attention_heads", "num_hidden_layers", "vocab_size")
    return {k: getattr(config, k) for k in keys if getattr(config, k, None) is not None}


def export_metadata(config: ExportConfig, model: nn.Module, encoder: str | None) -> dict[str, str]:
    return {
        md.KEY_FINGERPRINT: CONTRACT_FINGERPRINT,
        md.KEY_CONTRACT_VERSION: CONTRACT_VERSION,
        md.KEY_SPEC_VERSION: storyml.__version__,
        md.KEY_MODEL_KIND: config.kind,
        md.KEY_ENCODER: encoder or "",
        md.KEY_LABELS: json.dumps(config.labels(), sort_keys=True, ensure_ascii=False),
        md.KEY_ARCHITECTURE: json.dumps(_architecture(model), sort_keys=True),
    }


def _trace_to_onnx(wrapper: OnnxWrapper, example: dict[str, np.ndarray], path: Path) -> None:
    """torch -> ONNX with the TorchScript exporter (`dynamo=False`).

    Why not the dynamo exporter (torch 2.13's default): on BERT-family models it is ~20x slower
    to export, writes weights to an external-data file unless told not to, and its graphs are not
    the patterns onnxruntime's transformer optimizer fuses (Attention, EmbedLayerNormalization),
    which the INT8 path relies on. The TorchScript exporter is the one Optimum and onnxruntime's own
    BERT tooling have exported these models with for years; parity is checked either way.
    """
    config = wrapper.config
    args = tuple(torch.from_numpy(example[name]) for name in config.inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        torch.onnx.export(
            wrapper,
            args,
            str(path),
            input_names=list(config.inputs),
            output_names=list(config.outputs),
            dynamic_axes=config.dynamic_axes(),
            opset_version=ONNX_OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def _session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _move_into_place(staged: Path, out_dir: Path) -> None:
    """Data files first, then the .onnx: a reader never finds a model whose data is missing."""
    model_files = sorted(staged.glob("*.onnx"))
    for f in sorted(set(staged.iterdir()) - set(model_files)) + model_files:
        os.replace(f, out_dir / f.name)


def export_model(
    kind: str,
    model: nn.Module,
    out_dir: Path | str,
    specs,
    *,
    encoder: str | None = None,
    output: OutputSelector = None,
) -> ExportReport:
    """Export `model` as the engine's `ARTIFACT_FILES[kind]` in `out_dir`; check it; report.

    `model` is any module called with the kind's ONNX input names as keywords
    (`input_ids`, `attention_mask` / `features`). It may return a tensor, a tuple,
    a dict or a transformers ModelOutput; `output` selects the tensor for a text
    model (e.g. one head of a multi-task model: `output="ner_logits"`).
    """
    if kind not in EXPORT_CONFIGS:
        raise UserError(f"unknown model kind {kind!r} {one_of(kind, EXPORT_CONFIGS)}")
    config = EXPORT_CONFIGS[kind]
    parity = specs.one(ExportFile).parity
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    wrapper = OnnxWrapper(model, config, output).eval()
    staged = Path(tempfile.mkdtemp(prefix=f".{config.file}.", suffix=".tmp", dir=out_dir))
    try:
        with eager_attention(model):
            fixed = fixed_inputs(config, model)
            raw_dir = staged / "raw"
            raw_dir.mkdir()
            _trace_to_onnx(wrapper, fixed[0], raw_dir / config.file)
            wrapper.eval()  # the exporter restores the mode it found; keep dropout off for parity
            props = export_metadata(config, model, encoder)
            md.save_with_props(raw_dir / config.file, staged / config.file, props)
            shutil.rmtree(raw_dir)
            try:
                onnx.checker.check_model(str(staged / config.file), full_check=True)
            except onnx.checker.ValidationError as exc:
                raise ExportError(
                    f"{config.kind}: the exported model fails onnx.checker: {exc}"
                ) from None
            session = _session(staged / config.file)
            result = check_parity(
                wrapper, session, fixed + random_inputs(config, model, parity), parity.atol
            )
            del session
        stale_data = out_dir / f"{config.file}.data"
        if not (staged / stale_data.name).exists():
            stale_data.unlink(
                missing_ok=True
            )  # left by an earlier export that needed external data
        _move_into_place(staged, out_dir)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
        model.train(was_training)
    path = out_dir / config.file
    return ExportReport(
        kind=kind,
        path=path,
        size_bytes=artifact_size(path),
        external_data_files=external_data_files(path),
        max_diff=result.max_diff,
        max_diff_per_output=result.per_output,
        parity_inputs=result.inputs_checked,
        parity_shapes=result.shapes,
        atol=parity.atol,
        opset=ONNX_OPSET,
        metadata=props,
    )
