"""`storyml check`: validate every spec file and the cross-file rules."""

from __future__ import annotations

import argparse

from .common import add_specs_option, load_contract


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_specs_option(parser)


def run(args: argparse.Namespace) -> int:
    contract = load_contract(args.specs)
    n = len(list(contract.specs))
    print(f"{n} spec files are valid; contract fingerprint {contract.fingerprint}")
    return 0
