"""`storyml diff [--against REF]`: is the contract in the working tree compatible with REF's?

Every finding names its rule (id and category, `--list-rules`). A breaking finding passes only
when the contract's major version went up since REF, or specs/contract.yaml acknowledges its
rule for the new version. Exit 0 when every finding passes, 1 when one does not (or the version
went down), 2 on bad input (an unknown revision, specs that do not load).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from codegen.spec.breaking import RULES
from codegen.spec.compat import Change, compare_contracts
from codegen.spec.contract import Contract, build_contract
from codegen.spec.errors import SpecError
from codegen.spec.loader import load_specs, spec_files
from codegen.spec.source import load_yaml
from codegen.spec.versioning import UNVERSIONED, Version
from storyml.errors import UserError

from .common import add_specs_option


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_specs_option(parser)
    parser.add_argument(
        "--against",
        default="HEAD",
        metavar="GIT_REF",
        help="revision to compare with (default: %(default)s)",
    )
    parser.add_argument(
        "--list-rules",
        action="store_true",
        help="print every rule's id, category and whether it is breaking, then exit",
    )


def _git(args: list[str], cwd: Path) -> bytes:
    try:
        return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True).stdout
    except FileNotFoundError:
        raise UserError("git is not installed") from None
    except subprocess.CalledProcessError as exc:
        said = (
            exc.stderr.decode(errors="replace").strip()
            or f"exit status {exc.returncode}, no message"
        )
        raise UserError(f"git {' '.join(args)} failed:\n{said}") from None


def export_specs(ref: str, specs_dir: Path, dest: Path) -> Path:
    """Copy the specs directory as it was at `ref` into `dest`."""
    specs_dir = specs_dir.resolve()
    top = Path(_git(["rev-parse", "--show-toplevel"], specs_dir).decode().strip())
    rel = specs_dir.relative_to(top).as_posix()
    try:  # git's own words, in full: "fatal: Needed a single revision" and the like
        _git(["rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}"], top)
    except UserError as exc:
        raise UserError(
            f"--against {ref}: not a commit of the repository at {top}; {exc}"
        ) from None
    names = _git(["ls-tree", "-r", "--name-only", ref, "--", rel], top).decode().splitlines()
    if not names:
        raise UserError(f"{ref} has no {rel}/ directory")
    for name in names:
        target = dest / Path(name).relative_to(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_git(["show", f"{ref}:{name}"], top))
    return dest


def _declares_version(root: Path) -> bool:
    paths, _ = spec_files(root)  # a directory it cannot list is load_specs' problem to report
    for path in paths:
        doc, _ = load_yaml(path)
        if (
            doc is not None
            and isinstance(doc.data, dict)
            and doc.data.get("kind") == "contract_version"
        ):
            return True
    return False


def _old_contract(ref: str, specs: Path, tmp: Path, new: Contract) -> Contract:
    root = export_specs(ref, specs, tmp)
    if not _declares_version(root):
        # A revision from before contract versions: it counts as version 0.0.0, its version key
        # as today's (so the gate asks a major bump of nothing but its own first version).
        (root / "contract.unversioned.yaml").write_text(
            f"kind: contract_version\nversion: {UNVERSIONED}\nmetadata_key: {new.version.metadata_key}\n",
            encoding="utf-8",
        )
    try:
        return build_contract(load_specs(root, codegen_only=True))
    except SpecError as exc:
        # Usually a spec key this version requires that the old revision predates.
        first = exc.problems[0]
        where = Path(first.file).relative_to(tmp) if first.file.startswith(str(tmp)) else first.file
        raise UserError(
            f"the specs at {ref} do not load with this storyml "
            f"({len(exc.problems)} problem(s); first: {where}:{first.line}: {first.key}: "
            f"{first.message}); compare against a later revision"
        ) from None


def gate(old: Contract, new: Contract, changes: list[Change]) -> list[str]:
    """Why the change may not ship as it is; empty when it may."""
    was, now = old.version.semver, new.version.semver
    if now < was:
        return [f"the contract version went down, from {was} to {now}"]
    breaking = [c for c in changes if c.breaking]
    if not breaking or now.major > was.major:
        return []
    acknowledged = new.version.acknowledged(since=old.version.version)
    missing = sorted({c.rule.id for c in breaking} - acknowledged)
    if not missing:
        return []
    bump = Version(was.major + 1, 0, 0)
    return [
        f"{len([c for c in breaking if c.rule.id in missing])} breaking change(s) ({', '.join(missing)}) "
        f"need a major version bump: set `version: {bump}` in specs/contract.yaml (now {now}), or "
        f"acknowledge each rule there under `acknowledged_breaking` for a new version"
    ]


def _list_rules() -> int:
    for r in RULES.values():
        print(f"{r.id:<28} {r.category:<9} {r.severity:<10} {r.text}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.list_rules:
        return _list_rules()
    new = build_contract(load_specs(args.specs, codegen_only=True))
    with tempfile.TemporaryDirectory(prefix="storyml-diff-") as tmp:
        old = _old_contract(args.against, args.specs, Path(tmp), new)
    changes = compare_contracts(old, new)
    for change in changes:
        print(change)
    breaking = sum(c.breaking for c in changes)
    versions = f"version {old.version.version} -> {new.version.version}"
    if not changes:
        print(
            f"no contract changes against {args.against} (fingerprint {new.fingerprint}; {versions})"
        )
    else:
        print(
            f"{len(changes)} change(s), {breaking} breaking; fingerprint {old.fingerprint} -> {new.fingerprint}; "
            f"{versions}"
        )
    problems = gate(old, new, changes)
    for problem in problems:
        print(f"refused: {problem}")
    if breaking and not problems:
        print(
            "breaking changes allowed: "
            + (
                "the major version went up"
                if new.version.semver.major > old.version.semver.major
                else "every one is acknowledged in specs/contract.yaml"
            )
        )
    return 1 if problems else 0
