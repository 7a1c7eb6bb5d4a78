"""Fine-tuning the event classifier and NER tagger: losses, thresholds, weights, metrics, runs, resume."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import get_args

import numpy as np
import pytest
import torch
import yaml
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import f1_score
from storyml_contract.text import (
    BIO_LABEL_INDEX,
    EVENT_AT_LEAST_ONE,
    EVENT_THRESHOLD,
    IGNORE_INDEX,
    NUM_BIO_LABELS,
    NUM_EVENT_KINDS,
)
from tokenizers import Tokenizer
from transformers import (
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    TrainerCallback,
)

from codegen.spec.loader import Entry, SpecSet, load_specs
from codegen.spec.training import ClassWeights, EncodersFile, TaskOverride, TextTrainingFile
from storyml.data.bio import TokenClassificationCollator
from storyml.data.events import generate_events
from storyml.errors import UserError
from storyml.train.encoders import load_encoder
from storyml.train.multitask import MultiTaskTextModel, weighted_token_loss
from storyml.train.text import (
    CLASS_WEIGHT_RULES,
    LabelledCollator,
    encode_records,
    event_metrics,
    event_predictions,
    ner_class_weights,
    ner_metrics,
    resolve_settings,
    train_text_models,
)

REPO = Path(__file__).resolve().parents[1]
EPOCHS = 2


def _with_training(specs: SpecSet, **changes) -> SpecSet:
    """The same specs with text_training fields (and hyper-parameters) replaced."""
    entry = specs.of_kind("text_training")[0]
    hyper = entry.model.hyperparameters.model_copy(update=changes.pop("hyperparameters", {}))
    model = entry.model.model_copy(update={"hyperparameters": hyper, **changes})
    entries = dict(specs.entries)
    entries["text_training"] = [Entry(entry.doc, model)]
    return replace(specs, entries=entries)


@pytest.fixture(scope="module")
def specs():
    return load_specs(REPO / "specs")


@pytest.fixture(scope="module")
def quick_specs(specs):
    """The fast profile cut to two epochs, so each training run takes seconds."""
    fast = specs.one(TextTrainingFile).profiles["fast"].model_copy(update={"epochs": EPOCHS})
    profiles = {**specs.one(TextTrainingFile).profiles, "fast": fast}
    return _with_training(specs, profiles=profiles)


@pytest.fixture(scope="module")
def records(specs):
    events = generate_events(specs, seed=7, per_kind=6)
    return events[:36], events[36:]


@pytest.fixture(scope="module")
def finished_run(quick_specs, records, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    return run_dir, train_text_models(quick_specs, *records, None, run_dir, profile="fast")


# ---------------------------------------------------------------- settings


def _device_batch_sizes(spec: TextTrainingFile, device: str) -> dict:
    on = spec.device_settings(device)
    return on.batch_sizes() if on else {}


def test_fast_profile_overlays_the_base_hyperparameters(specs):
    spec = specs.one(TextTrainingFile)
    base = resolve_settings(specs, device="cpu")
    fast = resolve_settings(specs, profile="fast", device="cpu")
    on_cpu = _device_batch_sizes(spec, "cpu")
    assert base.encoder == specs.one(EncodersFile).default
    assert base.hyperparameters == {**spec.hyperparameters.model_dump(), **on_cpu}
    override = spec.profiles["fast"].model_dump(exclude_none=True)
    assert fast.encoder == override.pop("encoder")
    assert fast.task_overrides == {k: v for k, v in override.pop("tasks").items() if v}
    assert fast.hyperparameters == {**spec.hyperparameters.model_dump(), **override, **on_cpu}
    assert resolve_settings(specs, preset="tiny").encoder == "tiny"


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_the_device_entry_sets_precision_batches_and_workers_after_the_profile(specs, device):
    """What specs/text/training.yaml declares for a device is what a run on it trains with, and
    it changes the run's fingerprint (a model trained another way is not reused)."""
    spec = specs.one(TextTrainingFile)
    declared = spec.device_settings(device)
    assert declared is not None
    settings = resolve_settings(specs, profile="fast", device=device)
    assert settings.device == device and settings.precision == declared.precision
    assert settings.dataloader_workers == declared.dataloader_workers
    for key, value in _device_batch_sizes(spec, device).items():
        assert settings.hyperparameters[key] == value
    other = resolve_settings(specs, profile="fast", device="cuda" if device == "cpu" else "cpu")
    assert settings.fingerprint() != other.fingerprint()


