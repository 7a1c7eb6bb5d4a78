"""`storyml evaluate`: score the exported models on every evaluation set and write a report.

Sets: the template-derived test splits and the character validation split found in the data
directory (see `storyml.evaluate.evalsets` for their file names), and the hand-written
real-prose set. A split that is not there is listed as not evaluated, never silently left out.
Writes report.json, report.md and PNG plots into the output directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from storyml_contract import TOTAL_INPUT_FEATURES, TOTAL_OUTPUT_FEATURES

from storyml.data.records import TextRecord
from storyml.errors import UserError
from storyml.evaluate.evalsets import (
    CHARACTERS_VALIDATION_FILE,
    DEV_PROSE_FILE,
    DEV_PROSE_SET,
    REAL_PROSE_FILE,
    REAL_PROSE_SET,
    TEMPLATE_SETS,
    TextEvalSet,
    load_character_records,
    load_event_records,
)
from storyml.evaluate.report import build_report, write_report
from storyml.predict import DEFAULT_BATCH_SIZE, Predictor, resolve_artifacts_dir

DATA_SUBDIR = "data"  # the build's data directory inside its artifacts directory
# Default report directory: beside the artifacts, not inside them (the engine loads that directory).
DEFAULT_REPORT_DIR = Path("reports")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=None,
        help="artifacts directory with the models (default: the last build's, from artifacts/LATEST, else artifacts/)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help=f"directory with the test splits (default: <artifacts>/{DATA_SUBDIR} if present, else {DATA_SUBDIR}/)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help=f"report directory (default: {DEFAULT_REPORT_DIR}/)"
    )
    parser.add_argument(
        "--real-prose",
        type=Path,
        default=REAL_PROSE_FILE,
        help="the hand-written real-prose test set",
    )
    parser.add_argument(
        "--dev-prose",
        type=Path,
        default=DEV_PROSE_FILE,
        help="the hand-written real-prose development set",
    )
    parser.add_argument(
        "--int8", action="store_true", help="evaluate the INT8-quantized models (<name>.int8.onnx)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="texts per model call"
    )


def default_data_dir(artifacts_dir: Path) -> Path:
    inside = artifacts_dir / DATA_SUBDIR
    return inside if inside.is_dir() else Path(DATA_SUBDIR)


def run(args: argparse.Namespace) -> int:
    artifacts_dir = resolve_artifacts_dir(args.artifacts)
    data_dir = args.data if args.data is not None else default_data_dir(artifacts_dir)
    if args.data is not None and not data_dir.is_dir():
        raise UserError(f"{data_dir}: no such data directory")
    out_dir = args.out if args.out is not None else DEFAULT_REPORT_DIR
    predictor = Predictor(artifacts_dir, int8=args.int8, batch_size=args.batch_size)

    text_sets: list[tuple[TextEvalSet, list[TextRecord] | None, str]] = []  # (set, records, where)
    for spec in TEMPLATE_SETS:
        path = data_dir / spec.file
        if path.is_file():
            text_sets.append((spec, load_event_records(path), str(path)))
        else:
            text_sets.append(
                (
                    spec,
                    None,
                    f"{path} not found (`storyml build` writes the splits its profile holds "
                    "out of training: held_out_splits, specs/build.yaml)",
                )
            )
    for spec, path in ((DEV_PROSE_SET, args.dev_prose), (REAL_PROSE_SET, args.real_prose)):
        if not path.is_file():
            raise UserError(f"{path}: the {spec.title} set is missing")
        text_sets.append((spec, load_event_records(path), str(path)))

    characters_path = data_dir / CHARACTERS_VALIDATION_FILE
    characters: tuple[list[dict[str, Any]] | None, str]  # (records, where, or why there are none)
    if not characters_path.is_file():
        characters = (None, f"{characters_path} not found (written by `storyml build`)")
    elif not predictor.has_character_model():
        characters = (None, f"no character predictor model in {artifacts_dir}")
    else:
        records = load_character_records(
            characters_path, TOTAL_INPUT_FEATURES, TOTAL_OUTPUT_FEATURES
        )
        characters = (records, str(characters_path))

    report = build_report(predictor, text_sets, characters)
    written = write_report(report, out_dir)
    estimate = report.get("generalization_estimate")
    if estimate:
        print(
            f"real prose (n = {estimate['n']}): event macro-F1 {estimate['event_macro_f1']:.3f}, "
            f"entity F1 {estimate['entity_strict_f1']:.3f} (generalization estimate)"
        )
    for name, s in report["sets"].items():
        if s["template_derived"]:
            print(
                f"{s['title']} (n = {s['n']}): event macro-F1 {s['events']['macro']['f1']:.3f}, "
                f"entity F1 {s['entities_strict']['micro']['f1']:.3f} (template data)"
            )
    for name, reason in sorted(report["skipped"].items()):
        print(f"not evaluated: {name}: {reason}")
    print(f"wrote {len(written)} files to {out_dir}")
    return 0
