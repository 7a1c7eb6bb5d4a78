"""Fine-tune the event classifier (multi-label) and the NER tagger (BIO) with the Hugging Face Trainer.

`train_text_models(specs, records_train, records_eval, preset, run_dir, profile)` trains what
specs/text/training.yaml asks for: two models (one per task), or with `multi_task: true` one
shared encoder with both heads (storyml/train/multitask.py). Every model returns logits from
`forward(input_ids, attention_mask)`.

- Event classifier: `problem_type="multi_label_classification"` (sigmoid + BCE); metrics
  threshold the logits at EVENT_LOGIT_THRESHOLD, the contract's probability threshold in logit
  space; best model by the spec's `best_metric` (macro-F1).
- NER tagger: cross-entropy, weighted per BIO label by the spec's `class_weights` rule
  (CLASS_WEIGHT_RULES: uniform, or tempered and capped inverse frequency in the training
  tokens); strict IOB2 entity F1 with seqeval.
- Batches pad dynamically (storyml.data.bio's collator) and are grouped by length; seeds fix
  initial weights and data order; early stopping and best-model reload on the eval set.
- Every run writes checkpoints under `run_dir/checkpoints/<task>/`; running again with the same
  run_dir, data and settings resumes from the last checkpoint (and skips finished tasks). A
  NaN/inf loss or gradient stops training at once (storyml/train/guard.py).

Run directory:
    run.json                 what the run was started with (data digest, preset, settings)
    tokenizer.json           the engine's tokenizer (HF tokenizers format)
    <task>/                  save_pretrained of the best model, and metrics.json
    checkpoints/<task>/      Trainer checkpoints, removed once the task has finished

Scaling out, with no code change: the Trainer runs on whatever `accelerate` configured.
    accelerate launch --config_file cfg.yaml -m storyml build ...  # GPUs, nodes (README: More hardware)
    torchrun --nproc_per_node 4 -m storyml build ...               # 4 processes on one machine
Each process trains on its own shard (DistributedDataParallel; on CPU too, see distributed.py);
process 0 writes, the others wait. `batch_size` in the spec is per process, so the global batch
is batch_size x processes; scale the learning rate with it if needed. With a CUDA device
visible the Trainer uses it by itself.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from seqeval.metrics import f1_score, precision_score, recall_score
from seqeval.scheme import IOB2
from storyml_contract import TOKENIZER_FILE
from storyml_contract.text import (
    BIO_LABELS,
    EVENT_KIND_INDEX,
    EVENT_KIND_LABELS,
    EVENT_MULTI_LABEL,
    IGNORE_INDEX,
    MAX_SEQ_LENGTH,
    NUM_BIO_LABELS,
    NUM_EVENT_KINDS,
)
from transformers import (
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    EarlyStoppingCallback,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_utils import get_last_checkpoint

from codegen.spec.training import TextTrainingFile
from storyml.fsutil import atomic_directory, atomic_write_text

from ..data.bio import ATTENTION_MASK, INPUT_IDS, TokenClassificationCollator, align_batch
from ..data.decode import event_decisions
from ..data.prose import is_written
from ..data.records import TextRecord
from ..data.resample import first_person_words, mention_pools, resample_mentions
from ..errors import UserError
from .distributed import (
    CheckpointBarrier,
    main_process_writes,
    trainer_device_arguments,
    training_device,
)
from .encoders import build_tokenizer, default_preset, engine_tokenizer_json, load_encoder
from .guard import NonFiniteGuard
from .multitask import MultiTaskTextModel, weighted_token_loss
from .progress import TrainingProgress, quiet_log_printing

RUN_FILE = "run.json"
METRICS_FILE = "metrics.json"
CHECKPOINTS_DIR = "checkpoints"
MULTI_TASK = "multi_task"  # directory and metrics key of the shared-encoder model

# Spec hyper-parameter -> TrainingArguments field. warmup_steps below 1 is a fraction of all steps.
HYPERPARAMETER_ARGUMENTS = {
    "learning_rate": "learning_rate",
    "batch_size": "per_device_train_batch_size",
    "eval_batch_size": "per_device_eval_batch_size",
    "warmup_ratio": "warmup_steps",
    "weight_decay": "weight_decay",
    "epochs": "num_train_epochs",
    "max_grad_norm": "max_grad_norm",
}
SAMPLING = {True: "group_by_length", False: "random"}
TIMING_SUFFIXES = ("runtime", "per_second")


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    seed: int
    multi_task: bool
    hyperparameters: dict[str, Any]
    encoder: str
    tasks: dict[str, Any]  # artifact name -> SequenceTask | TokenTask
    mention_resampling: float = 0.0  # share of mentions redrawn per epoch
    cpu_backend: str = "gloo"  # process-group backend of several processes on CPU
    device: str = "cpu"  # the kind of device this run trains on (DEVICE_KINDS)
    precision: str = "fp32"  # autocast precision on that device
    dataloader_workers: int = 0
    # task name -> keys replacing `hyperparameters` for that task's model (a profile's `tasks`)
    task_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def task_hyperparameters(self, name: str) -> dict[str, Any]:
        """The hyper-parameters one task's model trains with: the profile's, then its own."""
        return {**self.hyperparameters, **self.task_overrides.get(name, {})}

    def task_named(self, head: str) -> tuple[str, Any]:
        return next((name, task) for name, task in self.tasks.items() if task.head == head)

    def fingerprint(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "multi_task": self.multi_task,
            "encoder": self.encoder,
            "hyperparameters": self.hyperparameters,
            "task_overrides": self.task_overrides,
            "mention_resampling": self.mention_resampling,
            "tasks": {k: v.model_dump() for k, v in self.tasks.items()},
            "device": self.device,
            "precision": self.precision,
        }


def resolve_settings(
    specs, preset: str | None = None, profile: str | None = None, device: str | None = None
) -> Settings:
    """Base hyper-parameters, overlaid with a named profile when asked, then with the spec's
    settings for the device this run trains on (`device`, default: the one visible); the preset."""
    spec = specs.one(TextTrainingFile)
    hyper = spec.hyperparameters.model_dump()
    encoder = default_preset(specs)
    task_overrides: dict[str, dict[str, Any]] = {}
    if profile is not None:
        if profile not in spec.profiles:
            raise UserError(
                f"no `{profile}` profile under `profiles` in specs/text/training.yaml "
                f"(known: {', '.join(sorted(spec.profiles)) or 'none'})"
            )
        override = spec.profiles[profile].model_dump(exclude_none=True)
        encoder = override.pop("encoder", encoder)
        task_overrides = {name: values for name, values in override.pop("tasks").items() if values}
        hyper.update(override)
    if not EVENT_MULTI_LABEL:
        raise UserError(
            "text training fine-tunes a multi-label event classifier, but the text labels "
            "spec sets event_kinds.multi_label: false"
        )
    resampling = spec.mention_resampling.share if spec.mention_resampling is not None else 0.0
    device = device or training_device()
    on_device = spec.device_settings(device)
    if on_device is not None:
        hyper.update(on_device.batch_sizes())
    return Settings(
        seed=spec.seed,
        multi_task=spec.multi_task,
        hyperparameters=hyper,
        encoder=preset or encoder,
        tasks=dict(spec.tasks),
        mention_resampling=resampling,
        cpu_backend=spec.distributed.cpu_backend,
        device=device,
        precision=on_device.precision if on_device is not None else "fp32",
        task_overrides=task_overrides,
        dataloader_workers=on_device.dataloader_workers if on_device is not None else 0,
    )


# ---------------------------------------------------------------- features


def event_vector(kinds: Sequence[str]) -> list[float]:
    """Multi-hot event kinds in contract index order."""
    unknown = [k for k in kinds if k not in EVENT_KIND_INDEX]
    if unknown:
        raise UserError(
            f"unknown event kinds {unknown} (the text labels spec lists: {', '.join(EVENT_KIND_LABELS)})"
        )
    vector = [0.0] * NUM_EVENT_KINDS
    for kind in kinds:
        vector[EVENT_KIND_INDEX[kind]] = 1.0
    return vector


def is_silver(record: TextRecord) -> bool:
    """A silver record (storyml/silver): partial token labels, event kinds not all decided."""
    return bool(record.get("silver"))


def has_event_kinds(record: TextRecord) -> bool:
    """Whether the event classifier trains on the record: not on a silver record (whatever kinds
    its rules guessed), nor on one without kinds (written prose kept from the classifier)."""
    return not is_silver(record) and bool(record["event_kinds"])


def encode_records(tokenizer, records: Sequence[TextRecord]) -> list[dict[str, list]]:
    """Token ids, BIO labels and the event vector of each events-dataset record.

    A silver record labels only tokens in its entities (B-/I-) and in its `outside` ranges (O);
    its other tokens get IGNORE_INDEX. A record without event kinds (silver, or written prose
    kept from the classifier) gets the event vector UNKNOWN_EVENTS (all -1): the event classifier
    never trains on it.
    """
    for i, record in enumerate(records):
        missing = [k for k in ("text", "event_kinds", "entities") if k not in record]
        if missing:
            raise UserError(f"events record {record.get('id', i)!r} lacks {', '.join(missing)}")
    outside = [r.get("outside", []) if is_silver(r) else None for r in records]
    aligned = align_batch(
        tokenizer,
        [r["text"] for r in records],
        [r["entities"] for r in records],
        MAX_SEQ_LENGTH,
        outside,
    )
    return [
        {
            INPUT_IDS: ids,
            ATTENTION_MASK: mask,
            "ner_labels": tags,
            "event_labels": event_vector(r["event_kinds"])
            if has_event_kinds(r)
            else UNKNOWN_EVENTS,
        }
        for ids, mask, tags, r in zip(
            aligned.input_ids, aligned.attention_mask, aligned.labels, records
        )
    ]


# The event vector of a record without kinds: not trained on.
UNKNOWN_EVENTS = [-1.0] * NUM_EVENT_KINDS


def has_event_labels(feature: Mapping[str, Any]) -> bool:
    return not feature["event_labels"] or feature["event_labels"][0] >= 0


def task_features(
    features: Sequence[Mapping[str, list]] | EpochFeatures, keys: Mapping[str, str]
) -> list[dict[str, list]] | EpochFeatures:
    """Each feature's columns renamed as a model's forward() expects (`keys`: model name -> column).

    The event classifier alone (its `labels` column is `event_labels`) leaves out the records
    without event kinds."""
    events_only = keys.get("labels") == "event_labels"
    if isinstance(features, EpochFeatures):
        return features.renamed(keys, events_only=events_only)
    return [
        {name: f[column] for name, column in keys.items()}
        for f in features
        if not events_only or has_event_labels(f)
    ]


class EpochFeatures(torch.utils.data.Dataset):
    """Training features encoded on demand from records whose mentions are redrawn each epoch.

    Item `i` of epoch `e` is the same on every run (storyml/data/resample.py seeds it with
    (seed, e, i)); `EpochSetter` moves the epoch forward as the Trainer starts each one.
    """

    def __init__(
        self,
        records: Sequence[TextRecord],
        tokenizer,
        pools: Mapping[str, Sequence[str]],
        kept: frozenset[str],
        share: float,
        seed: int,
        keys: Mapping[str, str] | None = None,
        indices: Sequence[int] | None = None,
    ):
        self.records, self.tokenizer, self.pools, self.kept = records, tokenizer, pools, kept
        self.share, self.seed, self.keys, self.epoch = share, seed, keys, 0
        self.indices = list(range(len(records))) if indices is None else list(indices)

    def renamed(self, keys: Mapping[str, str], events_only: bool = False) -> EpochFeatures:
        """The same records under `keys`; for the event classifier alone (`events_only`), only
        those with event kinds."""
        indices = [i for i in self.indices if not events_only or has_event_kinds(self.records[i])]
        return EpochFeatures(
            self.records,
            self.tokenizer,
            self.pools,
            self.kept,
            self.share,
            self.seed,
            keys,
            indices,
        )

    def __len__(self) -> int:
        return len(self.indices)

    def epoch_record(self, j: int) -> TextRecord:
        """Item j's record as this epoch trains on it.

        A silver record keeps its text (its `outside` ranges are offsets into it); so does a
        written sentence (its mentions are already real English); the rest are resampled."""
        i = self.indices[j]
        record = self.records[i]
        if is_silver(record) or is_written(record):
            return record
        rng = random.Random(f"{self.seed}:{self.epoch}:{i}")
        return resample_mentions(record, self.pools, self.share, rng, self.kept)

    def __getitem__(self, j: int) -> dict[str, list]:
        (feature,) = encode_records(self.tokenizer, [self.epoch_record(j)])
        return {
            name: feature[column] for name, column in (self.keys or {k: k for k in feature}).items()
        }


class EpochSetter(TrainerCallback):
    """Tells an EpochFeatures dataset which epoch the Trainer is starting."""

    def __init__(self, dataset: Any):
        self.dataset = dataset

    def on_epoch_begin(self, args, state, control, **kwargs):
        if isinstance(self.dataset, EpochFeatures):
            self.dataset.epoch = int(state.epoch or 0)


class LabelledCollator:
    """bio's dynamic padding for ids, mask and token labels; float label vectors stacked as they are."""

    def __init__(self, pad_token_id: int, vector_key: str | None, token_key: str | None):
        self.pad = TokenClassificationCollator(pad_token_id)
        self.vector_key, self.token_key = vector_key, token_key

    def __call__(self, features: Sequence[Mapping[str, list]]) -> dict[str, torch.Tensor]:
        rows = [
            {
                INPUT_IDS: f[INPUT_IDS],
                ATTENTION_MASK: f[ATTENTION_MASK],
                **({"labels": f[self.token_key]} if self.token_key else {}),
            }
            for f in features
        ]
        batch = self.pad(rows)
        if self.token_key:
            batch[self.token_key] = batch.pop("labels")
        if self.vector_key:
            batch[self.vector_key] = torch.tensor(
                [f[self.vector_key] for f in features], dtype=torch.float32
            )
        return batch


