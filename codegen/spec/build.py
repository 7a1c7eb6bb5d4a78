"""The `build` spec kind: what `storyml build` makes, per profile (default and --fast)."""

from __future__ import annotations

import math
from typing import Any, Literal, get_args

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from codegen.spec.corpus import CorpusFile
from codegen.spec.errors import SpecProblem, one_of
from codegen.spec.models import SpecModel
from codegen.spec.prose import AnnotatedProseFile
from codegen.spec.specset import SpecSet
from codegen.spec.training import EncodersFile, TextTrainingFile

# The template test splits of the events dataset (storyml.data.splits makes one per name).
SplitName = Literal["random", "held_out_template", "held_out_vocabulary"]
SPLIT_NAMES: tuple[SplitName, ...] = get_args(SplitName)


class SelfTraining(SpecModel):
    min_confidence: float = Field(
        ge=0.5,
        le=1.0,
        description="A teacher span (mean probability of its "
        "tokens) or O token below this trains at the ignore index.",
    )

    _finite = field_validator("min_confidence")(classmethod(lambda cls, v: _finite(v)))


def _finite(v: float) -> float:
    if not math.isfinite(v):
        raise ValueError(f"must be a finite number, got {v}")
    return v


class SilverData(SpecModel):
    """Real fiction with silver entity labels added to the NER tagger's training set."""

    corpus: str = Field(
        description="The `kind: corpus` spec to label (specs/text/corpus.yaml); needs the "
        "`silver` extra (spaCy)."
    )
    sentences: int | None = Field(
        None, ge=1, description="Label only the corpus's first N sentences; none: all of them."
    )
    self_training: SelfTraining | None = Field(
        None,
        description="One round of self-training: the NER tagger trained with the rule labels "
        "relabels the corpus, and a student tagger trains on its confident labels.",
    )


class ProseData(SpecModel):
    """Hand-written, hand-annotated sentences (`kind: annotated_prose` specs) added to the text
    models' training sets (the NER tagger's alone for a file with `train_event_kinds: false`)."""

    specs: list[str] | None = Field(
        None,
        min_length=1,
        description="Names of the annotated_prose specs to train on; none: every one.",
    )
    repeat: int = Field(
        1,
        ge=1,
        le=100,
        description="Each written sentence is seen this many times per epoch: a few hundred "
        "of them stand beside thousands of template sentences.",
    )


def _required_unless_extending(schema: dict[str, Any]) -> None:
    """JSON Schema: a profile that `extends` another may leave out the keys it inherits."""
    required = schema.pop("required", [])
    schema["if"] = {"required": ["extends"]}
    schema["else"] = {"required": required}


class BuildProfile(SpecModel):
    model_config = ConfigDict(json_schema_extra=_required_unless_extending)

    doc: str = ""
    extends: str | None = Field(
        None,
        description="Another profile of this file that this one starts from: every key this one "
        "leaves out is that profile's (all but `doc`); a key it sets replaces the whole value.",
    )
    encoder: str = Field(description="Encoder preset (specs/encoders.yaml) for the text models.")
    text_profile: str | None = Field(
        None,
        description="Hyper-parameter profile of specs/text/training.yaml; none: its main values.",
    )
    events_per_kind: int = Field(ge=10, description="`storyml data events --per-kind`.")
    character_variations: int | None = Field(
        None, ge=1, description="Examples per matrix cell; none: the matrix spec's value."
    )
    mlp_max_epochs: int | None = Field(None, ge=1, description="None: the MLP spec's max_epochs.")
    test_fraction: float = Field(gt=0.0, lt=0.5, description="Share of each test split.")
    held_out_splits: list[SplitName] = Field(
        default_factory=lambda: list(SPLIT_NAMES),
        min_length=1,
        description="Template test splits whose test side the text models never train on; "
        "the build writes and scores these only. A split left out is trained on: the models "
        "learn every template and word it would hold out, and it measures nothing. `random` "
        "is always held out (the INT8 gate is scored on it).",
    )
    validation_fraction: float = Field(
        gt=0.0,
        lt=0.5,
        description="Share of the training records held back to pick the best epoch.",
    )
    quantize: bool = True
    silver: SilverData | None = Field(
        None,
        description="Silver-labelled real text for the NER tagger (issue 8): its unlabelled "
        "tokens train at the ignore index; the event classifier never sees it.",
    )
    prose: ProseData | None = Field(
        None,
        description="Written prose for the text models (specs/text/prose; a file with "
        "`train_event_kinds: false` trains the NER tagger alone).",
    )

    @field_validator("held_out_splits")
    @classmethod
    def _held_out_splits(cls, v: list[str]) -> list[str]:
        repeated = sorted({name for name in v if v.count(name) > 1})
        if repeated:
            raise ValueError(f"{', '.join(repeated)} listed more than once")
        if "random" not in v:
            raise ValueError("must hold out `random`: the INT8 gate and the template score use it")
        return v


