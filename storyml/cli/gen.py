"""`storyml gen`: write generated/ from the specs, or `--check` that it is current."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from codegen.generators.generate import render_all
from codegen.generators.writer import compare, write_tree
from storyml.errors import UserError

from .common import DEFAULT_GENERATED, add_specs_option, check_output, load_contract


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_specs_option(parser)
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_GENERATED,
        metavar="DIR",
        help="generated code directory (default: %(default)s)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 with a diff if the generated code is stale",
    )


MAX_DIFF_LINES = 150  # the diff after the summary; a label change touches a dozen files
FINGERPRINT_RE = re.compile(r"^# Contract fingerprint: ([0-9a-f]+)$", re.M)


def stale_summary(state, out: Path, fingerprint: str) -> str:
    """What is stale, before any diff: the contract fingerprint then and now, and each file with the
    lines it gains and loses (or that it is missing, or not generated from the specs)."""
    before = sorted(
        {
            m
            for path in sorted(out.rglob("*.py"))[:50]
            if path.is_file()
            for m in FINGERPRINT_RE.findall(path.read_text(encoding="utf-8", errors="replace"))
        }
    )
    lines = [
        f"{out}/ is stale: {len(state.changed)} changed, {len(state.missing)} missing, "
        f"{len(state.extra)} not generated from the specs"
    ]
    if before and before != [fingerprint]:
        lines.append(
            f"  contract fingerprint {', '.join(before)} -> {fingerprint} (contract facts changed; "
            f"`storyml diff` names them)"
        )
    elif before:
        lines.append(
            f"  contract fingerprint unchanged ({fingerprint}): the generators or docs changed"
        )
    added, removed = _line_counts(state.diff)
    lines += [
        f"  changed: {out}/{rel} (+{added.get(rel, 0)} -{removed.get(rel, 0)})"
        for rel in state.changed
    ]
    lines += [f"  missing: {out}/{rel}" for rel in state.missing]
    lines += [f"  not generated from the specs: {out}/{rel}" for rel in state.extra]
    return "\n".join(lines)


def _line_counts(diff: str) -> tuple[dict[str, int], dict[str, int]]:
    added: dict[str, int] = {}
    removed: dict[str, int] = {}
    current = None
    for line in diff.splitlines():
        if line.startswith("+++ b/"):
            current = line[len("+++ b/") :]
        elif line.startswith("--- a/"):
            continue
        elif current and line.startswith("+"):
            added[current] = added.get(current, 0) + 1
        elif current and line.startswith("-"):
            removed[current] = removed.get(current, 0) + 1
    return added, removed


def bounded(diff: str, limit: int) -> str:
    lines = diff.splitlines(keepends=True)
    if len(lines) <= limit:
        return diff
    return (
        "".join(lines[:limit])
        + f"... {len(lines) - limit} more diff lines; `storyml gen` writes them all\n"
    )


def run(args: argparse.Namespace) -> int:
    if not args.check:
        check_output(args.out, directory=True)
    contract = load_contract(args.specs)
    files = render_all(contract)
    if args.check:
        state = compare(files, args.out)
        if not state.stale:
            print(
                f"{args.out}/ is up to date with {args.specs}/ (fingerprint {contract.fingerprint})"
            )
            return 0
        print(stale_summary(state, args.out, contract.fingerprint))
        sys.stdout.write(bounded(state.diff, MAX_DIFF_LINES))
        print(f"{args.out}/ is stale: run `storyml gen` and commit the result", file=sys.stderr)
        return 1
    try:
        changed = write_tree(files, args.out)
    except OSError as exc:
        where = exc.filename or args.out
        raise UserError(
            f"cannot write {args.out}/ ({where}: {exc.strerror or exc}); it is as it was"
        ) from None
    for rel in changed:
        print(f"wrote {args.out}/{rel}")
    print(
        f"{len(files)} files, {len(changed)} changed; contract fingerprint {contract.fingerprint}"
    )
    return 0
