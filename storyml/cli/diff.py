"""`storyml diff [--against REF]`: is the contract in the working tree compatible with REF's?

Exit 0 when every change is compatible, 1 when any change is BREAKING, 2 on
bad input (an unknown revision, specs that do not load).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from codegen.spec.compat import compare_contracts
from codegen.spec.contract import build_contract
from codegen.spec.errors import SpecError
from codegen.spec.loader import load_specs
from storyml.errors import UserError

from .common import add_specs_option


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_specs_option(parser)
    parser.add_argument("--against", default="HEAD", metavar="GIT_REF",
                        help="revision to compare with (default: %(default)s)")


def _git(args: list[str], cwd: Path) -> bytes:
    try:
        return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True).stdout
    except FileNotFoundError:
        raise UserError("git is not installed") from None
    except subprocess.CalledProcessError as exc:
        said = exc.stderr.decode(errors="replace").strip() or f"exit status {exc.returncode}, no message"
        raise UserError(f"git {' '.join(args)} failed:\n{said}") from None


def export_specs(ref: str, specs_dir: Path, dest: Path) -> Path:
    """Copy the specs directory as it was at `ref` into `dest`."""
    specs_dir = specs_dir.resolve()
    top = Path(_git(["rev-parse", "--show-toplevel"], specs_dir).decode().strip())
    rel = specs_dir.relative_to(top).as_posix()
    try:  # git's own words, in full: "fatal: Needed a single revision" and the like
        _git(["rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}"], top)
    except UserError as exc:
        raise UserError(f"--against {ref}: not a commit of the repository at {top}; {exc}") from None
    names = _git(["ls-tree", "-r", "--name-only", ref, "--", rel], top).decode().splitlines()
    if not names:
        raise UserError(f"{ref} has no {rel}/ directory")
    for name in names:
        target = dest / Path(name).relative_to(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_git(["show", f"{ref}:{name}"], top))
    return dest


def run(args: argparse.Namespace) -> int:
    new = build_contract(load_specs(args.specs, codegen_only=True))
    with tempfile.TemporaryDirectory(prefix="storyml-diff-") as tmp:
        try:
            old = build_contract(load_specs(export_specs(args.against, args.specs, Path(tmp)), codegen_only=True))
        except SpecError as exc:
            # Usually a spec key this version requires that the old revision predates.
            first = exc.problems[0]
            where = Path(first.file).relative_to(tmp) if first.file.startswith(tmp) else first.file
            raise UserError(f"the specs at {args.against} do not load with this storyml "
                            f"({len(exc.problems)} problem(s); first: {where}:{first.line}: {first.key}: "
                            f"{first.message}); compare against a later revision") from None
    changes = compare_contracts(old, new)
    for change in changes:
        print(change)
    breaking = sum(c.severity == "BREAKING" for c in changes)
    if not changes:
        print(f"no contract changes against {args.against} (fingerprint {new.fingerprint})")
    else:
        print(f"{len(changes)} change(s), {breaking} breaking; fingerprint {old.fingerprint} -> {new.fingerprint}")
    return 1 if breaking else 0