def test_a_profile_task_entry_changes_that_task_alone(specs):
    """A value under a profile's `tasks.<name>` replaces the profile's for that task's model and
    no other, and it is part of the run's fingerprint."""
    spec = specs.one(TextTrainingFile)
    profile, task = next(
        (name, task) for name, p in spec.profiles.items() for task in p.tasks if p.tasks[task]
    )
    declared = spec.profiles[profile].tasks[task].model_dump(exclude_none=True)
    settings = resolve_settings(specs, profile=profile, device="cpu")
    assert settings.task_hyperparameters(task) == {**settings.hyperparameters, **declared}
    for other in set(spec.tasks) - {task}:
        own = spec.profiles[profile].tasks.get(other)
        own_values = own.model_dump(exclude_none=True) if own else {}
        assert settings.task_hyperparameters(other) == {**settings.hyperparameters, **own_values}
    cleared = spec.profiles[profile].model_copy(update={"tasks": {}})
    without = _with_training(specs, profiles={**spec.profiles, profile: cleared})
    assert resolve_settings(without, profile=profile, device="cpu").fingerprint() != (
        settings.fingerprint()
    )


@pytest.mark.parametrize(
    ("tasks", "multi_task", "message"),
    [
        ({"event_clasifier": {"epochs": 2}}, False, "did you mean 'event_classifier'?"),
        ({"ner_classifier": {"epochs": 2}}, True, "need `multi_task: false`"),
    ],
)
def test_a_profile_task_entry_must_name_a_task_of_separate_models(
    tmp_path, tasks, multi_task, message
):
    from spec_helpers import copy_specs, set_key, storyml

    copied = copy_specs(tmp_path)
    set_key(copied / "text/training.yaml", ("multi_task",), multi_task)
    fast = yaml.safe_load((copied / "text/training.yaml").read_text(encoding="utf-8"))
    set_key(
        copied / "text/training.yaml",
        ("profiles", "fast"),
        {**fast["profiles"]["fast"], "tasks": tasks},
    )
    result = storyml("check", "--specs", str(copied))
    assert result.returncode == 2, result.stderr
    key = f"profiles.fast.tasks.{next(iter(tasks))}"
    [line] = [line for line in result.stderr.splitlines() if key in line]
    assert "training.yaml:" in line and message in line
    assert "Traceback" not in result.stderr


def test_reduced_precision_on_cpu_is_refused(tmp_path):
    from spec_helpers import copy_specs, set_key, storyml

    copied = copy_specs(tmp_path)
    set_key(copied / "text/training.yaml", ("devices", "cpu", "precision"), "bf16")
    result = storyml("check", "--specs", str(copied))
    assert result.returncode == 2
    assert "training.yaml:" in result.stderr and "use fp32 on cpu" in result.stderr


# ---------------------------------------------------------------- losses


def _one_batch(specs, records, task: str):
    model, tokenizer = load_encoder(
        specs,
        "tiny",
        task,
        NUM_EVENT_KINDS if task == "sequence" else NUM_BIO_LABELS,
        corpus=[r["text"] for r in records[0]],
        problem_type="multi_label_classification" if task == "sequence" else None,
    )
    features = encode_records(tokenizer, records[0][:16])
    if task == "sequence":
        batch = LabelledCollator(tokenizer.pad_token_id, "labels", None)(
            [{**f, "labels": f["event_labels"]} for f in features]
        )
    else:
        batch = TokenClassificationCollator(tokenizer.pad_token_id)(
            [{**f, "labels": f["ner_labels"]} for f in features]
        )
    return model, batch


