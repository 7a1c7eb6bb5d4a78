"""`storyml data events|characters`: generate a dataset from the specs.

Each dataset kind lives in its own module with add_arguments() and run().
"""

from __future__ import annotations

import argparse
import importlib

DATASETS: dict[str, tuple[str, str]] = {
    "events": ("storyml.data.events", "event/NER sentences from the templates and vocabulary"),
    "characters": ("storyml.data.characters", "character-prediction examples from the matrix specs"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    for name, (module, help_text) in DATASETS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(p)


def run(args: argparse.Namespace) -> int:
    return importlib.import_module(DATASETS[args.dataset][0]).run(args)
