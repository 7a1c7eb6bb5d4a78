"""The NaN guard: training stops at the first non-finite loss or gradient and keeps the last good checkpoint."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from safetensors.torch import load_file
from transformers import (
    DistilBertConfig,
    DistilBertForSequenceClassification,
    Trainer,
    TrainingArguments,
)

from storyml.errors import UserError
from storyml.train.guard import NonFiniteGuard, NonFiniteTrainingError, check_finite, gradient_norm

NAN_STEP = 3  # the optimizer step whose loss the test poisons


@given(
    step=st.integers(0, 10**6),
    loss=st.floats(allow_nan=False, allow_infinity=False),
    norm=st.floats(min_value=0, allow_nan=False, allow_infinity=False),
)
def test_finite_values_pass(step, loss, norm):
    check_finite(step, loss=loss, grad_norm=norm, eval_loss=None)


@given(
    step=st.integers(0, 10**6),
    bad=st.sampled_from([math.nan, math.inf, -math.inf]),
    name=st.sampled_from(["loss", "grad_norm"]),
)
def test_a_non_finite_value_stops_naming_the_step(step, bad, name):
    with pytest.raises(NonFiniteTrainingError) as caught:
        check_finite(step, **{name: torch.tensor(bad)})
    assert caught.value.step == step
    assert f"step {step}:" in str(caught.value)
    assert name.replace("_", " ") in str(caught.value)
    assert isinstance(caught.value, UserError)  # the CLI reports it in one line, exit 2


def test_gradient_norm_is_the_global_l2_norm():
    layer = torch.nn.Linear(5, 3)
    layer(torch.randn(4, 5)).pow(2).sum().backward()
    expected = torch.nn.utils.clip_grad_norm_(layer.parameters(), float("inf"))
    assert gradient_norm(layer.parameters()) == pytest.approx(float(expected), rel=1e-6)
    layer.weight.grad[0, 0] = math.nan
    assert math.isnan(gradient_norm(layer.parameters()))


class _Rows(torch.utils.data.Dataset):
    """Eight fixed sequences with single labels: enough for a few optimizer steps."""

    def __init__(self):
        generator = torch.Generator().manual_seed(0)
        self.ids = torch.randint(5, 50, (8, 6), generator=generator)

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {
            "input_ids": self.ids[i],
            "attention_mask": torch.ones(6, dtype=torch.long),
            "labels": int(i % 2),
        }


class _PoisonedTrainer(Trainer):
    """Stands in for the MPS failure: the loss turns NaN at optimizer step NAN_STEP."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if model.training and self.state.global_step + 1 == NAN_STEP:
            loss = loss * math.nan
        return loss


def test_training_stops_at_the_nan_step_and_keeps_the_last_good_checkpoint(tmp_path: Path):
    torch.manual_seed(0)
    model = DistilBertForSequenceClassification(
        DistilBertConfig(
            vocab_size=50,
            dim=16,
            n_layers=1,
            n_heads=2,
            hidden_dim=32,
            max_position_embeddings=16,
            num_labels=2,
        )
    )
    args = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=2,
        num_train_epochs=2,
        learning_rate=1e-2,
        save_strategy="steps",
        save_steps=2,
        logging_steps=1,
        logging_nan_inf_filter=False,
        report_to="none",
        disable_tqdm=True,
        dataloader_pin_memory=False,
    )
    trainer = _PoisonedTrainer(
        model=model, args=args, train_dataset=_Rows(), callbacks=[NonFiniteGuard()]
    )

    with pytest.raises(NonFiniteTrainingError) as caught:
        trainer.train()

    assert caught.value.step == NAN_STEP
    good = tmp_path / "checkpoint-2"
    assert f"step {NAN_STEP}:" in str(caught.value) and str(good) in str(caught.value)
    # Nothing was saved after the failure, and the checkpoint holds finite weights.
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-2"]
    saved = load_file(str(good / "model.safetensors"))
    assert all(torch.isfinite(t).all() for t in saved.values())
    # The poisoned gradients were never applied: the model in memory is still the step-2 model.
    for name, tensor in model.state_dict().items():
        if name in saved:
            assert torch.equal(tensor, saved[name]), name