class BuildFile(SpecModel):
    kind: Literal["build"]
    seed: int
    artifacts: str = Field(description="Each profile builds into <artifacts>/<profile>.")
    work: str = Field(description="Stage outputs, reused while their inputs are unchanged.")
    profiles: dict[str, BuildProfile] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _inherit(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("profiles"), dict):
            return {**data, "profiles": inherited_profiles(data["profiles"])}
        return data

    @model_validator(mode="after")
    def _has_both(self) -> "BuildFile":
        missing = {"default", "fast"} - set(self.profiles)
        if missing:
            raise ValueError(f"profiles needs {' and '.join(sorted(missing))}")
        return self


NOT_INHERITED = ("doc",)  # a profile's description is its own


def inherited_profiles(profiles: dict[object, object]) -> dict[object, object]:
    """The raw profiles with `extends` applied: each profile's own keys over the (resolved) keys
    of the profile it names. Raises a ValidationError at `profiles.<name>.extends` for a name
    that is not a profile of the file, or a chain that comes back to where it started; a value
    of the wrong type is left for field validation to report."""
    resolved: dict[object, object] = {}
    errors: list[InitErrorDetails] = []

    def resolve(name: object, chain: tuple[object, ...]) -> object:
        if name in resolved:
            return resolved[name]
        own = profiles[name]
        parent = own.get("extends") if isinstance(own, dict) else None
        problem = None
        if not isinstance(own, dict) or not isinstance(parent, str):
            result = own
        elif parent not in profiles:
            known = sorted(str(k) for k in profiles if k != name)
            problem = f"no profile {parent!r} to extend {one_of(parent, known)}"
        elif parent in chain or parent == name:
            path = " -> ".join(str(n) for n in (*chain, name, parent))
            problem = f"profiles extend each other in a circle ({path})"
        else:
            base = resolve(parent, (*chain, name))
            inherited = (
                {k: v for k, v in base.items() if k not in NOT_INHERITED}
                if isinstance(base, dict)
                else {}
            )
            result = {**inherited, **own}
        if problem is not None:
            errors.append(
                InitErrorDetails(
                    type=PydanticCustomError("profile_extends", "{problem}", {"problem": problem}),
                    loc=("profiles", str(name), "extends"),
                    input=parent,
                )
            )
            result = own
        resolved[name] = result
        return result

    merged = {name: resolve(name, ()) for name in profiles}
    if errors:
        raise ValidationError.from_exception_data("BuildFile", errors)
    return merged


def default_seed(specs: SpecSet) -> int:
    """The seed of a command given none (data, training): the build spec's, so that running the
    steps one by one reproduces what `storyml build` makes."""
    return specs.one(BuildFile).seed


def check_build(specs: SpecSet) -> list[SpecProblem]:
    problems: list[SpecProblem] = []
    presets = {name for encoders in specs.of_kind(EncodersFile) for name in encoders.model.presets}
    corpora = {corpus.model.name for corpus in specs.of_kind(CorpusFile)}
    prose = sorted(p.model.name for p in specs.of_kind(AnnotatedProseFile))
    text_training = specs.of_kind(TextTrainingFile)
    text_profiles = {name for training in text_training for name in training.model.profiles}
    multi_task = any(training.model.multi_task for training in text_training)
    for e in specs.of_kind(BuildFile):
        for name, profile in e.model.profiles.items():
            if presets and profile.encoder not in presets:
                problems.append(
                    e.doc.problem(
                        ("profiles", name, "encoder"),
                        f"unknown encoder preset "
                        f"{profile.encoder!r} {one_of(profile.encoder, sorted(presets))}",
                    )
                )
            if profile.text_profile is not None and profile.text_profile not in text_profiles:
                problems.append(
                    e.doc.problem(
                        ("profiles", name, "text_profile"),
                        f"no text_training profile "
                        f"{profile.text_profile!r} {one_of(profile.text_profile, sorted(text_profiles))}",
                    )
                )
            if (
                profile.silver is not None
                and profile.silver.self_training is not None
                and multi_task
            ):
                problems.append(
                    e.doc.problem(
                        ("profiles", name, "silver", "self_training"),
                        "self-training retrains the NER tagger alone, which needs "
                        "separate models (specs/text/training.yaml multi_task: false)",
                    )
                )
            if profile.silver is not None and profile.silver.corpus not in corpora:
                problems.append(
                    e.doc.problem(
                        ("profiles", name, "silver", "corpus"),
                        f"no corpus spec "
                        f"{profile.silver.corpus!r} {one_of(profile.silver.corpus, sorted(corpora))}",
                    )
                )
            wanted = profile.prose.specs or [] if profile.prose is not None else []
            for i, spec_name in enumerate(wanted):
                if spec_name not in prose:
                    problems.append(
                        e.doc.problem(
                            ("profiles", name, "prose", "specs", i),
                            f"no annotated_prose spec {spec_name!r} {one_of(spec_name, prose)}",
                        )
                    )
    return problems
