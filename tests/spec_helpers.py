"""Helpers for tests that work on copies of the specs (no fixtures: plain functions)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPECS = REPO / "specs"
GENERATED = REPO / "generated"


def copy_specs(tmp: Path) -> Path:
    dest = tmp / "specs"
    shutil.copytree(SPECS, dest)
    return dest


def storyml(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the CLI as a user would, in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "storyml", *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def set_key(path: Path, keys: tuple, value) -> None:
    """Set one nested key of a YAML spec (comments are not kept: for copies in tests)."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    node = data
    for key in keys[:-1]:
        node = node[key]
    assert keys[-1] in node, f"{keys} not in {path}"
    node[keys[-1]] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "target" not in p.parts and "__pycache__" not in p.parts
    }


def coverage_rules():
    """The coverage section of the text_training spec (thresholds tests read instead of literals)."""
    import yaml

    from codegen.spec.training import TextTrainingFile

    data = yaml.safe_load((SPECS / "text" / "training.yaml").read_text(encoding="utf-8"))
    return TextTrainingFile.model_validate(data).coverage


def evalset_rule(path: Path):
    """The coverage rule of one hand-written evaluation set, by its path in the checkout."""
    (rule,) = [r for r in coverage_rules().evalsets if (REPO / r.file).resolve() == path.resolve()]
    return rule
