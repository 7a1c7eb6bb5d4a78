"""`storyml build`: check, generate, make data, train, export, quantize, evaluate, publish."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from storyml.build.report import render_console_summary
from storyml.build.stages import Build

from .common import add_specs_option


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_specs_option(parser)
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--fast",
        action="store_true",
        help="the fast profile: a tiny encoder, little data, few epochs (a smoke run)",
    )
    which.add_argument(
        "--profile",
        metavar="NAME",
        default=None,
        help="a build profile of specs/build.yaml (default: 'default'; --fast is 'fast')",
    )
    parser.add_argument(
        "--encoder",
        metavar="PRESET",
        help="encoder preset for the text models (specs/encoders.yaml); default: the profile's",
    )
    parser.add_argument(
        "--encoder-path",
        type=Path,
        metavar="DIR",
        help="a local copy of the encoder (a Hugging Face model directory) to use instead "
        "of the preset's source: how to train a hub preset offline",
    )
    parser.add_argument(
        "--artifacts",
        type=Path,
        metavar="DIR",
        help="where to publish (default: <build.artifacts>/<profile> from specs/build.yaml)",
    )
    parser.add_argument(
        "--work",
        type=Path,
        metavar="DIR",
        help="stage cache (default: <build.work>/<profile> from specs/build.yaml)",
    )
    parser.add_argument(
        "--generated",
        type=Path,
        metavar="DIR",
        help="the generated contract to check (default: generated/ beside the specs directory)",
    )
    parser.add_argument(
        "--force", action="store_true", help="redo every stage even if its inputs are unchanged"
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="print the Trainer's per-epoch log dictionaries instead of progress bars",
    )


def run(args: argparse.Namespace) -> int:
    profile = "fast" if args.fast else args.profile or "default"
    build = Build(
        args.specs,
        profile,
        args.encoder,
        args.artifacts,
        args.work,
        args.force,
        args.generated,
        args.encoder_path,
        args.verbose,
    )
    start = time.perf_counter()
    build.run()
    if not build.is_main_process:  # under a launcher: process 0 publishes and reports
        print(
            f"process {build.process_index}: shared stages done; process 0 builds the rest",
            flush=True,
        )
        return 0
    summary = json.loads((build.published / "build.json").read_text(encoding="utf-8"))
    print("\n" + render_console_summary(summary) + "\n", flush=True)
    print(
        f"built {build.published} in {time.perf_counter() - start:.0f} s; "
        f"summary in {build.published / 'BUILD.md'}",
        flush=True,
    )
    return 0
