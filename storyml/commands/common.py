"""Options and steps that several verbs share."""

from __future__ import annotations

import argparse
from pathlib import Path

from codegen.spec.contract import Contract, build_contract
from codegen.spec.loader import load_specs

DEFAULT_SPECS = Path("specs")
DEFAULT_GENERATED = Path("generated")


def add_specs_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--specs", type=Path, default=DEFAULT_SPECS, metavar="DIR",
                        help="specs directory (default: %(default)s)")


def load_contract(specs_dir: Path) -> Contract:
    """Load, validate and derive the contract; raises SpecError with every problem."""
    return build_contract(load_specs(specs_dir))
