"""The character predictor: a multi-head MLP built, trained and scored from the specs.

Every width, slice, loss and weight comes from the `mlp_model` spec and the
generated contract (`HEADS`, `OUTPUT_FIELDS`); nothing here knows how many heads
there are or where a field sits in the 42-wide output vector.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import math
import random
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from storyml_contract import TOTAL_INPUT_FEATURES, TOTAL_OUTPUT_FEATURES, enums
from storyml_contract.character_outputs import HEADS, OUTPUT_FIELDS, FieldInfo, HeadInfo
from torch import nn
from torch.nn import functional as F

from codegen.spec.build import default_seed
from codegen.spec.models import MlpModelFile
from codegen.spec.output_kinds import OUTPUT_KINDS, FieldForm
from storyml.errors import UserError
from storyml.fsutil import atomic_output, atomic_write_text
from storyml.train.distributed import training_device
from storyml.train.guard import NonFiniteTrainingError, check_finite, gradient_norm

log = logging.getLogger(__name__)

MODEL_FILE = "character_predictor.pt"
METRICS_FILE = "metrics.json"

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU}


# ---------------------------------------------------------------- model


class CharacterPredictor(nn.Module):
    """Shared trunk, then one Linear -> activation -> Linear head per output head.

    `forward` returns one tensor per head in `HEADS` order: the ONNX outputs are
    the heads, and `concat_heads` rebuilds the contract's 42-wide vector.
    """

    def __init__(
        self, spec, n_inputs: int = TOTAL_INPUT_FEATURES, heads: Sequence[HeadInfo] = HEADS
    ):
        super().__init__()
        act = ACTIVATIONS[spec.activation]
        layers: list[nn.Module] = []
        width = n_inputs
        for layer in spec.trunk:
            layers += [nn.Linear(width, layer.width), act()]
            if layer.dropout > 0:
                layers.append(nn.Dropout(layer.dropout))
            width = layer.width
        self.trunk = nn.Sequential(*layers)
        self.head_names = tuple(h.name for h in heads)
        self.heads = nn.ModuleDict(
            {
                h.name: nn.Sequential(
                    nn.Linear(width, spec.head_hidden), act(), nn.Linear(spec.head_hidden, h.width)
                )
                for h in heads
            }
        )

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        shared = self.trunk(features)
        return tuple(self.heads[name](shared) for name in self.head_names)


def concat_heads(outputs: Sequence[torch.Tensor]) -> torch.Tensor:
    """Heads side by side, in HEADS order: the 42-wide vector `decode_outputs` reads."""
    return torch.cat(tuple(outputs), dim=-1)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build_model(spec) -> CharacterPredictor:
    """Build from the `mlp_model` spec and refuse if the spec's declared parameter count disagrees."""
    model = CharacterPredictor(spec)
    count = count_parameters(model)
    if count != spec.parameters:
        raise UserError(
            f"mlp_model {spec.name}: the built model has {count:,} parameters but the spec "
            f"declares {spec.parameters:,}; update `parameters` in the spec"
        )
    return model


# ---------------------------------------------------------------- loss


def _cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # Targets are one-hot groups; the class is the hot index.
    return F.cross_entropy(logits, target.argmax(dim=-1))


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "cross_entropy": _cross_entropy,
    "bce_with_logits": F.binary_cross_entropy_with_logits,
    "mse": F.mse_loss,
}


def field_slice(f: FieldInfo) -> slice:
    return slice(f.offset, f.offset + f.width)


