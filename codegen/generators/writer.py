"""Write the generated tree: all files rendered in memory first, then the whole tree swapped in.

Rendering happens before anything touches the disk, so a spec or template
error leaves generated/ as it was. Writing builds the complete new tree in a
staging directory beside the target and exchanges the two in one atomic step
(renameat2 on Linux; elsewhere two renames, undone by the next run if killed
between them), so a reader or a kill mid-way sees the old tree or the new one,
never a mix. Files that are no longer generated disappear with the old tree;
what `gen` does not own (Rust's target/, a README beside the sources) is moved
into the new tree, and unchanged files keep their modification times.
"""

from __future__ import annotations

import difflib
import errno
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from storyml.fsutil import DIR_MODE, exchange_paths

# Directories under generated/ whose every file is ours to write or remove.
MANAGED = ("python/storyml_contract", "rust/src", "rust/tests", "schema")
UNMANAGED_PARTS = {"__pycache__", "target"}
# Beside the target while `gen` runs: the tree being built, the list of what it took from the
# target, and (without renameat2) the old tree.
STAGE, CARRIED, OLD = ".stage", ".carried", ".old"


def _on_disk(out: Path) -> dict[str, Path]:
    found = {}
    for root in MANAGED:
        base = out / root
        if base.is_dir():
            for p in base.rglob("*"):
                if p.is_file() and not UNMANAGED_PARTS & set(p.relative_to(out).parts):
                    found[p.relative_to(out).as_posix()] = p
    return found


@dataclass
class Staleness:
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    diff: str = ""

    @property
    def stale(self) -> bool:
        return bool(self.changed or self.missing or self.extra)


def compare(files: dict[str, str], out: Path) -> Staleness:
    result = Staleness()
    chunks: list[str] = []
    for rel, text in sorted(files.items()):
        path = out / rel
        if not path.is_file():
            result.missing.append(rel)
            continue
        current = path.read_text(encoding="utf-8")
        if current != text:
            result.changed.append(rel)
            chunks.extend(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    f"a/{rel}",
                    f"b/{rel}",
                    n=2,
                )
            )
    result.extra = sorted(set(_on_disk(out)) - set(files))
    result.diff = "".join(chunks)
    return result


def write_tree(files: dict[str, str], out: Path) -> list[str]:
    """Publish the whole tree at once if anything changed; return what changed."""
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "exists and is not a directory", str(out))
    recover(out)
    state = compare(files, out)
    changed = sorted(state.missing + state.changed + state.extra)
    if not changed:
        return []
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=STAGE, dir=out.parent))
    carried: list[str] = []
    try:
        os.chmod(stage, DIR_MODE)
        for rel, text in sorted(files.items()):
            target = stage / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if rel in state.missing or rel in state.changed:
                _write_synced(target, text)
            else:  # unchanged: keep its modification time, so cargo does not rebuild for nothing
                shutil.copy2(out / rel, target)
        if out.exists():
            unowned = _unowned(out, set(files))
            _write_synced(_sibling(stage, CARRIED), "".join(rel + "\n" for rel in unowned))
            for rel in unowned:
                (stage / rel).parent.mkdir(parents=True, exist_ok=True)
                os.rename(out / rel, stage / rel)
                carried.append(rel)
            if not exchange_paths(stage, out):
                old = _sibling(stage, OLD)
                os.rename(out, old)
                try:
                    os.rename(stage, out)
                except BaseException:
                    os.rename(old, out)
                    raise
                stage = old
        else:
            os.rename(stage, out)
            return changed
    except BaseException:
        for rel in carried:  # a failed swap puts back what it took
            if not (out / rel).exists() and (stage / rel).exists():
                os.rename(stage / rel, out / rel)
        shutil.rmtree(stage, ignore_errors=True)
        _sibling(stage, CARRIED).unlink(missing_ok=True)
        raise
    shutil.rmtree(stage, ignore_errors=True)  # now the old tree
    _sibling(stage, CARRIED).unlink(missing_ok=True)
    return changed


def _sibling(stage: Path, suffix: str) -> Path:
    return stage.with_name(stage.name.removesuffix(STAGE).removesuffix(OLD) + suffix)


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _unowned(tree: Path, rendered: set[str]) -> list[str]:
    """The top-most paths under `tree` that `gen` neither renders nor manages (target/, a README)."""
    owned = set(MANAGED) | rendered
    found = []

    def visit(d: Path) -> None:
        for p in sorted(d.iterdir()):
            rel = p.relative_to(tree).as_posix()
            if rel in owned:
                continue
            if p.is_dir() and not p.is_symlink() and any(o.startswith(rel + "/") for o in owned):
                visit(p)
            else:
                found.append(rel)

    visit(tree)
    return found


def recover(out: Path) -> None:
    """Undo what a killed `gen` left beside `out`: the old tree comes back if it was renamed aside and
    the new one never arrived; what a staging tree took from `out` goes back; leftovers are removed."""
    for path in sorted(out.parent.glob(f".{out.name}.*{OLD}")):
        if not out.exists():
            os.rename(path, out)
        else:
            shutil.rmtree(path, ignore_errors=True)
    for path in sorted(out.parent.glob(f".{out.name}.*{STAGE}")):
        carried = _sibling(path, CARRIED)
        taken = carried.read_text(encoding="utf-8").splitlines() if carried.is_file() else []
        for rel in taken:
            if out.is_dir() and (path / rel).exists() and not (out / rel).exists():
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                os.rename(path / rel, out / rel)
        shutil.rmtree(path, ignore_errors=True)
    for path in out.parent.glob(f".{out.name}.*{CARRIED}"):
        path.unlink(missing_ok=True)