# ---------------------------------------------------------------- class weights and metrics


def ner_class_weights(
    label_rows: Sequence[Sequence[int]], cap: float, power: float = 1.0
) -> torch.Tensor:
    """weight(c) = (N / (K * n_c)) ** power, capped at `cap` (a label never seen gets `cap`).

    N counts labelled tokens (IGNORE_INDEX excluded), K = NUM_BIO_LABELS, n_c the tokens of label
    c: a label as frequent as under a uniform spread weighs 1, rarer labels more, up to the cap.
    `power` tempers the skew: 1 is plain inverse frequency, 0.5 its square root, 0 no weighting.
    """
    flat = np.fromiter((t for row in label_rows for t in row if t != IGNORE_INDEX), dtype=np.int64)
    counts = np.bincount(flat, minlength=NUM_BIO_LABELS).astype(np.float64)
    weights = np.full(NUM_BIO_LABELS, cap, dtype=np.float64)
    np.divide(counts.sum(), NUM_BIO_LABELS * counts, out=weights, where=counts > 0)
    np.power(weights, power, out=weights, where=counts > 0)
    return torch.tensor(np.minimum(weights, cap), dtype=torch.float32)


# Per class_weights rule of specs/text/training.yaml: the NER loss's weight per BIO label.
CLASS_WEIGHT_RULES: dict[str, Callable[[Sequence[Sequence[int]], Any], torch.Tensor]] = {
    "inverse_frequency": lambda rows, spec: ner_class_weights(rows, spec.cap, spec.power),
    "uniform": lambda rows, spec: torch.ones(NUM_BIO_LABELS),
}


