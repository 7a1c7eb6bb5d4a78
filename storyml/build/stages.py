"""`storyml build`: specs in, deployable and evaluated models out.

    check -> gen --check -> data (events, characters) -> train (text, MLP)
          -> export + parity -> quantize (gated) -> evaluate -> publish

Each stage records a stamp (a hash of its inputs) under `runs/<profile>/stamps/`;
a stage whose inputs and outputs are unchanged is skipped, so a second build
only redoes what an edit touched. Models and reports are assembled in
`runs/<profile>/artifacts/` and published to `artifacts/<profile>/` in one
atomic swap, so the engine never sees half a build. `artifacts/LATEST` names
the last published build; `storyml predict` and `storyml evaluate` read it.

Text training uses the Hugging Face Trainer (see storyml.train.text), so a
multi-GPU run is `accelerate launch -m storyml build` with no code change.
Under a launcher (accelerate launch, torchrun) every process runs the build, but
only the text-training stage is shared: process 0 does every other stage (and
all writing), the others join it for training and then stop (storyml.train.distributed).
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import storyml
from codegen.spec.build import BuildFile
from codegen.spec.contract import fingerprint
from codegen.spec.errors import one_of
from codegen.spec.models import MlpModelFile
from codegen.spec.training import TextTrainingFile
from storyml.data.records import TextRecord
from storyml.data.splits import test_file
from storyml.errors import UserError
from storyml.evaluate.evalsets import CHARACTERS_VALIDATION_FILE
from storyml.fsutil import atomic_directory, atomic_write_text
from storyml.paths import DEFAULT_GENERATED

from .cache import Stage, StageRunner, digest, file_digest
from .report import render_build_summary

# ---------------------------------------------------------------- stages

PROSE_FILE = "prose.jsonl"  # a profile's written prose records (build spec `prose`)
SILVER_FILE = "silver.jsonl"  # a profile's silver-labelled corpus records (build spec `silver`)
STUDENT_SILVER_FILE = (
    "silver.student.jsonl"  # the same corpus relabelled by the teacher (self-training)
)


# ---------------------------------------------------------------- the build


@dataclass
class Build:
    specs_dir: Path
    profile_name: str
    encoder: str | None
    artifacts_dir: Path | None
    work_dir: Path | None
    force: bool
    generated_dir: Path | None = None
    encoder_path: Path | None = None
    verbose: bool = False  # the Trainer's per-epoch log dictionaries instead of progress bars

    def __post_init__(self) -> None:
        from codegen.spec.loader import load_specs
        from storyml.train.distributed import launched_processes

        self.specs = load_specs(self.specs_dir)
        spec = self.specs.one(BuildFile)
        if self.profile_name not in spec.profiles:
            raise UserError(
                f"no build profile {self.profile_name!r} in specs/build.yaml "
                f"{one_of(self.profile_name, sorted(spec.profiles))}"
            )
        self.profile = spec.profiles[self.profile_name]
        self.seed = spec.seed
        self.encoder = self.encoder or self.profile.encoder
        self.root = Path(spec.artifacts)
        self.published = self.artifacts_dir or self.root / self.profile_name
        self.work = self.work_dir or Path(spec.work) / self.profile_name
        self.data = self.work / "data"
        self.staging = self.work / "artifacts"
        self.runner = StageRunner(self.work / "stamps", self.force)
        self.processes = launched_processes()
        self.process_index = 0  # set by run() under a launcher

    @property
    def is_main_process(self) -> bool:
        return self.process_index == 0

    def models_of(self, *kinds: str) -> list[Any]:
        return [e.model for kind in kinds for e in self.specs.of_kind(kind)]

    # -- stage 1 and 2: the specs and the generated contract

    def check(self) -> dict:
        return {
            "spec_files": len(list(self.specs)),
            "fingerprint": fingerprint([e.model for e in self.specs]),
        }

    def gen_check(self) -> dict:
        import storyml_contract

        from codegen.generators.generate import render_all
        from codegen.generators.writer import compare
        from codegen.spec.contract import build_contract

        contract = build_contract(self.specs)
        generated = self.generated_dir or self.specs_dir.resolve().parent / DEFAULT_GENERATED
        state = compare(render_all(contract), generated)
        if state.stale:
            files = ", ".join(state.changed + state.missing + state.extra)
            raise UserError(
                f"{generated} is stale ({files}): run `storyml gen`, review and commit it, then build"
            )
        if storyml_contract.CONTRACT_FINGERPRINT != contract.fingerprint:
            raise UserError(
                "the installed storyml_contract package is not the generated one; "
                "reinstall with `pip install -e .`"
            )
        return {"contract_fingerprint": contract.fingerprint}

    # -- stage 3: datasets

    def data_inputs(self) -> Any:
        # Every spec, not a list of the data kinds that could fall behind a new kind: regenerating
        # is seconds, and byte-identical data leaves the training stages' inputs unchanged.
        return {
            "specs": fingerprint([e.model for e in self.specs]),
            "seed": self.seed,
            "profile": self.profile.model_dump(
                include={
                    "events_per_kind",
                    "character_variations",
                    "test_fraction",
                    "held_out_splits",
                    "validation_fraction",
                    "silver",
                    "prose",
                }
            ),
            "labeller": self.silver_labeller(),
            "version": storyml.__version__,
        }

    def data_files(self) -> dict[str, Path]:
        names = [
            "events.jsonl",
            "events.train.jsonl",
            "events.val.jsonl",
            "characters.jsonl",
            "characters.train.jsonl",
            CHARACTERS_VALIDATION_FILE,
        ]
        names += [test_file(split) for split in self.profile.held_out_splits]
        if self.profile.silver is not None:
            names.append(SILVER_FILE)
        if self.profile.prose is not None:
            names.append(PROSE_FILE)
        return {name: self.data / name for name in names}

    def make_data(self) -> dict:
        from storyml.data.characters import run_matrix, split_by_cell, write_dataset
        from storyml.data.events import build_events, write_events
        from storyml.data.jsonl import write_jsonl
        from storyml.data.splits import make_splits

        files = self.data_files()
        events = build_events(self.specs, seed=self.seed, per_kind=self.profile.events_per_kind)
        write_events(
            self.specs, events, self.seed, self.profile.events_per_kind, files["events.jsonl"]
        )
        splits = make_splits(events.records, self.seed, self.profile.test_fraction)
        held_out = self.profile.held_out_splits
        for split in held_out:
            write_jsonl(files[test_file(split)], splits[split]["test"])
        train, val = training_records(splits, held_out, self.profile.validation_fraction, self.seed)
        write_jsonl(files["events.train.jsonl"], train)
        write_jsonl(files["events.val.jsonl"], val)
        silver = self.make_silver(files)
        prose = self.make_prose(files)

        matrix = run_matrix(self.specs, self.seed, self.profile.character_variations)
        write_dataset(matrix, files["characters.jsonl"])
        fraction = self.specs.one(MlpModelFile).training.validation_fraction
        c_train, c_val = split_by_cell(matrix.records, fraction, self.seed)
        write_jsonl(files["characters.train.jsonl"], c_train)
        write_jsonl(files[CHARACTERS_VALIDATION_FILE], c_val)
        return {
            "events": len(events.records),
            "events_train": len(train),
            "events_val": len(val),
            **{f"events_test_{s}": len(splits[s]["test"]) for s in held_out},
            "characters": len(matrix.records),
            "characters_train": len(c_train),
            "characters_val": len(c_val),
            **silver,
            **prose,
        }

    def make_prose(self, files: dict[str, Path]) -> dict:
        """The profile's written prose, written beside the events data (nothing when it has none)."""
        if self.profile.prose is None:
            return {}
        from storyml.data.jsonl import write_jsonl
        from storyml.data.prose import prose_records

        records = prose_records(self.specs, self.profile.prose.specs)
        write_jsonl(files[PROSE_FILE], records)
        return {
            "prose": len(records),
            # sentences of files with `train_event_kinds: false` (storyml.data.prose)
            "prose_ner_only": sum(not r["event_kinds"] for r in records),
            "prose_kinds": dict(
                sorted(Counter(k for r in records for k in r["event_kinds"]).items())
            ),
            "prose_entities": dict(
                sorted(Counter(e["category"] for r in records for e in r["entities"]).items())
            ),
        }

    def silver_labeller(self) -> dict | None:
        if self.profile.silver is None:
            return None
        from storyml.silver.label import committed_path, installed_labeller

        path = committed_path(self.specs, self.profile.silver.corpus, self.profile.silver.sentences)
        if path is not None:
            return {"committed records": file_digest(path)}  # read as they are: no labeller runs
        return installed_labeller(self.specs, self.profile.silver.corpus)

    def make_silver(self, files: dict[str, Path]) -> dict:
        """The profile's silver-labelled corpus, written beside the events data (nothing when it has none)."""
        if self.profile.silver is None:
            return {}
        from storyml.data.jsonl import write_jsonl
        from storyml.silver.label import committed_records, label_corpus

        silver = self.profile.silver
        records = committed_records(self.specs, silver.corpus, silver.sentences)
        source = "committed"
        if records is None:
            records, _ = label_corpus(self.specs, silver.corpus, silver.sentences)
            source = "labelled now"
        write_jsonl(files[SILVER_FILE], records)
        return {
            "silver": len(records),
            "silver_sentences": silver.sentences,
            "silver_source": source,
            "silver_entities": dict(
                sorted(Counter(e["category"] for r in records for e in r["entities"]).items())
            ),
        }

    # -- stages 4 and 5: training

    def text_inputs(self) -> Any:
        files = self.data_files()
        inputs = {
            "data": file_digest(*self.text_training_files(), files["events.val.jsonl"]),
            "specs": fingerprint(
                self.models_of(
                    "text_training",
                    "encoders",
                    "text_labels",
                    # mention resampling draws from the vocabulary
                    "vocabulary",
                    "register_rules",
                    "templates",
                )
            ),
            "encoder": self.encoder,
            "text_profile": self.profile.text_profile,
            "seed": self.seed,
        }
        if self.profile.prose is not None:
            inputs["prose_repeat"] = self.profile.prose.repeat
        if self.self_training is not None:
            inputs["self_training"] = self.self_training.model_dump()
        if self.encoder_path is not None:
            inputs["encoder_path"] = str(self.encoder_path.resolve())
        return inputs

    def text_training_files(self) -> list[Path]:
        """The text models' training data: the template records, then any written prose, then any
        silver-labelled text."""
        files = self.data_files()
        return [
            files["events.train.jsonl"],
            *([files[PROSE_FILE]] if PROSE_FILE in files else []),
            *([files[SILVER_FILE]] if SILVER_FILE in files else []),
        ]

    def text_training_records(self, silver: Path | None) -> list[TextRecord]:
        """Template records, each written sentence `prose.repeat` times, then the records of
        `silver` (the silver file, or a student's relabelled one; None: none)."""
        from storyml.data.jsonl import read_text_records

        files = self.data_files()
        records = read_text_records(files["events.train.jsonl"])
        if PROSE_FILE in files and self.profile.prose is not None:
            records += read_text_records(files[PROSE_FILE]) * self.profile.prose.repeat
        if silver is not None:
            records += read_text_records(silver)
        return records

    def text_run_dir(self) -> Path:
        """One run directory per set of inputs: an interrupted run resumes, a changed one starts afresh."""
        return self.work / "text" / digest(self.text_inputs())

    def train_text(self) -> dict:
        for old in (self.work / "text").glob("*") if self.is_main_process else ():
            # --force retrains; otherwise a finished or interrupted run with these inputs is reused
            if old != self.text_run_dir() or self.force:
                shutil.rmtree(old, ignore_errors=True)
        result = self.text_models()
        settings = result["settings"]
        return {
            "metrics": result["metrics"],
            "history": result["history"],
            "models": sorted(result["models"]),
            "device": {"kind": settings.device, "precision": settings.precision},
            # measured by the Trainer; reported in build.json, never part of a decision
            "examples_per_second": {
                name: round(speed, 1) if speed is not None else None
                for name, speed in result["examples_per_second"].items()
            },
        }

    def text_models(self) -> dict:
        """Train, resume, or (when finished earlier) load the text models."""
        from storyml.data.jsonl import read_text_records
        from storyml.train.text import train_text_models

        files = self.data_files()
        train = self.text_training_records(files.get(SILVER_FILE))
        validation = read_text_records(files["events.val.jsonl"])
        result = train_text_models(
            self.specs,
            train,
            validation,
            self.encoder,
            self.text_run_dir(),
            profile=self.profile.text_profile,
            local_path=self.encoder_path,
            verbose=self.verbose,
        )
        if self.self_training is None:
            return result
        return self.train_student(result, validation)

    @property
    def self_training(self) -> Any:
        return self.profile.silver.self_training if self.profile.silver is not None else None

    def train_student(self, teacher: dict, validation: list[TextRecord]) -> dict:
        """Self-training: the teacher's NER tagger relabels the silver corpus (storyml/silver/
        self_training.py) and a student tagger, trained on the template data and those labels,
        replaces it. The event classifier stays the teacher's."""
        from storyml.data.jsonl import read_text_records, write_jsonl
        from storyml.silver.self_training import relabel
        from storyml.train.text import train_text_models

        files = self.data_files()
        ner, _ = teacher["settings"].task_named("token")
        student_file = self.text_run_dir() / STUDENT_SILVER_FILE
        if not student_file.is_file():
            relabelled = relabel(
                teacher["models"][ner],
                teacher["tokenizer"],
                read_text_records(files[SILVER_FILE]),
                self.self_training.min_confidence,
            )
            write_jsonl(student_file, relabelled)
        train = self.text_training_records(student_file)
        student = train_text_models(
            self.specs,
            train,
            validation,
            self.encoder,
            self.text_run_dir() / "student",
            profile=self.profile.text_profile,
            local_path=self.encoder_path,
            verbose=self.verbose,
            tasks=(ner,),
            tokenizer=teacher["tokenizer"],
        )
        for key in ("models", "metrics", "history", "examples_per_second"):
            teacher[key][ner] = student[key][ner]
        teacher["paths"][ner] = student["paths"][ner]
        teacher["history"][ner] = f"student of a self-training round: {student['history'][ner]}"
        return teacher

    def mlp_inputs(self) -> Any:
        files = self.data_files()
        return {
            "data": file_digest(files["characters.train.jsonl"], files[CHARACTERS_VALIDATION_FILE]),
            "specs": fingerprint(self.models_of("mlp_model", "output_heads", "feature_layout")),
            "max_epochs": self.profile.mlp_max_epochs,
            "seed": self.seed,
        }

    def train_mlp(self) -> dict:
        from storyml.data.jsonl import read_jsonl
        from storyml.train.mlp import train_mlp

        files = self.data_files()
        train = read_jsonl(files["characters.train.jsonl"])
        start = time.perf_counter()
        _, metrics = train_mlp(
            self.specs,
            train,
            read_jsonl(files[CHARACTERS_VALIDATION_FILE]),
            self.work / "mlp",
            max_epochs=self.profile.mlp_max_epochs,
            seed=self.seed,
        )
        seconds = time.perf_counter() - start
        examples = len(train) * len(metrics["history"])  # every epoch sees every record once
        # reported in build.json, never part of a decision
        return {"metrics": metrics, "examples_per_second": round(examples / seconds, 1)}

    # -- stage 6: export with parity

    def export_inputs(self) -> Any:
        return {
            "text": self.runner.digests["train-text"],
            "mlp": self.runner.digests["train-mlp"],
            "specs": fingerprint(self.models_of("export", "artifacts")),
            "version": storyml.__version__,
        }

    def artifact_files(self) -> list[Path]:
        from storyml_contract import ARTIFACT_FILES, TOKENIZER_FILE

        return [self.staging / TOKENIZER_FILE] + [self.staging / f for f in ARTIFACT_FILES.values()]

    def export(self) -> dict:
        from storyml_contract import CHARACTER_MODEL, TOKENIZER_FILE

        from storyml.export.onnx_export import export_model
        from storyml.train.mlp import MODEL_FILE, load_model

        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir(parents=True)
        text = self.text_models()
        reports = []
        for kind, (model_name, output) in text_export_plan(text["models"]).items():
            reports.append(
                export_model(
                    kind,
                    text["models"][model_name],
                    self.staging,
                    self.specs,
                    encoder=self.encoder,
                    output=output,
                )
            )
        shutil.copyfile(text["paths"]["tokenizer"], self.staging / TOKENIZER_FILE)
        mlp = load_model(self.specs, self.work / "mlp" / MODEL_FILE)
        reports.append(export_model(CHARACTER_MODEL, mlp, self.staging, self.specs))
        for r in reports:
            print(
                f"      {r.kind}: {r.size_bytes / 1e6:.2f} MB, parity max diff {r.max_diff:.2e} "
                f"over {r.parity_inputs} inputs (atol {r.atol:g})",
                flush=True,
            )
        return {r.kind: r.to_dict() for r in reports}

    # -- stage 7: INT8 quantization, gated

    def quantize_inputs(self) -> Any:
        return {
            "export": self.runner.digests["export"],
            "data": self.runner.digests["data"],
            "specs": fingerprint(self.models_of("export")),
            "enabled": self.profile.quantize,
        }

    def quantize(self) -> dict:
        from storyml_contract import ARTIFACT_FILES

        from storyml.export.quantize import QuantizationRefused, int8_path_for, quantize_model

        if not self.profile.quantize:
            return {"skipped": "quantize is off in this profile"}
        eval_sets = quantization_eval_sets(self.staging, self.data_files())
        results = {}
        for kind, file in ARTIFACT_FILES.items():
            fp32 = self.staging / file
            int8_path_for(fp32).unlink(missing_ok=True)
            try:
                report = quantize_model(self.specs, fp32, eval_sets[kind], kind=kind)
                results[kind] = {"accepted": True, **report.to_dict()}
                fused = ", ".join(f"{op} {n}" for op, n in report.fused_operators.items())
                print(
                    f"      {kind}: INT8 {report.int8_size_bytes / 1e6:.2f} MB "
                    f"({report.size_ratio:.0%} of FP32), F1 drop {report.f1_drop:+.4f}, "
                    f"batch-1 speed-up {report.speedup_batch1:.2f}x (reported, not a gate)"
                    + (f"; fused {fused}" if fused else ""),
                    flush=True,
                )
            except QuantizationRefused as exc:
                # The engine keeps the FP32 model; the report says why the INT8 one was refused,
                # with what was measured.
                results[kind] = {**exc.report.to_dict(), "accepted": False, "reason": str(exc)}
                print(f"      {kind}: INT8 refused: {exc}", flush=True)
        return results

    # -- stage 8: evaluation

    def evaluate_inputs(self) -> Any:
        from storyml.evaluate.evalsets import DEV_PROSE_FILE, REAL_PROSE_FILE

        return {
            "quantize": self.runner.digests["quantize"],
            "export": self.runner.digests["export"],
            "real_prose": file_digest(REAL_PROSE_FILE),
            "dev_prose": file_digest(DEV_PROSE_FILE),
            "version": storyml.__version__,
        }

    def evaluate(self) -> dict:
        from storyml_contract import TOTAL_INPUT_FEATURES, TOTAL_OUTPUT_FEATURES

        from storyml.evaluate.evalsets import (
            DEV_PROSE_FILE,
            DEV_PROSE_SET,
            REAL_PROSE_FILE,
            REAL_PROSE_SET,
            TEMPLATE_SETS,
            load_character_records,
            load_event_records,
        )
        from storyml.evaluate.report import build_report, write_report
        from storyml.predict import Predictor

        data_dir = self.staging / "data"
        data_dir.mkdir(exist_ok=True)
        held_out = [s for s in TEMPLATE_SETS if s.name in self.profile.held_out_splits]
        for spec in held_out:  # the test splits travel with the models they were scored on
            shutil.copyfile(self.data / spec.file, data_dir / spec.file)
        shutil.copyfile(
            self.data / CHARACTERS_VALIDATION_FILE, data_dir / CHARACTERS_VALIDATION_FILE
        )
        text_sets: list[tuple[Any, list[TextRecord] | None, str]] = [
            (s, load_event_records(data_dir / s.file), f"data/{s.file}")
            if s in held_out
            else (s, None, TRAINED_ON_SPLIT.format(profile=self.profile_name))
            for s in TEMPLATE_SETS
        ]
        text_sets.append(
            (DEV_PROSE_SET, load_event_records(DEV_PROSE_FILE), "evalsets/dev_prose.jsonl")
        )
        text_sets.append(
            (REAL_PROSE_SET, load_event_records(REAL_PROSE_FILE), "evalsets/real_prose.jsonl")
        )
        characters = load_character_records(
            data_dir / CHARACTERS_VALIDATION_FILE, TOTAL_INPUT_FEATURES, TOTAL_OUTPUT_FEATURES
        )
        summary: dict[str, Any] = {}
        for variant, int8 in (("fp32", False), ("int8", True)):
            missing = [f for f in int8_files() if not (self.staging / f).exists()]
            if int8 and missing:
                # A partly quantized set would be scored as INT8 while running FP32 models.
                summary["int8"] = {"skipped": f"no INT8 model for {', '.join(missing)}"}
                continue
            predictor = Predictor(self.staging, int8=int8)
            report = build_report(
                predictor,
                text_sets,
                (characters, f"data/{CHARACTERS_VALIDATION_FILE}"),
                artifacts_label=str(self.published),
            )
            out = self.staging / ("evaluation" if not int8 else "evaluation-int8")
            write_report(report, out)
            summary[variant] = report.get("generalization_estimate", {})  # real prose, the test set
            dev = report["sets"][DEV_PROSE_SET.name]
            summary[f"{variant}_dev"] = {
                "n": dev["n"],
                "event_macro_f1": dev["events"]["macro"]["f1"],
                "entity_strict_f1": dev["entities_strict"]["micro"]["f1"],
            }
            summary[f"{variant}_template"] = {
                name: {
                    "event_macro_f1": s["events"]["macro"]["f1"],
                    "entity_f1": s["entities_strict"]["micro"]["f1"],
                }
                for name, s in report["sets"].items()
                if s["template_derived"]
            }
        return summary

    # -- stage 9: publish

    def publish(self) -> dict:
        from storyml.export.onnx_export import artifact_size

        sizes = {p.name: artifact_size(p) for p in sorted(self.staging.glob("*.onnx"))}
        summary = {
            "profile": self.profile_name,
            "encoder": self.encoder,
            "seed": self.seed,
            "storyml_version": storyml.__version__,
            "contract_fingerprint": self.runner.summaries["gen-check"]["contract_fingerprint"],
            "artifact_bytes_including_external_data": sizes,
            "stages": {k: v for k, v in self.runner.summaries.items()},
            "stage_seconds": self.runner.timings,
            "stage_resources": self.runner.resources,
        }
        atomic_write_text(
            self.staging / "build.json",
            json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n",
        )
        atomic_write_text(self.staging / "BUILD.md", render_build_summary(summary))
        with atomic_directory(self.published) as tmp:
            shutil.copytree(self.staging, tmp, dirs_exist_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        try:  # relative when it sits under artifacts/, so the tree can move
            latest = self.published.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            latest = str(self.published.resolve())
        atomic_write_text(self.root / "LATEST", latest + "\n")
        return {"published": str(self.published), "bytes": sizes}

    def run(self) -> dict:
        quiet_known_noise()
        stages = [
            Stage("check", "validate the specs", None, self.check, lambda: []),
            Stage(
                "gen-check",
                "the generated contract matches the specs",
                None,
                self.gen_check,
                lambda: [],
            ),
            Stage(
                "data",
                "events and character datasets, splits",
                self.data_inputs,
                self.make_data,
                lambda: list(self.data_files().values()),
            ),
            Stage(
                "train-text",
                f"event classifier and NER tagger from the {self.encoder!r} encoder",
                self.text_inputs,
                self.train_text,
                lambda: [self.text_run_dir()],
                collective=True,
            ),
            Stage(
                "train-mlp",
                "the character predictor MLP",
                self.mlp_inputs,
                self.train_mlp,
                lambda: [self.work / "mlp" / "character_predictor.pt"],
            ),
            Stage(
                "export",
                "ONNX export with PyTorch/onnxruntime parity",
                self.export_inputs,
                self.export,
                self.artifact_files,
            ),
            Stage(
                "quantize",
                "INT8 dynamic quantization behind the spec's gates",
                self.quantize_inputs,
                self.quantize,
                self.artifact_files,
            ),
            Stage(
                "evaluate",
                "template splits, real prose, character validation",
                self.evaluate_inputs,
                self.evaluate,
                lambda: [self.staging / "evaluation" / "report.json"],
            ),
            Stage("publish", "assemble the artifacts directory", None, self.publish, lambda: []),
        ]
        if self.processes == 1:
            for stage in stages:
                self.runner(stage)
            return self.runner.summaries
        return self._run_launched(stages)

    def _run_launched(self, stages: list[Stage]) -> dict:
        """Under a launcher: process 0 runs the build; the others join its collective stages.

        Process 0 decides whether a collective stage runs (its stamp) and tells the others; that
        exchange also holds them until process 0 has finished the stages before it. After the
        last collective stage the process group closes: a process other than 0 returns, with
        nothing written, and process 0 builds the rest alone.
        """
        from accelerate.utils import broadcast_object_list

        from storyml.train.distributed import leave_process_group, process_state

        state = process_state(self.specs.one(TextTrainingFile).distributed.cpu_backend)
        self.process_index = state.process_index
        last = max(i for i, stage in enumerate(stages) if stage.collective)
        for i, stage in enumerate(stages):
            if stage.collective:
                decision = [self.runner.up_to_date(stage) if self.is_main_process else None]
                broadcast_object_list(decision, from_process=0)
                if self.is_main_process:
                    self.runner(stage)
                elif not decision[0]:
                    stage.run()
            elif self.is_main_process:
                self.runner(stage)
            if i == last:
                leave_process_group(state)
                if not self.is_main_process:
                    break
        return self.runner.summaries


def quiet_known_noise() -> None:
    """Silence messages the build has already answered, so its own progress lines stay readable.

    transformers' load report (a fresh head has no pretrained weights, by design) and its
    progress bars; the TorchScript exporter's aten::index note (parity is checked on padded
    inputs after every export); onnxruntime's suggestion to pre-process before dynamic
    quantization (that advice is for static quantization of vision models).
    """
    import logging
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=r".*aten::index operator of advanced indexing.*")
    logging.getLogger().setLevel(logging.ERROR)