@pytest.mark.parametrize("task", ["sequence", "token"])
def test_training_steps_reduce_the_loss_on_a_batch(specs, records, task):
    model, batch = _one_batch(specs, records, task)
    weights = ner_class_weights(batch["labels"].tolist(), cap=10.0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)

    def loss() -> torch.Tensor:
        out = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            **({"labels": batch["labels"]} if task == "sequence" else {}),
        )
        return (
            out.loss
            if task == "sequence"
            else weighted_token_loss(out.logits, batch["labels"], weights)
        )

    def eval_loss() -> float:
        model.eval()  # no dropout: the same batch scores the same
        with torch.no_grad():
            return float(loss())

    before = eval_loss()
    model.train()
    for _ in range(15):
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()
    assert eval_loss() < 0.8 * before


# ---------------------------------------------------------------- thresholds, weights, metrics

finite_logits = arrays(
    np.float64,
    st.tuples(st.integers(1, 12), st.just(NUM_EVENT_KINDS)),
    elements=st.floats(-20, 20, allow_nan=False),
)


@given(finite_logits)
def test_event_decision_is_the_spec_threshold_on_the_sigmoid(logits):
    """Training scores what the engine will decide: the kinds above the threshold, or the most
    likely kind of a sentence with none above it when the contract asks for at least one."""
    probabilities = 1 / (1 + np.exp(-logits))
    rows_clear_of_the_cut = (np.abs(probabilities - EVENT_THRESHOLD) > 1e-9).all(axis=1)
    expected = probabilities > EVENT_THRESHOLD
    if EVENT_AT_LEAST_ONE:
        none = ~expected.any(axis=1)
        expected[none, logits[none].argmax(axis=1)] = True
    decided = event_predictions(logits)
    assert decided.shape == logits.shape
    assert np.array_equal(decided[rows_clear_of_the_cut], expected[rows_clear_of_the_cut])


@given(finite_logits, st.data())
def test_event_f1_matches_sklearn_over_the_kinds_that_occur(logits, data):
    labels = data.draw(arrays(np.float32, logits.shape, elements=st.sampled_from([0.0, 1.0])))
    predicted, truth = event_predictions(logits), labels > 0.5
    metrics = event_metrics(logits, labels)
    occurring = [k for k in range(NUM_EVENT_KINDS) if predicted[:, k].any() or truth[:, k].any()]
    if not occurring:
        assert metrics == {"micro_f1": 1.0, "macro_f1": 1.0}
        return
    assert metrics["micro_f1"] == pytest.approx(
        f1_score(truth, predicted, average="micro", zero_division=0)
    )
    assert metrics["macro_f1"] == pytest.approx(
        f1_score(truth, predicted, average="macro", labels=occurring, zero_division=0)
    )


label_rows = st.lists(
    st.lists(
        st.integers(IGNORE_INDEX, NUM_BIO_LABELS - 1).map(lambda x: x if x >= 0 else IGNORE_INDEX),
        max_size=20,
    ),
    max_size=12,
)


@given(label_rows, st.floats(1.0, 50.0), st.floats(0.0, 1.0))
def test_ner_class_weights_are_inverse_frequency_tempered_and_capped(rows, cap, power):
    weights = ner_class_weights(rows, cap, power).numpy()
    counts = np.bincount(
        [t for row in rows for t in row if t != IGNORE_INDEX], minlength=NUM_BIO_LABELS
    )
    assert weights.shape == (NUM_BIO_LABELS,)
    assert (weights > 0).all() and (weights <= np.float32(cap)).all()
    for label, count in enumerate(counts):
        inverse = counts.sum() / (NUM_BIO_LABELS * count) if count else 0.0
        expected = cap if count == 0 else min(cap, inverse**power)
        assert weights[label] == pytest.approx(expected, rel=1e-5)
    order = np.argsort(counts[counts > 0], kind="stable")
    seen = weights[counts > 0][order]
    assert (np.diff(seen) <= 1e-6).all()  # the rarer a label, the heavier (until the cap)


def test_power_zero_weighs_every_seen_label_alike():
    rows = [[BIO_LABEL_INDEX["O"]] * 1000 + [BIO_LABEL_INDEX["B-CHARACTER"]]]
    weights = ner_class_weights(rows, cap=10.0, power=0.0)
    assert float(weights[BIO_LABEL_INDEX["O"]]) == float(weights[BIO_LABEL_INDEX["B-CHARACTER"]])


