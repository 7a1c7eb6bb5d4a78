"""The character predictor: built from the spec, loss assembled from the contract, guarded training."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from contract_samples import random_labels
from hypothesis import given, settings
from hypothesis import strategies as st
from storyml_contract import (
    TOTAL_INPUT_FEATURES,
    TOTAL_OUTPUT_FEATURES,
    decode_outputs,
    encode_labels,
)
from storyml_contract.character_outputs import HEADS, OUTPUT_FIELDS
from torch.nn import functional as F

from codegen.spec.loader import load_specs
from codegen.spec.models import MlpModelFile
from storyml.errors import UserError
from storyml.train import mlp

SPECS = load_specs(Path(__file__).resolve().parents[1] / "specs")


def random_records(seed: int, n: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, TOTAL_INPUT_FEATURES)), random_labels(rng, n)
    return [
        {"id": f"r{seed}-{i}", "features": x[i].tolist(), "labels": y[i].tolist()} for i in range(n)
    ]


def perfect_outputs(targets: np.ndarray) -> np.ndarray:
    """Raw outputs that decode to `targets`: large logits for the hot class / true flags."""
    out = targets.copy()
    for f in OUTPUT_FIELDS:
        s = slice(f.offset, f.offset + f.width)
        if f.loss == "cross_entropy":
            out[:, s] = (targets[:, s] * 2 - 1) * 30.0
        elif f.loss == "bce_with_logits":
            out[:, s] = (targets[:, s] * 2 - 1) * 30.0
    return out


# ---------------------------------------------------------------- architecture


def test_model_has_exactly_the_spec_parameter_count():
    spec = SPECS.one(MlpModelFile)
    model = mlp.build_model(spec)
    assert mlp.count_parameters(model) == spec.parameters == 407_210


def test_a_spec_with_a_wrong_parameter_count_is_refused():
    spec = SPECS.one(MlpModelFile).model_copy(update={"parameters": 407_211})
    with pytest.raises(UserError, match="407,210 parameters but the spec declares 407,211"):
        mlp.build_model(spec)


def test_forward_gives_one_output_per_head_with_the_head_widths():
    model = mlp.build_model(SPECS.one(MlpModelFile)).eval()
    outs = model(torch.zeros(3, TOTAL_INPUT_FEATURES))
    assert [tuple(o.shape) for o in outs] == [(3, h.width) for h in HEADS]
    assert mlp.concat_heads(outs).shape == (3, TOTAL_OUTPUT_FEATURES)


# ---------------------------------------------------------------- loss


def test_every_output_position_takes_part_in_the_loss():
    """No gaps or overlaps in the slices: moving any one of the 42 outputs away from a perfect
    prediction raises the loss of exactly the head that owns it."""
    targets = random_labels(np.random.default_rng(1), 4)
    perfect = torch.tensor(perfect_outputs(targets), dtype=torch.float32)
    y = torch.tensor(targets, dtype=torch.float32)
    _, base = mlp.character_loss(perfect, y)
    owner = {i: h.name for h in HEADS for i in range(h.offset, h.offset + h.width)}
    for i in range(TOTAL_OUTPUT_FEATURES):
        moved = perfect.clone()
        # Push against the target: a wrong class / flag gets a large logit, a scalar moves by 3.
        moved[:, i] = -moved[:, i] if abs(float(moved[0, i])) == 30.0 else moved[:, i] + 3.0
        _, heads = mlp.character_loss(moved, y)
        changed = {name for name in heads if not torch.isclose(heads[name], base[name], atol=1e-6)}
        assert changed == {owner[i]}, f"output {i}"


def test_head_weights_scale_the_total_as_the_contract_says():
    rng = np.random.default_rng(2)
    out = torch.tensor(rng.normal(size=(5, TOTAL_OUTPUT_FEATURES)), dtype=torch.float32)
    y = torch.tensor(random_labels(rng, 5), dtype=torch.float32)
    total, per_head = mlp.character_loss(out, y)
    assert torch.isclose(total, sum(h.weight * per_head[h.name] for h in HEADS))
    heavier = tuple(h._replace(weight=h.weight + 0.5) if h.name == "speech" else h for h in HEADS)
    total2, _ = mlp.character_loss(out, y, heads=heavier)
    assert torch.isclose(total2 - total, 0.5 * per_head["speech"], atol=1e-6)


def test_one_hot_groups_use_cross_entropy_on_the_hot_index():
    rng = np.random.default_rng(3)
    out = torch.tensor(rng.normal(size=(6, TOTAL_OUTPUT_FEATURES)), dtype=torch.float32)
    y = torch.tensor(random_labels(rng, 6), dtype=torch.float32)
    field = next(f for f in OUTPUT_FIELDS if f.kind == "categorical")
    only = (field,)
    _, heads = mlp.character_loss(out, y, fields=only)
    s = slice(field.offset, field.offset + field.width)
    assert torch.isclose(heads[field.head], F.cross_entropy(out[:, s], y[:, s].argmax(1)))


# ---------------------------------------------------------------- decoding and metrics

logits = st.floats(min_value=-3.0, max_value=3.0, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(
            logits | st.sampled_from([0.0, 0.5, -0.5, 0.01, -0.01, 1.5]),
            min_size=TOTAL_OUTPUT_FEATURES,
            max_size=TOTAL_OUTPUT_FEATURES,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_batch_decoding_matches_the_contract_decoder(rows):
    """decode_batch is the generated decode_outputs, vectorised (flags, cut-offs, rounding, ties)."""
    expected = np.array([encode_labels(decode_outputs(r)) for r in rows])
    np.testing.assert_array_equal(mlp.decode_batch(np.array(rows)), expected)


def test_field_metrics_are_perfect_for_perfect_outputs_and_name_every_field():
    targets = random_labels(np.random.default_rng(4), 32)
    metrics = mlp.field_metrics(perfect_outputs(targets), targets)
    assert set(metrics) == {f"{f.head}.{f.name}" for f in OUTPUT_FIELDS}
    for f in OUTPUT_FIELDS:
        ((name, value),) = metrics[f"{f.head}.{f.name}"].items()
        if name == "accuracy":
            assert value == 1.0, f.name
        else:  # abs_cutoff zeroes |x| <= cutoff: at most that much error
            assert value <= (f.param or 0.0) + 1e-12, f.name


def test_field_metrics_see_a_wrong_class():
    targets = random_labels(np.random.default_rng(5), 10)
    outputs = perfect_outputs(targets)
    field = next(f for f in OUTPUT_FIELDS if f.kind == "categorical")
    outputs[:, field.offset : field.offset + field.width] = np.roll(
        outputs[:, field.offset : field.offset + field.width], 1, axis=1
    )
    assert mlp.field_metrics(outputs, targets)[f"{field.head}.{field.name}"]["accuracy"] == 0.0


# ---------------------------------------------------------------- training


def test_training_reduces_the_loss_and_is_deterministic(tmp_path):
    train, val = random_records(10, 96), random_records(11, 32)
    model, metrics = mlp.train_mlp(SPECS, train, val, tmp_path / "a", max_epochs=4, seed=7)
    losses = [h["train_loss"] for h in metrics["history"]]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert metrics["parameters"] == SPECS.one(MlpModelFile).parameters
    assert set(metrics["fields"]) == {f"{f.head}.{f.name}" for f in OUTPUT_FIELDS}
    assert (tmp_path / "a" / mlp.MODEL_FILE).is_file() and (
        tmp_path / "a" / mlp.METRICS_FILE
    ).is_file()
    again, metrics2 = mlp.train_mlp(SPECS, train, val, tmp_path / "b", max_epochs=4, seed=7)
    assert metrics2 == metrics
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values())
    )
    loaded = mlp.load_model(SPECS, tmp_path / "a" / mlp.MODEL_FILE)
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values())
    )


def test_a_non_finite_loss_stops_training_with_the_last_good_weights(tmp_path):
    train, val = random_records(12, 40), random_records(13, 8)
    train[0]["features"][5] = math.nan  # in every batch: the loss is NaN at the first step
    with pytest.raises(
        mlp.MlpTrainingDiverged, match=r"epoch 1, step 1 of the epoch.*loss"
    ) as info:
        mlp.train_mlp(SPECS, train, val, tmp_path, max_epochs=3)
    assert isinstance(info.value, UserError)
    saved = torch.load(tmp_path / mlp.MODEL_FILE, weights_only=True)
    assert all(torch.isfinite(t).all() for t in saved.values())
    assert info.value.metrics["diverged"]["epoch"] == 1


def test_records_of_the_wrong_width_are_refused_by_id(tmp_path):
    train = random_records(14, 4)
    train[2]["labels"] = train[2]["labels"][:-1]
    with pytest.raises(
        UserError, match=r"training records: record 'r14-2' has 41 labels, expected 42"
    ):
        mlp.train_mlp(SPECS, train, random_records(15, 4), tmp_path, max_epochs=1)


def test_a_step_into_non_finite_weights_is_undone(tmp_path, monkeypatch):
    """A finite loss and gradient whose update makes the weights NaN: the next step's loss shows
    it, and the saved weights are the ones from before that update."""
    train, val = random_records(15, 800), random_records(16, 8)  # several steps of the batch size
    real_step = torch.optim.AdamW.step
    steps, before = [], {}

    def poisoned_step(self, *args, **kwargs):
        steps.append(1)
        if len(steps) == 2:
            for group in self.param_groups:
                for p in group["params"]:
                    before[id(p)] = p.detach().clone()
                    p.data.fill_(math.nan)
            return None
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", poisoned_step)
    with pytest.raises(mlp.MlpTrainingDiverged, match="loss"):
        mlp.train_mlp(SPECS, train, val, tmp_path, max_epochs=1)
    saved = torch.load(tmp_path / mlp.MODEL_FILE, weights_only=True)
    assert all(torch.isfinite(t).all() for t in saved.values())
    assert sorted(t.sum().item() for t in saved.values()) == sorted(
        t.sum().item() for t in before.values()
    )
