"""Options and steps that several verbs share."""

from __future__ import annotations

import argparse
from pathlib import Path

from codegen.spec.contract import Contract, build_contract
from codegen.spec.loader import load_specs
from storyml.paths import DEFAULT_GENERATED, DEFAULT_SPECS

__all__ = ["DEFAULT_GENERATED", "DEFAULT_SPECS", "add_specs_option", "load_contract"]


def add_specs_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--specs", type=Path, default=DEFAULT_SPECS, metavar="DIR",
                        help="specs directory (default: %(default)s)")


def load_contract(specs_dir: Path) -> Contract:
    """Load, validate and derive the contract; raises SpecError with every problem."""
    return build_contract(load_specs(specs_dir))
