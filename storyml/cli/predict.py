"""`storyml predict`: run the exported ONNX models on text.

Texts come from the command line or from `--input FILE.jsonl` (`-`: stdin). With --input,
every input line gives exactly one output line, in order: the input record with the
predictions added (every input field passes through), or, for a blank or bad line, what
parsed of it with an `error` field; the exit status is then 1 if any line failed. Problems
with the files themselves (a directory, unreadable, not UTF-8, --output equal to --input, a
place that cannot be written) and bad arguments are one line and exit 2, before any model runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from storyml.errors import UserError
from storyml.fsutil import atomic_output
from storyml.predict import (
    DEFAULT_BATCH_SIZE,
    STDIO,
    Predictor,
    check_output_path,
    decode_input,
    format_result,
    parse_input_lines,
    predict_lines,
    read_input_bytes,
    resolve_artifacts_dir,
    to_json_line,
    unencodable,
)

FAILED_LINES_SHOWN = 10  # line numbers listed in the closing message


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="text to analyse (one or more)")
    parser.add_argument(
        "--input", type=Path, help="JSONL file of records with a 'text' field (- for stdin)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="write one JSON result per input line here (JSONL; - for stdout)",
    )
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=None,
        help="artifacts directory with the models (default: the last build's, from artifacts/LATEST, else artifacts/)",
    )
    parser.add_argument(
        "--int8", action="store_true", help="run the INT8-quantized models (<name>.int8.onnx)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="model rows (windows) per call"
    )
    parser.add_argument(
        "--json", action="store_true", help="print JSON lines instead of readable text"
    )


def _check_arguments(args: argparse.Namespace) -> None:
    if args.input is not None and args.texts:
        raise UserError("give texts on the command line or --input FILE, not both")
    if args.input is None and not args.texts:
        raise UserError(
            'nothing to predict: give a text (storyml predict "I open the door.") or --input FILE.jsonl'
        )
    for n, text in enumerate(args.texts, start=1):
        bad = unencodable(text)
        if bad is not None:
            raise UserError(f"text argument {n} is not valid UTF-8 text ({bad}); pass UTF-8 text")
    for flag, path in (
        ("--input", args.input),
        ("--output", args.output),
        ("--artifacts", args.artifacts),
    ):
        bad = unencodable(str(path)) if path is not None else None
        if bad is not None:
            raise UserError(f"{flag}: the path is not valid UTF-8 ({bad})")
    if args.output is not None:
        check_output_path(args.output, args.input)


def _write(records: list[dict], output: Path | None) -> None:
    lines = "".join(to_json_line(r) + "\n" for r in records)
    if output is None or str(output) == STDIO:
        sys.stdout.flush()
        sys.stdout.buffer.write(lines.encode("utf-8"))
        sys.stdout.buffer.flush()
        return
    try:
        with atomic_output(output) as f:
            f.write(lines)
    except OSError as exc:
        raise UserError(f"{output}: cannot write the output ({exc.strerror or exc})") from None
    print(
        f"wrote {len(records)} result{'s' if len(records) != 1 else ''} to {output}",
        file=sys.stderr,
    )


def run(args: argparse.Namespace) -> int:
    _check_arguments(args)
    lines = None
    if args.input is not None:
        source = "<stdin>" if str(args.input) == STDIO else str(args.input)
        lines = parse_input_lines(decode_input(read_input_bytes(args.input), source))
    predictor = Predictor(
        resolve_artifacts_dir(args.artifacts), int8=args.int8, batch_size=args.batch_size
    )
    if lines is None:
        results = predictor.predict(list(args.texts))
        if args.output is not None or args.json:
            _write(results, args.output)
        else:
            print("\n\n".join(format_result(r) for r in results))
        return 0
    _write(predict_lines(predictor, lines), args.output)
    failed = [line.number for line in lines if line.error is not None]
    if failed:
        shown = ", ".join(map(str, failed[:FAILED_LINES_SHOWN])) + (
            ", ..." if len(failed) > FAILED_LINES_SHOWN else ""
        )
        print(
            f"storyml predict: {len(failed)} of {len(lines)} lines failed (lines {shown}); "
            'each has an "error" field in its output line',
            file=sys.stderr,
        )
        return 1
    return 0
