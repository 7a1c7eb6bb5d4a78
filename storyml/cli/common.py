"""Options and steps that several verbs share."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from codegen.spec.contract import Contract, build_contract
from codegen.spec.loader import load_specs
from storyml.errors import UserError
from storyml.paths import DEFAULT_GENERATED, DEFAULT_SPECS

__all__ = [
    "DEFAULT_GENERATED",
    "DEFAULT_SPECS",
    "add_specs_option",
    "check_output",
    "load_contract",
]


def add_specs_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--specs",
        type=Path,
        default=DEFAULT_SPECS,
        metavar="DIR",
        help="specs directory (default: %(default)s)",
    )


def load_contract(specs_dir: Path) -> Contract:
    """Load, validate and derive the contract; raises SpecError with every problem."""
    return build_contract(load_specs(specs_dir))


def check_output(path: Path, directory: bool, flag: str = "--out") -> None:
    """Refuse, before any work, an output that cannot be written: a file where a directory belongs
    or the other way round, or a place under a file or without write permission."""
    if path.exists() and path.is_dir() != directory:
        raise UserError(
            f"{flag} {path}: is a {'file' if directory else 'directory'}, not a "
            f"{'directory' if directory else 'file'}"
        )
    parent = (
        path if path.exists() and directory else path.parent
    )  # an existing file is rewritten in place
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"{flag} {path}: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {path}: cannot write in {parent} (permission denied)")
