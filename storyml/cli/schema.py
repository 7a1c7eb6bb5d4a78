"""`storyml schema`: write (or print) the JSON Schema of each spec file kind."""

from __future__ import annotations

import argparse
from pathlib import Path

from codegen.generators.schema import render_schemas
from storyml.fsutil import atomic_write_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("generated"),
        metavar="DIR",
        help="write DIR/schema/<kind>.schema.json (default: %(default)s)",
    )
    parser.add_argument(
        "--print", dest="kind", metavar="KIND", help="print one kind's schema instead"
    )


def run(args: argparse.Namespace) -> int:
    files = render_schemas()
    if args.kind:
        key = f"schema/{args.kind}.schema.json"
        if key not in files:
            from storyml.errors import UserError

            raise UserError(
                f"unknown kind {args.kind!r}; known: "
                + ", ".join(sorted(k.split("/")[1].split(".")[0] for k in files))
            )
        print(files[key], end="")
        return 0
    for rel, text in files.items():
        atomic_write_text(args.out / rel, text)
        print(f"wrote {args.out / rel}")
    return 0