def test_spec_cap_holds_on_skewed_data():
    cap = 10.0
    rows = [[BIO_LABEL_INDEX["O"]] * 1000 + [BIO_LABEL_INDEX["B-CHARACTER"]]]
    weights = ner_class_weights(rows, cap)
    assert float(weights[BIO_LABEL_INDEX["B-CHARACTER"]]) == cap
    assert float(weights[BIO_LABEL_INDEX["O"]]) < 1.0


def test_every_class_weight_rule_of_the_spec_has_a_weighting():
    members = get_args(get_args(ClassWeights)[0])
    rules = {get_args(m.model_fields["rule"].annotation)[0]: m for m in members}
    assert set(rules) == set(CLASS_WEIGHT_RULES)
    rows = [[BIO_LABEL_INDEX["O"]] * 50 + [BIO_LABEL_INDEX["B-CHARACTER"]]]
    for rule, model in rules.items():
        spec = model.model_validate(
            {"rule": rule, **({"cap": 10.0} if "cap" in model.model_fields else {})}
        )
        weights = CLASS_WEIGHT_RULES[rule](rows, spec)
        assert weights.shape == (NUM_BIO_LABELS,) and bool((weights > 0).all())


def _ids(tags: list[str]) -> list[int]:
    return [IGNORE_INDEX] + [BIO_LABEL_INDEX[t] for t in tags] + [IGNORE_INDEX]


@pytest.mark.parametrize(
    "predicted, expected_f1",
    [
        (["B-CHARACTER", "O", "B-OBJECT", "I-OBJECT"], 1.0),
        (["B-CHARACTER", "O", "B-OBJECT", "O"], 0.5),  # a span one token short is wrong
        (
            ["B-CHARACTER", "O", "I-OBJECT", "I-OBJECT"],
            2 / 3,
        ),  # an orphan I- opens nothing (strict): recall 1/2
        (["B-LOCATION", "O", "B-OBJECT", "I-OBJECT"], 0.5),  # right span, wrong category
    ],
)
def test_entity_f1_is_strict(predicted, expected_f1):
    truth = _ids(["B-CHARACTER", "O", "B-OBJECT", "I-OBJECT"])
    pad = [IGNORE_INDEX] * 3
    metrics = ner_metrics(np.array([_ids(predicted) + pad]), np.array([truth + pad]))
    assert metrics["entity_f1"] == pytest.approx(expected_f1)


# ---------------------------------------------------------------- whole runs


def test_a_run_trains_saves_and_returns_both_models(finished_run, records):
    run_dir, result = finished_run
    assert set(result["models"]) == {"event_classifier", "ner_classifier"}
    assert result["history"] == {"event_classifier": "trained", "ner_classifier": "trained"}
    tokenizer = Tokenizer.from_file(str(run_dir / "tokenizer.json"))
    encoded = tokenizer.encode(records[1][0]["text"])
    input_ids = torch.tensor([encoded.ids])
    mask = torch.tensor([encoded.attention_mask])
    reloaded = {
        "event_classifier": AutoModelForSequenceClassification,
        "ner_classifier": AutoModelForTokenClassification,
    }
    shapes = {
        "event_classifier": (1, NUM_EVENT_KINDS),
        "ner_classifier": (1, len(encoded.ids), NUM_BIO_LABELS),
    }
    for name, model in result["models"].items():
        logits = model(input_ids, mask).logits  # positional: what the ONNX export wraps
        assert tuple(logits.shape) == shapes[name]
        again = reloaded[name].from_pretrained(run_dir / name).eval()
        assert torch.allclose(again(input_ids, mask).logits, logits, atol=1e-6)
        saved = json.loads((run_dir / name / "metrics.json").read_text())
        assert saved == result["metrics"][name]
    assert result["models"]["event_classifier"].config.problem_type == "multi_label_classification"
    for key in ("macro_f1", "micro_f1"):
        assert 0.0 <= result["metrics"]["event_classifier"][key] <= 1.0
    assert 0.0 <= result["metrics"]["ner_classifier"]["entity_f1"] <= 1.0
    assert not (
        run_dir / "checkpoints" / "event_classifier"
    ).exists()  # superseded by the saved model


