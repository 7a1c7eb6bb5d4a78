"""What an exported model says about itself (ONNX metadata_props), and the contract checks.

Every .onnx file storyml writes carries the contract version and fingerprint it was built
against. A model built from other specs decodes its outputs with other labels or offsets,
silently; `verify_fingerprint` refuses it before it is run: first a model of another major
contract version, then one of another fingerprint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import onnx
from storyml_contract import (
    CONTRACT_VERSION,
    METADATA_FINGERPRINT_KEY,
    METADATA_LABELS_KEY,
    METADATA_VERSION_KEY,
)

from storyml.errors import UserError

# metadata_props keys. Export writes them, prediction and quantization read them. The ones an
# engine must check come from the contract (specs/artifacts.yaml, specs/contract.yaml); the
# rest are storyml's own.
KEY_FINGERPRINT = METADATA_FINGERPRINT_KEY
KEY_CONTRACT_VERSION = METADATA_VERSION_KEY
KEY_LABELS = METADATA_LABELS_KEY  # JSON: {output name: [label per position of its last axis]}
KEY_SPEC_VERSION = "storyml.version"  # the storyml that exported the model, not the contract's
KEY_MODEL_KIND = "storyml.model_kind"
KEY_ENCODER = "storyml.encoder"
KEY_ARCHITECTURE = (
    "storyml.architecture"  # JSON: model_type, hidden_size, num_attention_heads (text models)
)


@dataclass(frozen=True)
class ModelMetadata:
    fingerprint: str | None
    contract_version: str | None
    version: str | None
    model_kind: str | None
    encoder: str | None
    labels: dict[str, list[str]]
    architecture: dict[str, Any]
    raw: dict[str, str]


def _parse_json(raw: Mapping[str, str], key: str, source: str) -> Any:
    if key not in raw or raw[key] == "":
        return {}
    try:
        return json.loads(raw[key])
    except json.JSONDecodeError as exc:
        raise UserError(f"{source}: metadata {key!r} is not valid JSON ({exc})") from None


def metadata_from_props(raw: Mapping[str, str], source: str = "model") -> ModelMetadata:
    raw = dict(raw)
    return ModelMetadata(
        fingerprint=raw.get(KEY_FINGERPRINT),
        contract_version=raw.get(KEY_CONTRACT_VERSION),
        version=raw.get(KEY_SPEC_VERSION),
        model_kind=raw.get(KEY_MODEL_KIND),
        encoder=raw.get(KEY_ENCODER) or None,
        labels=_parse_json(raw, KEY_LABELS, source),
        architecture=_parse_json(raw, KEY_ARCHITECTURE, source),
        raw=raw,
    )


def read_props(path: Path | str) -> dict[str, str]:
    """metadata_props of an .onnx file, without loading external weight data."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such ONNX model")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and others for a damaged file
        raise UserError(f"{path}: not a readable ONNX model ({exc})") from None
    return {p.key: p.value for p in model.metadata_props}


def read_metadata(source: Any) -> ModelMetadata:
    """Metadata of an .onnx path or of an `onnxruntime.InferenceSession`."""
    if isinstance(source, (str, Path)):
        return metadata_from_props(read_props(source), str(source))
    if hasattr(source, "get_modelmeta"):
        return metadata_from_props(
            source.get_modelmeta().custom_metadata_map, "onnxruntime session"
        )
    raise TypeError(
        f"expected an .onnx path or an onnxruntime.InferenceSession, got {type(source).__name__}"
    )


def set_props(model: onnx.ModelProto, props: Mapping[str, str]) -> None:
    """Replace these keys in `model.metadata_props`, keeping any others."""
    keep = [(p.key, p.value) for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    for key, value in keep + sorted(props.items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


# protobuf cannot serialise one message past 2 GiB; larger models keep their weights beside them.
PROTOBUF_LIMIT = 2**31 - 1


def save_with_props(src: Path, dst: Path, props: Mapping[str, str]) -> None:
    """Write `src` as `dst` with `props` as metadata: one self-contained file unless protobuf's
    2 GiB limit forces the weights into `dst.name + ".data"` (counted in the reported size)."""
    model = onnx.load(str(src), load_external_data=True)
    set_props(model, props)
    if model.ByteSize() < PROTOBUF_LIMIT:
        onnx.save_model(model, str(dst))
    else:
        onnx.save_model(
            model,
            str(dst),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=f"{dst.name}.data",
            size_threshold=1024,
        )


def _major(version: str) -> str:
    return version.split(".", 1)[0]


def verify_fingerprint(
    source: Any,
    expected: str | None = None,
    expected_version: str = CONTRACT_VERSION,
    name: str | None = None,
) -> ModelMetadata:
    """Refuse a model built against a different contract than the generated one.

    `source` is an .onnx path or an onnxruntime session; `expected` defaults to
    `storyml_contract.CONTRACT_FINGERPRINT`, `expected_version` to its CONTRACT_VERSION. A model
    of another major version is refused first, by name; a model from before contract versions
    (no version key) is judged by its fingerprint alone. `name` names the model in the errors
    (default: the path). Returns the metadata when it matches.
    """
    if expected is None:
        from storyml_contract import CONTRACT_FINGERPRINT as expected
    meta = read_metadata(source)
    where = name or (str(source) if isinstance(source, (str, Path)) else "onnxruntime session")
    version = meta.contract_version
    if version is not None and _major(version) != _major(expected_version):
        raise UserError(
            f"{where}: the model was built for contract version {version}, but this storyml "
            f"reads contract version {expected_version}; major versions {_major(version)} and "
            f"{_major(expected_version)} differ, so labels, offsets or decode rules do. Rebuild the "
            f"model from the current specs (`storyml build`), or predict with a storyml whose "
            f"contract is {_major(version)}.x"
        )
    if meta.fingerprint is None:
        raise UserError(
            f"{where}: the model carries no contract fingerprint (metadata {KEY_FINGERPRINT!r}); "
            f"it was not exported by storyml. Re-export it with `storyml build`"
        )
    if meta.fingerprint != expected:
        raise UserError(
            f"{where}: the model was built against contract {meta.fingerprint}, but the generated "
            f"contract is {expected}. Rebuild the model from the current specs (`storyml build`), "
            f"or regenerate the contract (`storyml gen`) from the specs the model was built with"
        )
    return meta
