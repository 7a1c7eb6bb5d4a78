"""`storyml diff`: appending is compatible, reordering/renaming/removing is BREAKING (exit 1)."""

from __future__ import annotations

import subprocess

import pytest
from spec_helpers import SPECS, copy_specs, edit, storyml

from codegen.spec.compat import compare_contracts
from codegen.spec.contract import build_contract
from codegen.spec.loader import load_specs

BASE = build_contract(load_specs(SPECS, codegen_only=True))

# (file, old, new, expected severity, fragment of the message)
CASES = [
    ("text/labels.yaml", "    - EnvironmentalChange", "    - EnvironmentalChange\n    - Dream", "compatible",
     "appended label Dream"),
    ("text/labels.yaml", "    - SpeechAct\n    - RelationalShift", "    - RelationalShift\n    - SpeechAct",
     "BREAKING", "event kinds: SpeechAct and RelationalShift swapped (indices 5 and 6)"),
    ("text/labels.yaml", "    - SpatialChange\n    - EmotionalExpression",
     "    - EmotionalExpression\n    - SpatialChange", "BREAKING",
     "SpatialChange and EmotionalExpression swapped (indices 2 and 3)"),
    ("text/labels.yaml", "    - SpeechAct", "    - Speech", "BREAKING", "renamed label SpeechAct to Speech (index 5)"),
    ("text/labels.yaml", "    - SpeechAct\n", "", "BREAKING",
     "removed label SpeechAct (index 5): every later label moves (label 5 was SpeechAct, now RelationalShift)"),
    ("text/labels.yaml", "    - SpeechAct\n", "    - Dream\n    - SpeechAct\n", "BREAKING",
     "inserted label Dream at index 5: every later label moves"),
    ("text/labels.yaml", "categories: [CHARACTER,", "categories: [PERSON,", "BREAKING",
     "renamed label B-CHARACTER to B-PERSON (index 1); renamed label I-CHARACTER to I-PERSON (index 2)"),
    ("enums.yaml", "[Gravitational, Connective, Gate, Threshold]", "[Gravitational, Connective, Gate, Threshold, Void]",
     "BREAKING", "feature 387 was scene_context.cast_size, now scene_context.scene_type=Void"),
    ("character/features.yaml", 'doc: "How well they read themself, on [0, 1]."',  # docs are not the contract
     'doc: "How accurately they see themself, on [0, 1]."', None, None),
    ("character/outputs.yaml", "cutoff: 0.01", "cutoff: 0.05", "BREAKING", "decode changed"),
    ("character/outputs.yaml", "weight: 0.35", "weight: 0.4", "compatible", "loss weight"),
]


@pytest.mark.parametrize("rel,old,new,severity,fragment", CASES, ids=[c[3] or "none" for c in CASES])
def test_changes_are_classified(tmp_path, rel, old, new, severity, fragment):
    specs = copy_specs(tmp_path)
    edit(specs / rel, old, new)
    if "Void" in new:  # the declared offsets must follow the wider layout for the specs to load
        _shift_declared_layout(specs)
    changes = compare_contracts(BASE, build_contract(load_specs(specs, codegen_only=True)))
    if severity is None:
        assert changes == []
        return
    assert any(c.severity == severity and fragment in str(c) for c in changes), [str(c) for c in changes]
    if severity == "compatible":
        assert all(c.severity == "compatible" for c in changes)


def _shift_declared_layout(specs):
    """A wider SceneType one-hot: scene_context grows by one and every later region moves."""
    features = specs / "character/features.yaml"
    for old, new in [("total: 453", "total: 454"), ("offset: 383\n    size: 6", "offset: 383\n    size: 7"),
                     ("offset: 389", "offset: 390"), ("offset: 405", "offset: 406")]:
        edit(features, old, new)


def _git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                   capture_output=True)


def test_cli_against_a_git_revision(tmp_path):
    specs = copy_specs(tmp_path)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "specs")
    _git(tmp_path, "commit", "-qm", "base")
    assert storyml("diff", "--specs", str(specs), cwd=tmp_path).returncode == 0
    edit(specs / "text/labels.yaml", "    - EnvironmentalChange", "    - EnvironmentalChange\n    - Dream")
    result = storyml("diff", "--specs", str(specs), cwd=tmp_path)
    assert result.returncode == 0 and "appended label Dream" in result.stdout
    edit(specs / "text/labels.yaml", "    - SpeechAct\n", "")
    result = storyml("diff", "--specs", str(specs), "--against", "HEAD", cwd=tmp_path)
    assert result.returncode == 1 and "BREAKING" in result.stdout
    bad = storyml("diff", "--specs", str(specs), "--against", "no-such-ref", cwd=tmp_path)
    assert bad.returncode == 2 and "no-such-ref" in bad.stderr and "Traceback" not in bad.stderr
    assert "not a commit" in bad.stderr and "fatal: Needed a single revision" in bad.stderr  # git's own words
    option = storyml("diff", "--specs", str(specs), "--against=--all", cwd=tmp_path)  # never read as a git option
    assert option.returncode == 2 and "fatal: Needed a single revision" in option.stderr


def test_a_swap_is_one_plain_line_on_the_command_line(tmp_path):
    specs = copy_specs(tmp_path)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "specs")
    _git(tmp_path, "commit", "-qm", "base")
    edit(specs / "text/labels.yaml", "    - SpatialChange\n    - EmotionalExpression\n",
         "    - EmotionalExpression\n    - SpatialChange\n")
    result = storyml("diff", "--specs", str(specs), cwd=tmp_path)
    assert result.returncode == 1
    assert [line for line in result.stdout.splitlines() if "SpatialChange" in line] == [
        "BREAKING   event kinds: SpatialChange and EmotionalExpression swapped (indices 2 and 3)"]
