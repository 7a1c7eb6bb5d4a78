"""Stop training at the first non-finite loss or gradient norm, before it poisons the weights.

DeBERTa on Apple MPS produced NaN gradients part-way through an epoch; once an optimizer step
applies them, every later step trains a ruined model, and the Hugging Face Trainer by default
hides NaN losses from its logs (`logging_nan_inf_filter`). The guard raises instead:

- `NonFiniteGuard`, a TrainerCallback, checks the gradient norm after backward and before the
  optimizer step (so the weights in memory are still those of the last good step) and every
  logged loss / grad_norm. Raising out of the Trainer also means no checkpoint is written after
  the failure: the last checkpoint on disk is the last good one, and the message names it.
- `check_finite(step, loss=..., grad_norm=...)` does the same for a hand-written loop, and
  `gradient_norm(parameters)` computes the norm to check.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import torch
from transformers import TrainerCallback
from transformers.trainer_utils import get_last_checkpoint

from ..errors import UserError

# Logged values the guard checks: a NaN in any of them means training has gone wrong.
LOGGED_VALUES = ("loss", "grad_norm", "eval_loss")


class NonFiniteTrainingError(UserError):
    """Training produced a NaN or infinite loss or gradient; it stopped at `step`."""

    def __init__(self, step: int, what: str, value: float, checkpoint: str | None = None):
        self.step, self.what, self.value, self.checkpoint = step, what, value, checkpoint
        kept = (
            f"the last good checkpoint is {checkpoint}"
            if checkpoint
            else "no checkpoint had been saved yet"
        )
        super().__init__(
            f"training stopped at step {step}: {what} is {value} (not finite); {kept}. "
            "Lower the learning rate or train on another device (CPU/CUDA), then resume"
        )


def gradient_norm(parameters: Iterable[torch.nn.Parameter]) -> float:
    """The global L2 norm of the gradients (NaN or inf if any gradient is)."""
    grads = [p.grad.detach() for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    return float(
        torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    )


def check_finite(
    step: int, checkpoint: str | Path | None = None, **values: float | torch.Tensor | None
) -> None:
    """Raise NonFiniteTrainingError naming `step` if any given value is NaN or infinite."""
    for name, value in values.items():
        if value is None:
            continue
        number = float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
        if not math.isfinite(number):
            raise NonFiniteTrainingError(
                step, name.replace("_", " "), number, str(checkpoint) if checkpoint else None
            )


class NonFiniteGuard(TrainerCallback):
    """Raise NonFiniteTrainingError on a non-finite gradient norm or logged loss."""

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        # global_step counts finished optimizer steps; this is the next one.
        _checked(args, state.global_step + 1, gradient_norm=gradient_norm(model.parameters()))

    def on_log(self, args, state, control, logs=None, **kwargs):
        _checked(
            args, state.global_step, **{k: v for k, v in (logs or {}).items() if k in LOGGED_VALUES}
        )


def _checked(args, step: int, **values) -> None:
    """`check_finite`, naming the Trainer's last checkpoint only when it fails (no disk scan per step)."""
    try:
        check_finite(step, **values)
    except NonFiniteTrainingError as exc:
        raise NonFiniteTrainingError(
            exc.step, exc.what, exc.value, _last_checkpoint(args.output_dir)
        ) from None


def _last_checkpoint(output_dir: str | None) -> str | None:
    if output_dir is None or not Path(output_dir).is_dir():
        return None
    return get_last_checkpoint(output_dir)