def test_running_again_reuses_the_finished_models(quick_specs, records, finished_run):
    run_dir, first = finished_run
    again = train_text_models(quick_specs, *records, None, run_dir, profile="fast")
    assert again["history"] == {
        "event_classifier": "finished earlier",
        "ner_classifier": "finished earlier",
    }
    assert again["metrics"] == first["metrics"]


def test_a_run_dir_refuses_other_data(quick_specs, records, finished_run):
    run_dir, _ = finished_run
    with pytest.raises(UserError, match="started with other data or settings"):
        train_text_models(quick_specs, records[0][:-1], records[1], None, run_dir, profile="fast")


class _Interrupt(TrainerCallback):
    """Kills training right after the first checkpoint is written, like a ^C or a lost machine."""

    def on_save(self, args, state, control, **kwargs):
        raise KeyboardInterrupt


def test_an_interrupted_run_resumes_from_its_checkpoint_to_the_same_model(
    quick_specs, records, finished_run, tmp_path
):
    _, uninterrupted = finished_run
    with pytest.raises(KeyboardInterrupt):
        train_text_models(
            quick_specs, *records, None, tmp_path, profile="fast", callbacks=[_Interrupt()]
        )
    checkpoints = list((tmp_path / "checkpoints" / "event_classifier").glob("checkpoint-*"))
    assert len(checkpoints) == 1 and not (tmp_path / "event_classifier").exists()

    resumed = train_text_models(quick_specs, *records, None, tmp_path, profile="fast")

    assert resumed["history"]["event_classifier"] == f"resumed from {checkpoints[0]}"
    assert resumed["history"]["ner_classifier"] == "trained"
    for name, model in resumed["models"].items():
        expected = uninterrupted["models"][name].state_dict()
        for key, tensor in model.state_dict().items():
            assert torch.allclose(tensor, expected[key], atol=1e-6), (name, key)
    assert resumed["metrics"] == uninterrupted["metrics"]


def test_a_task_trains_for_its_own_epochs(quick_specs, records, tmp_path):
    """A profile's per-task epochs decide how long that model trains; the other keeps the
    profile's."""
    fast = quick_specs.one(TextTrainingFile).profiles["fast"]
    own = fast.model_copy(update={"tasks": {"event_classifier": TaskOverride(epochs=EPOCHS - 1)}})
    specs = _with_training(
        quick_specs, profiles={**quick_specs.one(TextTrainingFile).profiles, "fast": own}
    )
    result = train_text_models(specs, *records, None, tmp_path, profile="fast")
    assert result["metrics"]["event_classifier"]["epoch"] == EPOCHS - 1
    assert result["metrics"]["ner_classifier"]["epoch"] == EPOCHS


def test_multi_task_switch_trains_one_shared_encoder(quick_specs, records, tmp_path):
    specs = _with_training(quick_specs, multi_task=True)
    result = train_text_models(specs, *records, None, tmp_path, profile="fast")
    assert set(result["models"]) == {"multi_task"}
    model = result["models"]["multi_task"]
    assert isinstance(model, MultiTaskTextModel)
    metrics = result["metrics"]["multi_task"]
    assert metrics["mean_f1"] == pytest.approx((metrics["macro_f1"] + metrics["entity_f1"]) / 2)
    batch = result["tokenizer"](
        [r["text"] for r in records[1][:3]], padding=True, return_tensors="pt"
    )
    out = model(batch["input_ids"], batch["attention_mask"])
    length = batch["input_ids"].shape[1]
    assert tuple(out.event_logits.shape) == (3, NUM_EVENT_KINDS)
    assert tuple(out.ner_logits.shape) == (3, length, NUM_BIO_LABELS)
    again = MultiTaskTextModel.from_pretrained(tmp_path / "multi_task").eval()
    out_again = again(batch["input_ids"], batch["attention_mask"])
    assert torch.allclose(out_again.event_logits, out.event_logits, atol=1e-6)
    assert torch.allclose(out_again.ner_logits, out.ner_logits, atol=1e-6)
    assert math.isfinite(metrics["loss"])