# Why a build's report has no score for a template split its profile does not hold out.
TRAINED_ON_SPLIT = (
    "trained on: profile {profile!r} does not hold this split out (held_out_splits, "
    "specs/build.yaml)"
)


def training_records(
    splits: dict, held_out_splits: Sequence[str], validation_fraction: float, seed: int
) -> tuple[list[dict], list[dict]]:
    """Records on the train side of every held-out split, then a validation share of them.

    Holding out the held-out-template and held-out-vocabulary splits as well keeps them
    measures of generalisation, at a price: the models never see those templates and words
    (about a seventh of the templates and half the records at the default fraction), so a
    template a user adds may teach the shipped models nothing. The real-prose sets measure
    generalisation; the default profile holds out `random` alone.
    """
    import random

    held = {r["id"] for split in held_out_splits for r in splits[split]["test"]}
    train = [r for r in splits["random"]["train"] if r["id"] not in held]
    ids = sorted(r["id"] for r in train)
    random.Random(f"validation/{seed}").shuffle(ids)
    val_ids = set(ids[: max(1, int(len(ids) * validation_fraction))])
    return [r for r in train if r["id"] not in val_ids], [r for r in train if r["id"] in val_ids]


def text_export_plan(models: dict) -> dict[str, tuple[str, str | None]]:
    """Artifact kind -> (trained model name, output to select); a multi-task model fills both.
    Text training names each task after the artifact it produces (specs/text/training.yaml)."""
    from storyml_contract import EVENT_MODEL, NER_MODEL

    from storyml.train.text import MULTI_TASK

    if MULTI_TASK in models:
        return {EVENT_MODEL: (MULTI_TASK, "event_logits"), NER_MODEL: (MULTI_TASK, "ner_logits")}
    return {EVENT_MODEL: (EVENT_MODEL, None), NER_MODEL: (NER_MODEL, None)}


