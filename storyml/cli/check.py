"""`storyml check`: validate every spec file and the cross-file rules, then say whether the
outputs committed beside the specs (the silver records of a corpus spec) still match them."""

from __future__ import annotations

import argparse

from .common import add_specs_option, load_contract

STALE = 1  # exit status when the specs are valid but a committed output must be regenerated


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_specs_option(parser)


def run(args: argparse.Namespace) -> int:
    from storyml.silver.label import labelled_staleness

    contract = load_contract(args.specs)
    n = len(list(contract.specs))
    print(f"{n} spec files are valid; contract fingerprint {contract.fingerprint}")
    stale = [
        reason
        for entry in contract.specs.of_kind("corpus")
        if (reason := labelled_staleness(contract.specs, entry)) is not None
    ]
    for reason in stale:
        print(f"stale: {reason}")
    return STALE if stale else 0
