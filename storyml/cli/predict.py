"""`storyml predict`: run the exported ONNX models on text."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from storyml.errors import UserError
from storyml.fsutil import atomic_output
from storyml.predict import (
    DEFAULT_BATCH_SIZE,
    Predictor,
    format_result,
    read_texts,
    resolve_artifacts_dir,
    to_json_line,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="text to analyse (one or more)")
    parser.add_argument("--input", type=Path, help="JSONL file of records with a 'text' field")
    parser.add_argument("--output", type=Path, help="write one JSON result per input line here (JSONL)")
    parser.add_argument(
        "--artifacts", type=Path, default=None,
        help="artifacts directory with the models (default: the last build's, from artifacts/LATEST, else artifacts/)",
    )
    parser.add_argument("--int8", action="store_true", help="run the INT8-quantized models (<name>.int8.onnx)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="texts per model call")
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of readable text")


def run(args: argparse.Namespace) -> int:
    if args.input is not None and args.texts:
        raise UserError("give texts on the command line or --input FILE, not both")
    if args.input is None and not args.texts:
        raise UserError('nothing to predict: give a text (storyml predict "I open the door.") or --input FILE.jsonl')
    texts = read_texts(args.input) if args.input is not None else list(args.texts)
    predictor = Predictor(resolve_artifacts_dir(args.artifacts), int8=args.int8, batch_size=args.batch_size)
    results = predictor.predict(texts)
    if args.output is not None:
        with atomic_output(args.output) as f:
            for result in results:
                f.write(to_json_line(result) + "\n")
        print(f"wrote {len(results)} result{'s' if len(results) != 1 else ''} to {args.output}")
    elif args.json or args.input is not None:
        for result in results:
            sys.stdout.write(to_json_line(result) + "\n")
    else:
        print("\n\n".join(format_result(r) for r in results))
    return 0