def int8_files() -> list[str]:
    from storyml_contract import INT8_ARTIFACT_FILES

    return list(INT8_ARTIFACT_FILES.values())


def quantization_eval_sets(staging: Path, files: dict[str, Path], batch_size: int = 32) -> dict:
    """Labelled batches for the INT8 gates, taken from the random test split and the MLP validation set."""
    import numpy as np
    from storyml_contract import (
        CHARACTER_MODEL,
        EVENT_MODEL,
        IGNORE_INDEX,
        NER_MODEL,
        ONNX_INPUTS,
        TOKENIZER_FILE,
    )
    from transformers import PreTrainedTokenizerFast

    from storyml.data.bio import align_batch
    from storyml.data.jsonl import read_jsonl
    from storyml.export.quantize import EvalSet
    from storyml.predict import text_feeds
    from storyml.train.text import event_vector

    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(staging / TOKENIZER_FILE))
    tokenizer.pad_token = tokenizer.pad_token or "[PAD]"
    records = read_jsonl(files[test_file("random")])
    event_feeds, ner_labels, event_labels = [], [], []
    for start in range(0, len(records), batch_size):
        chunk = records[start : start + batch_size]
        aligned = align_batch(tokenizer, [r["text"] for r in chunk], [r["entities"] for r in chunk])
        width = max(len(ids) for ids in aligned.input_ids)
        pad = tokenizer.pad_token_id or 0
        ids = np.array(
            [row + [pad] * (width - len(row)) for row in aligned.input_ids], dtype=np.int64
        )
        mask = np.array(
            [row + [0] * (width - len(row)) for row in aligned.attention_mask], dtype=np.int64
        )
        labels = np.array(
            [row + [IGNORE_INDEX] * (width - len(row)) for row in aligned.labels], dtype=np.int64
        )
        event_feeds.append(
            text_feeds(EVENT_MODEL, ids, mask)
        )  # the NER model takes the same inputs
        ner_labels.append(labels)
        event_labels.append(
            np.array([event_vector(r["event_kinds"]) for r in chunk], dtype=np.float32)
        )
    characters = read_jsonl(files[CHARACTERS_VALIDATION_FILE])
    mlp_feeds, mlp_labels = [], []
    for start in range(0, len(characters), 256):
        chunk = characters[start : start + 256]
        (features_name,) = ONNX_INPUTS[CHARACTER_MODEL]
        mlp_feeds.append(
            {features_name: np.array([r["features"] for r in chunk], dtype=np.float32)}
        )
        mlp_labels.append(np.array([r["labels"] for r in chunk], dtype=np.float32))
    return {
        EVENT_MODEL: EvalSet(event_feeds, event_labels),
        NER_MODEL: EvalSet(event_feeds, ner_labels),
        CHARACTER_MODEL: EvalSet(mlp_feeds, mlp_labels),
    }