def character_loss(
    outputs: torch.Tensor,
    targets: torch.Tensor,
    heads: Sequence[HeadInfo] = HEADS,
    fields: Sequence[FieldInfo] = OUTPUT_FIELDS,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Weighted sum over heads of the summed per-field losses; also returns each head's loss.

    `outputs` and `targets` are [batch, 42] (heads concatenated, targets as `encode_labels` writes them).
    """
    per_head: dict[str, torch.Tensor] = {}
    for f in fields:
        s = field_slice(f)
        term = LOSSES[f.loss](outputs[:, s], targets[:, s])
        per_head[f.head] = per_head[f.head] + term if f.head in per_head else term
    # Added left to right, as builtin sum would (without its int 0 start, which is not a tensor).
    total = functools.reduce(
        lambda a, b: a + b, [h.weight * per_head[h.name] for h in heads if h.name in per_head]
    )
    return total, per_head


# ---------------------------------------------------------------- decoding and metrics


def _variants(f: FieldInfo) -> int:
    return len(getattr(enums, f.enum)) if f.enum else 0


def decode_batch(
    outputs: np.ndarray,
    fields: Sequence[FieldInfo] = OUTPUT_FIELDS,
    variants: Callable[[FieldInfo], int] = _variants,
) -> np.ndarray:
    """Decode [batch, 42] raw outputs into label space, row by row equal to
    `encode_labels(decode_outputs(row))`, but vectorised: each field by its decode rule's row
    of the output-kind table (codegen.spec.output_kinds), the table the generated decoders
    are rendered from. `variants` gives a field's enum size (for clamping indices)."""
    outputs = np.asarray(outputs, dtype=np.float64)
    decoded = np.zeros_like(outputs)
    for f in fields:
        s = field_slice(f)
        decoded[:, s] = FieldForm.of_info(f).decode_numpy(outputs[:, s], variants(f))
    return decoded


def _accuracy_categorical(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.mean(pred.argmax(axis=1) == true.argmax(axis=1)))


def _accuracy_elementwise(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.mean(np.isclose(pred, true)))


def _mae(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.mean(np.abs(pred - true)))


# A kind's training metric (OUTPUT_KINDS[kind].train_metric) -> (name it is reported under,
# metric on decoded predictions against targets).
TRAIN_METRICS: dict[str, tuple[str, Callable[[np.ndarray, np.ndarray], float]]] = {
    "class_accuracy": ("accuracy", _accuracy_categorical),
    "accuracy": ("accuracy", _accuracy_elementwise),
    "mae": ("mae", _mae),
}


def field_metrics(
    outputs: np.ndarray, targets: np.ndarray, fields: Sequence[FieldInfo] = OUTPUT_FIELDS
) -> dict[str, dict[str, float]]:
    """Per field `head.name`: accuracy (categorical, flags, index) or MAE (scalars) after decoding."""
    decoded = decode_batch(outputs, fields)
    targets = np.asarray(targets, dtype=np.float64)
    result = {}
    for f in fields:
        name, metric = TRAIN_METRICS[OUTPUT_KINDS[f.kind].train_metric]
        s = field_slice(f)
        result[f"{f.head}.{f.name}"] = {name: metric(decoded[:, s], targets[:, s])}
    return result


# ---------------------------------------------------------------- training


class MlpTrainingDiverged(NonFiniteTrainingError):
    """The loss or gradient norm became non-finite; the last good weights were saved to `checkpoint`.

    `model` holds those weights and `metrics` the history up to the failure.
    """

    def __init__(
        self,
        epoch: int,
        step: int,
        global_step: int,
        what: str,
        value: float,
        checkpoint: Path,
        model: nn.Module,
        metrics: dict,
    ):
        super().__init__(global_step, what, value, str(checkpoint))
        self.epoch, self.step_in_epoch, self.model, self.metrics = epoch, step, model, metrics
        self.args = (
            f"character predictor: epoch {epoch}, step {step} of the epoch: {self.args[0]}",
        )


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def records_to_tensors(records: Sequence[dict], where: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack `features` and `labels` of dataset records, refusing wrong widths by record id."""
    if not records:
        raise UserError(f"{where}: no records")
    for i, r in enumerate(records):
        for key, width in (("features", TOTAL_INPUT_FEATURES), ("labels", TOTAL_OUTPUT_FEATURES)):
            if key not in r:
                raise UserError(f"{where}: record {r.get('id', i)!r} has no {key!r}")
            if len(r[key]) != width:
                raise UserError(
                    f"{where}: record {r.get('id', i)!r} has {len(r[key])} {key}, expected {width}"
                )
    x = torch.tensor([r["features"] for r in records], dtype=torch.float32)
    y = torch.tensor([r["labels"] for r in records], dtype=torch.float32)
    return x, y


@torch.no_grad()
def evaluate(
    model: CharacterPredictor, x: torch.Tensor, y: torch.Tensor, batch_size: int
) -> tuple[float, np.ndarray]:
    """Mean validation loss (batch-size weighted) and the raw 42-wide outputs."""
    model.eval()
    # Summed in float64 on the device: one transfer at the end, not one per batch.
    total, outs = torch.zeros((), dtype=torch.float64, device=x.device), []
    for start in range(0, len(x), batch_size):
        out = concat_heads(model(x[start : start + batch_size]))
        loss, _ = character_loss(out, y[start : start + batch_size])
        total += loss.double() * len(out)
        outs.append(out)
    return float(total) / len(x), torch.cat(outs).cpu().numpy()


def train_mlp(
    specs,
    train_records: Sequence[dict],
    val_records: Sequence[dict],
    out_dir: Path | str,
    max_epochs: int | None = None,
    seed: int | None = None,
) -> tuple[CharacterPredictor, dict]:
    """Train the character predictor; write `character_predictor.pt` and `metrics.json` to `out_dir`.

    The caller splits the data (by matrix cell, see storyml.data.characters.split_by_cell).
    `max_epochs` overrides the spec for fast runs; `seed` defaults to the build spec's. The returned model holds the weights with the
    best validation loss. If the loss or gradient norm becomes non-finite, training stops before
    the optimizer applies it, the last good weights are saved, and `MlpTrainingDiverged` is raised
    naming the epoch and step.
    """
    spec = specs.one(MlpModelFile)
    hp = spec.training
    epochs = hp.max_epochs if max_epochs is None else max_epochs
    if epochs < 1:
        raise UserError(f"max_epochs must be at least 1, got {epochs}")
    # Whole tensors on the training device: each step slices them, no Python-side batching.
    device = torch.device(training_device())
    x_train, y_train = (t.to(device) for t in records_to_tensors(train_records, "training records"))
    x_val, y_val = (t.to(device) for t in records_to_tensors(val_records, "validation records"))
    out_dir = Path(out_dir)

    seed = default_seed(specs) if seed is None else seed
    generator = seed_everything(seed)
    model = build_model(spec).to(device)
    # The weights before the last optimizer step, copied in place (no allocation per step):
    # a finite loss and gradient can still step into non-finite weights, which the next step's
    # loss reveals; then these are the last good ones.
    last_good = [t.detach().clone() for t in model.state_dict().values()]
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=hp.learning_rate, weight_decay=hp.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=hp.plateau.factor, patience=hp.plateau.patience
    )
    best_state: dict[str, torch.Tensor] | None = None
    best_loss, best_epoch, stale, global_step = math.inf, 0, 0, 0
    history: list[dict] = []
    for epoch in range(1, epochs + 1):
        model.train()
        # Drawn on the CPU generator, so the order is the same on every device.
        order = torch.randperm(len(x_train), generator=generator).to(device)
        seen, running = 0, torch.zeros((), dtype=torch.float64, device=device)
        for step, start in enumerate(range(0, len(order), hp.batch_size), start=1):
            global_step += 1
            idx = order[start : start + hp.batch_size]
            try:
                loss, _ = character_loss(concat_heads(model(x_train[idx])), y_train[idx])
                check_finite(global_step, loss=loss)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                check_finite(global_step, grad_norm=gradient_norm(model.parameters()))
            except NonFiniteTrainingError as exc:
                weights = list(model.state_dict().values())
                if not all(bool(torch.isfinite(t).all()) for t in weights):
                    _copy_into(weights, last_good)
                model.eval()
                metrics = _metrics(model, x_val, y_val, hp.batch_size, history, best_epoch, seed)
                model.cpu()
                metrics["diverged"] = {
                    "epoch": epoch,
                    "step": step,
                    "global_step": global_step,
                    "what": exc.what,
                }
                save(model, metrics, out_dir)
                raise MlpTrainingDiverged(
                    epoch,
                    step,
                    global_step,
                    exc.what,
                    exc.value,
                    out_dir / MODEL_FILE,
                    model,
                    metrics,
                ) from None
            _copy_into(last_good, list(model.state_dict().values()))
            optimizer.step()
            running += loss.detach().double() * len(idx)
            seen += len(idx)
        val_loss, _ = evaluate(model, x_val, y_val, hp.batch_size)
        scheduler.step(val_loss)
        history.append(
            {
                "epoch": epoch,
                "train_loss": float(running) / seen,
                "val_loss": val_loss,
                "lr": optimizer.param_groups[0]["lr"],
            }
        )
        if val_loss < best_loss:
            best_loss, best_state, best_epoch, stale = (
                val_loss,
                copy.deepcopy(model.state_dict()),
                epoch,
                0,
            )
        else:
            stale += 1
            if stale >= hp.early_stopping_patience:
                break
    if best_state is None:  # no validation loss was finite, so none was ever the best
        raise NonFiniteTrainingError(global_step, "validation loss", val_loss)
    model.load_state_dict(best_state)
    model.eval()
    metrics = _metrics(model, x_val, y_val, hp.batch_size, history, best_epoch, seed)
    metrics["device"] = device.type
    model.cpu()  # export and the saved weights are the CPU's, whatever trained them
    save(model, metrics, out_dir)
    return model, metrics


def _copy_into(targets: list[torch.Tensor], sources: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for target, source in zip(targets, sources):
            target.copy_(source)


def _metrics(
    model, x_val, y_val, batch_size: int, history: list[dict], best_epoch: int, seed: int
) -> dict:
    val_loss, val_outputs = evaluate(model, x_val, y_val, batch_size)
    return {
        "parameters": count_parameters(model),
        "epochs_run": len(history),
        "best_epoch": best_epoch,
        "val_loss": val_loss,
        "fields": field_metrics(val_outputs, y_val.cpu().numpy()),
        "history": history,
        "diverged": None,
        "seed": seed,
    }


def save(model: nn.Module, metrics: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_output(out_dir / MODEL_FILE, "wb") as f:
        torch.save(model.state_dict(), f)
    atomic_write_text(
        out_dir / METRICS_FILE,
        json.dumps(metrics, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
    )


def load_model(specs, path: Path | str) -> CharacterPredictor:
    """A trained character predictor from `character_predictor.pt` (a state dict)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such model file")
    model = build_model(specs.one(MlpModelFile))
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()
