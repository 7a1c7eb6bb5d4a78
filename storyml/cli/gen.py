"""`storyml gen`: write generated/ from the specs, or `--check` that it is current."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codegen.generators.generate import render_all
from codegen.generators.writer import compare, write_tree
from storyml.errors import UserError

from .common import DEFAULT_GENERATED, add_specs_option, check_output, load_contract


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_specs_option(parser)
    parser.add_argument("--out", type=Path, default=DEFAULT_GENERATED, metavar="DIR",
                        help="generated code directory (default: %(default)s)")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 with a diff if the generated code is stale")


def run(args: argparse.Namespace) -> int:
    if not args.check:
        check_output(args.out, directory=True)
    contract = load_contract(args.specs)
    files = render_all(contract)
    if args.check:
        state = compare(files, args.out)
        if not state.stale:
            print(f"{args.out}/ is up to date with {args.specs}/ (fingerprint {contract.fingerprint})")
            return 0
        sys.stdout.write(state.diff)
        for rel in state.missing:
            print(f"missing: {args.out}/{rel}")
        for rel in state.extra:
            print(f"not generated from the specs: {args.out}/{rel}")
        print(f"{args.out}/ is stale: run `storyml gen` and commit the result", file=sys.stderr)
        return 1
    try:
        changed = write_tree(files, args.out)
    except OSError as exc:
        where = exc.filename or args.out
        raise UserError(f"cannot write {args.out}/ ({where}: {exc.strerror or exc}); it is as it was") from None
    for rel in changed:
        print(f"wrote {args.out}/{rel}")
    print(f"{len(files)} files, {len(changed)} changed; contract fingerprint {contract.fingerprint}")
    return 0