def event_predictions(logits: np.ndarray) -> np.ndarray:
    """The contract's decision per kind (storyml/data/decode.py)."""
    return event_decisions(logits)


def event_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Micro- and macro-F1 over event kinds. Kinds absent from both truth and predictions are
    left out of the macro mean (nothing to score), so a small eval set is not penalised for them."""
    predicted, truth = event_predictions(logits), np.asarray(labels) > 0.5
    tp = (predicted & truth).sum(axis=0)
    fp = (predicted & ~truth).sum(axis=0)
    fn = (~predicted & truth).sum(axis=0)
    scored = (tp + fp + fn) > 0
    per_kind = np.where(scored, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    micro_denominator = 2 * tp.sum() + fp.sum() + fn.sum()
    return {
        "micro_f1": float(2 * tp.sum() / micro_denominator) if micro_denominator else 1.0,
        "macro_f1": float(per_kind[scored].mean()) if scored.any() else 1.0,
    }


def tag_sequences(
    predicted_ids: np.ndarray, label_ids: np.ndarray
) -> tuple[list[list[str]], list[list[str]]]:
    """BIO tag strings at the labelled positions of each row (special tokens and padding dropped)."""
    truth, predicted = [], []
    for pred_row, label_row in zip(np.asarray(predicted_ids), np.asarray(label_ids)):
        keep = label_row != IGNORE_INDEX
        truth.append([BIO_LABELS[i] for i in label_row[keep]])
        predicted.append([BIO_LABELS[i] for i in pred_row[keep]])
    return truth, predicted


def ner_metrics(predicted_ids: np.ndarray, label_ids: np.ndarray) -> dict[str, float]:
    """Strict IOB2 entity precision, recall and F1 (seqeval): a span counts only if exact."""
    truth, predicted = tag_sequences(predicted_ids, label_ids)
    strict = {"mode": "strict", "scheme": IOB2, "zero_division": 0}
    return {
        "entity_f1": float(f1_score(truth, predicted, **strict)),
        "entity_precision": float(precision_score(truth, predicted, **strict)),
        "entity_recall": float(recall_score(truth, predicted, **strict)),
    }


def _argmax_tokens(logits, labels):
    """Keep only the arg-max label id per token during evaluation: [b, seq] instead of [b, seq, 15]."""
    return logits.argmax(dim=-1)


def _multi_task_logits(logits, labels):
    event_logits, ner_logits = logits
    return event_logits, ner_logits.argmax(dim=-1)


# ---------------------------------------------------------------- tasks


class WeightedTokenTrainer(Trainer):
    """Trainer whose token-classification loss weighs each BIO label (rare labels count more)."""

    def __init__(self, *args, class_weights: torch.Tensor, **kwargs):
        super().__init__(*args, **kwargs)
        self.class_weights = class_weights
        self.loss_is_scaled_for_ga = (
            False  # a per-batch mean: the Trainer scales it for accumulation
        )

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs["labels"]
        outputs = model(**{k: v for k, v in inputs.items() if k != "labels"})
        loss = weighted_token_loss(
            outputs.logits, labels, self.class_weights.to(outputs.logits.device)
        )
        return (loss, outputs) if return_outputs else loss


@dataclass(frozen=True)
class TaskPlan:
    """How one trained model is built, fed, scored and reloaded."""

    name: str  # artifact / directory name
    best_metric: str
    build: Callable[[], torch.nn.Module]
    columns: dict[str, str]  # forward() argument -> feature column
    collator: Callable
    compute_metrics: Callable
    preprocess_logits: Callable | None
    trainer_class: type[Trainer] = Trainer
    trainer_kwargs: dict | None = None
    reload: Callable[[Path], torch.nn.Module] | None = None


def _plans(
    specs, settings: Settings, tokenizer, class_weights: torch.Tensor, local_path
) -> list[TaskPlan]:
    event_name, event_task = settings.task_named("sequence")
    ner_name, ner_task = settings.task_named("token")
    pad = tokenizer.pad_token_id
    common = {"tokenizer": tokenizer, "local_path": local_path, "seed": settings.seed}

    def event_model():
        return load_encoder(
            specs,
            settings.encoder,
            "sequence",
            NUM_EVENT_KINDS,
            labels=EVENT_KIND_LABELS,
            problem_type="multi_label_classification",
            **common,
        )[0]

    def ner_model():
        return load_encoder(
            specs, settings.encoder, "token", NUM_BIO_LABELS, labels=BIO_LABELS, **common
        )[0]

    def multi_task_model():
        encoder = load_encoder(specs, settings.encoder, "encoder", **common)[0]
        return MultiTaskTextModel(encoder, NUM_EVENT_KINDS, NUM_BIO_LABELS, class_weights)

    if settings.multi_task:

        def multi_task_metrics(prediction):
            (event_logits, ner_ids), (event_labels, ner_labels) = (
                prediction.predictions,
                prediction.label_ids,
            )
            metrics = {
                **event_metrics(event_logits, event_labels),
                **ner_metrics(ner_ids, ner_labels),
            }
            metrics["mean_f1"] = (
                metrics[event_task.best_metric] + metrics[ner_task.best_metric]
            ) / 2
            return metrics

        return [
            TaskPlan(
                MULTI_TASK,
                "mean_f1",
                multi_task_model,
                {
                    INPUT_IDS: INPUT_IDS,
                    ATTENTION_MASK: ATTENTION_MASK,
                    "event_labels": "event_labels",
                    "ner_labels": "ner_labels",
                },
                LabelledCollator(pad, "event_labels", "ner_labels"),
                multi_task_metrics,
                _multi_task_logits,
                reload=MultiTaskTextModel.from_pretrained,
            )
        ]
    return [
        TaskPlan(
            event_name,
            event_task.best_metric,
            event_model,
            {INPUT_IDS: INPUT_IDS, ATTENTION_MASK: ATTENTION_MASK, "labels": "event_labels"},
            LabelledCollator(pad, "labels", None),
            lambda p: event_metrics(p.predictions, p.label_ids),
            None,
            reload=lambda d: AutoModelForSequenceClassification.from_pretrained(
                d, local_files_only=True
            ),
        ),
        TaskPlan(
            ner_name,
            ner_task.best_metric,
            ner_model,
            {INPUT_IDS: INPUT_IDS, ATTENTION_MASK: ATTENTION_MASK, "labels": "ner_labels"},
            TokenClassificationCollator(pad),
            lambda p: ner_metrics(p.predictions, p.label_ids),
            _argmax_tokens,
            WeightedTokenTrainer,
            {"class_weights": class_weights},
            reload=lambda d: AutoModelForTokenClassification.from_pretrained(
                d, local_files_only=True
            ),
        ),
    ]


def training_arguments(
    hyper: Mapping[str, Any], settings: Settings, output_dir: Path, best_metric: str
) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(output_dir),
        **{arg: hyper[key] for key, arg in HYPERPARAMETER_ARGUMENTS.items()},
        train_sampling_strategy=SAMPLING[hyper["group_by_length"]],
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,  # plus the best one, which the Trainer always keeps
        load_best_model_at_end=True,
        metric_for_best_model=best_metric,
        greater_is_better=True,
        seed=settings.seed,
        data_seed=settings.seed,
        logging_strategy="epoch",
        logging_nan_inf_filter=False,  # a NaN loss must show (and stop training), not be averaged away
        remove_unused_columns=False,
        report_to="none",
        dataloader_pin_memory=settings.device != "cpu",
        dataloader_num_workers=settings.dataloader_workers,
        bf16=settings.precision == "bf16",  # the spec's devices.<kind>.precision: autocast
        fp16=settings.precision == "fp16",
        disable_tqdm=True,
        **trainer_device_arguments(settings.cpu_backend),  # several processes on CPU: DDP over gloo
    )


def quality_metrics(evaluated: Mapping[str, float]) -> dict[str, float]:
    """The eval metrics that describe the model; timings are left out so reruns write the same file."""
    return {
        k.removeprefix("eval_"): float(v)
        for k, v in sorted(evaluated.items())
        if not k.endswith(TIMING_SUFFIXES)
    }


def train_task(
    plan: TaskPlan,
    settings: Settings,
    train: list[dict] | EpochFeatures,
    evaluation: list[dict],
    run_dir: Path,
    callbacks: Sequence = (),
    verbose: bool = False,
) -> tuple[torch.nn.Module, dict[str, float], Path, str, float | None]:
    """Train one model (resuming from its last checkpoint if any) and save the best one.

    Returns the model, its eval metrics, its directory, how it was obtained ("trained",
    "resumed from <checkpoint>", or "finished earlier": reloaded from a completed run) and the
    training examples per second this process saw (None when nothing was trained). The speed
    is reported, never written beside the model: a rerun writes the same files.
    """
    final_dir = run_dir / plan.name
    if (final_dir / METRICS_FILE).is_file() and plan.reload is not None:
        metrics = json.loads((final_dir / METRICS_FILE).read_text(encoding="utf-8"))
        return plan.reload(final_dir), metrics, final_dir, "finished earlier", None
    checkpoints = run_dir / CHECKPOINTS_DIR / plan.name
    set_seed(settings.seed)
    hyper = settings.task_hyperparameters(plan.name)
    model = plan.build()
    train_dataset = task_features(train, plan.columns)
    trainer = plan.trainer_class(
        model=model,
        args=training_arguments(hyper, settings, checkpoints, plan.best_metric),
        train_dataset=train_dataset,
        eval_dataset=task_features(evaluation, plan.columns),
        data_collator=plan.collator,
        compute_metrics=plan.compute_metrics,
        preprocess_logits_for_metrics=plan.preprocess_logits,
        callbacks=[
            NonFiniteGuard(),
            EpochSetter(train_dataset),
            CheckpointBarrier(),
            EarlyStoppingCallback(hyper["early_stopping_patience"]),
            *callbacks,
        ],
        **(plan.trainer_kwargs or {}),
    )
    if not verbose:
        quiet_log_printing(trainer)
        trainer.add_callback(TrainingProgress(plan.name, plan.best_metric))
    resume = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    trained = trainer.train(resume_from_checkpoint=resume)
    metrics = quality_metrics(trainer.evaluate())
    best = trainer.model  # the best epoch's weights: load_best_model_at_end
    if not isinstance(best, (PreTrainedModel, MultiTaskTextModel)):  # what a TaskPlan builds
        raise TypeError(
            f"the trainer holds a {type(best).__name__}, not a model a task plan builds"
        )
    if (
        trainer.is_world_process_zero()
    ):  # under torchrun/accelerate every process gets here; one writes
        with atomic_directory(final_dir) as tmp:
            best.save_pretrained(tmp)
            atomic_write_text(
                tmp / METRICS_FILE, json.dumps(metrics, indent=2, sort_keys=True) + "\n"
            )
        shutil.rmtree(
            checkpoints, ignore_errors=True
        )  # the finished model supersedes its checkpoints
    trainer.accelerator.wait_for_everyone()
    speed = trained.metrics.get("train_samples_per_second")
    how = f"resumed from {resume}" if resume else "trained"
    return best, metrics, final_dir, how, float(speed) if speed is not None else None


# ---------------------------------------------------------------- runs


def records_digest(records: Sequence[Mapping[str, Any]]) -> str:
    canonical = json.dumps(list(records), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _claim_run_dir(run_dir: Path, manifest: dict[str, Any]) -> None:
    """Record what this run trains; refuse to resume a run started with other data or settings."""
    path = run_dir / RUN_FILE
    text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if path.is_file():
        if path.read_text(encoding="utf-8") != text:
            raise UserError(
                f"{path}: this run directory was started with other data or settings; "
                "use a new run directory (or delete this one) to train from scratch"
            )
        return
    atomic_write_text(path, text)


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, path: Path) -> None:
    atomic_write_text(path, engine_tokenizer_json(tokenizer))


def train_text_models(
    specs,
    records_train: Sequence[TextRecord],
    records_eval: Sequence[TextRecord],
    preset: str | None,
    run_dir: Path | str,
    profile: str | None = None,
    *,
    local_path: Path | str | None = None,
    callbacks: Sequence = (),
    verbose: bool = False,
    tasks: Sequence[str] | None = None,
    tokenizer: PreTrainedTokenizerFast | None = None,
) -> dict[str, Any]:
    """Train the text models on events-dataset records; resume if `run_dir` holds an interrupted run.

    `profile` names a hyper-parameter profile of specs/text/training.yaml (None: its base values).
    `preset` names an encoder preset (None: the profile's encoder if it names one, else the
    encoders spec's default); `local_path` replaces the preset's source (see encoders.py).
    Returns {"models": {name: model}, "tokenizer", "metrics": {name: {...}}, "paths": {name: dir,
    "tokenizer": file, "run": file}, "history": {name: "trained" | "resumed from <checkpoint>" |
    "finished earlier"}, "examples_per_second": {name: float | None}, "settings": Settings}; the names are the spec's task names
    (event_classifier, ner_classifier), or "multi_task" for the shared-encoder model.
    `tasks` names the only models to train (None: all); `tokenizer` reuses one (a student trained
    beside its teacher must read text as the teacher's other model does) instead of building it.
    """
    if not records_train or not records_eval:
        raise UserError(
            "text training needs both training and evaluation records "
            f"(got {len(records_train)} and {len(records_eval)})"
        )
    settings = resolve_settings(specs, preset, profile)
    run_dir = Path(run_dir)
    manifest = {
        "settings": settings.fingerprint(),
        "train": records_digest(records_train),
        "eval": records_digest(records_eval),
        "local_path": str(local_path or ""),
    }
    if tasks is not None:
        manifest["tasks"] = sorted(tasks)
    # Every process builds the same tokenizer (a learned vocabulary is deterministic); one writes.
    tokenizer = tokenizer or build_tokenizer(
        specs, settings.encoder, [r["text"] for r in records_train], local_path
    )
    tokenizer_path = run_dir / TOKENIZER_FILE

    def claim_and_save() -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        _claim_run_dir(run_dir, manifest)
        save_tokenizer(tokenizer, tokenizer_path)

    main_process_writes(settings.cpu_backend, claim_and_save)
    encoded_train, evaluation = (
        encode_records(tokenizer, records_train),
        encode_records(tokenizer, records_eval),
    )
    _, ner_task = settings.task_named("token")
    rule = ner_task.class_weights
    weights = CLASS_WEIGHT_RULES[rule.rule]([f["ner_labels"] for f in encoded_train], rule)
    train: list[dict[str, list[Any]]] | EpochFeatures = encoded_train
    if settings.mention_resampling > 0:
        train = EpochFeatures(
            records_train,
            tokenizer,
            mention_pools(specs),
            first_person_words(specs),
            settings.mention_resampling,
            settings.seed,
        )
    result: dict[str, Any] = {
        "models": {},
        "metrics": {},
        "history": {},
        "examples_per_second": {},
        "tokenizer": tokenizer,
        "settings": settings,
        "paths": {"tokenizer": tokenizer_path, "run": run_dir / RUN_FILE},
    }
    for plan in _plans(specs, settings, tokenizer, weights, local_path):
        if tasks is not None and plan.name not in tasks:
            continue
        model, metrics, directory, how, speed = train_task(
            plan, settings, train, evaluation, run_dir, callbacks, verbose
        )
        result["examples_per_second"][plan.name] = speed
        model.eval()
        result["models"][plan.name], result["metrics"][plan.name] = model, metrics
        result["paths"][plan.name], result["history"][plan.name] = directory, how
    return result
