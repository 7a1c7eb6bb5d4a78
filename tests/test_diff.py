"""`storyml diff`: appending is compatible, reordering/renaming/removing is BREAKING; every finding
names its rule; a breaking finding needs a major version bump or an acknowledgement (exit 1)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from spec_helpers import SPECS, copy_specs, edit, storyml

from codegen.spec.breaking import RULES
from codegen.spec.compat import compare_contracts
from codegen.spec.contract import build_contract
from codegen.spec.loader import load_specs

BASE = build_contract(load_specs(SPECS, codegen_only=True))
LAST_KIND = BASE.event_kinds[-1]  # appending goes after it, whatever the specs hold now

# (file, old, new, expected rule id, fragment of the message)
CASES = [
    (
        "text/labels.yaml",
        f"    - {LAST_KIND}\n",
        f"    - {LAST_KIND}\n    - Dream\n",
        "EVENT_KINDS_APPENDED",
        "appended label Dream",
    ),
    (
        "text/labels.yaml",
        "    - SpeechAct\n    - RelationalShift",
        "    - RelationalShift\n    - SpeechAct",
        "EVENT_KINDS_APPEND_ONLY",
        "event kinds: SpeechAct and RelationalShift swapped (indices 5 and 6)",
    ),
    (
        "text/labels.yaml",
        "    - SpatialChange\n    - EmotionalExpression",
        "    - EmotionalExpression\n    - SpatialChange",
        "EVENT_KINDS_APPEND_ONLY",
        "SpatialChange and EmotionalExpression swapped (indices 2 and 3)",
    ),
    (
        "text/labels.yaml",
        "    - SpeechAct",
        "    - Speech",
        "EVENT_KINDS_APPEND_ONLY",
        "renamed label SpeechAct to Speech (index 5)",
    ),
    (
        "text/labels.yaml",
        "    - SpeechAct\n",
        "",
        "EVENT_KINDS_APPEND_ONLY",
        "removed label SpeechAct (index 5): every later label moves (label 5 was SpeechAct, now RelationalShift)",
    ),
    (
        "text/labels.yaml",
        "    - SpeechAct\n",
        "    - Dream\n    - SpeechAct\n",
        "EVENT_KINDS_APPEND_ONLY",
        "inserted label Dream at index 5: every later label moves",
    ),
    (
        "text/labels.yaml",
        "categories: [CHARACTER,",
        "categories: [PERSON,",
        "BIO_LABELS_APPEND_ONLY",
        "renamed label B-CHARACTER to B-PERSON (index 1); renamed label I-CHARACTER to I-PERSON (index 2)",
    ),
    (
        "text/labels.yaml",
        "threshold: 0.55",
        "threshold: 0.6",
        "EVENT_THRESHOLD_SAME",
        "threshold changed from 0.55 to 0.6",
    ),
    (
        "text/labels.yaml",
        "at_least_one: true",
        "at_least_one: false",
        "EVENT_AT_LEAST_ONE_SAME",
        "at_least_one changed from true to false",  # as the spec spells it, not Python's True
    ),
    (
        "enums.yaml",
        "[Gravitational, Connective, Gate, Threshold]",
        "[Gravitational, Connective, Gate, Threshold, Void]",
        "FEATURES_APPEND_ONLY",
        "feature 387 was scene_context.cast_size, now scene_context.scene_type=Void",
    ),
    (
        "enums.yaml",
        "    default: Periphery",
        "    default: Hub",
        "ENUM_DEFAULT_SAME",
        'default changed from "Periphery" to "Hub"',
    ),
    (
        "character/features.yaml",
        'doc: "How well they read themself, on [0, 1]."',  # docs are not the contract
        'doc: "How accurately they see themself, on [0, 1]."',
        None,
        None,
    ),
    ("character/outputs.yaml", "cutoff: 0.01", "cutoff: 0.05", "DECODE_SAME", "decode changed"),
    ("character/outputs.yaml", "weight: 0.35", "weight: 0.4", "LOSS_WEIGHT_CHANGED", "loss weight"),
    (
        "artifacts.yaml",
        "file: ner_classifier.onnx",
        "file: tagger.onnx",
        "ARTIFACT_FILE_SAME",
        "file changed",
    ),
    (
        "contract.yaml",
        "metadata_key: storyml.contract_version",
        "metadata_key: storyml.version_of_contract",
        "METADATA_KEYS_SAME",
        "contract version: metadata key changed",
    ),
]


@pytest.mark.parametrize(
    "rel,old,new,rule_id,fragment", CASES, ids=[f"{c[3]}-{i}" for i, c in enumerate(CASES)]
)
def test_changes_are_classified_by_rule(tmp_path, rel, old, new, rule_id, fragment):
    specs = copy_specs(tmp_path)
    edit(specs / rel, old, new)
    if "Void" in new:  # the declared offsets must follow the wider layout for the specs to load
        _shift_declared_layout(specs)
    changes = compare_contracts(BASE, build_contract(load_specs(specs, codegen_only=True)))
    if rule_id is None:
        assert changes == []
        return
    assert any(c.rule.id == rule_id and fragment in str(c) for c in changes), [
        str(c) for c in changes
    ]
    severity = RULES[rule_id].severity
    assert any(
        str(c).startswith(f"{severity:<10} {rule_id} ({RULES[rule_id].category}) ") for c in changes
    )
    if severity == "compatible":
        assert all(not c.breaking for c in changes)


def test_every_rule_is_checked_and_every_check_names_a_rule():
    """The ids compat.py judges by are exactly the table's: none missing, none dead."""
    import codegen.spec.compat as compat

    source = Path(compat.__file__).read_text(encoding="utf-8")
    named = set(re.findall(r'"([A-Z][A-Z_]+[A-Z])"', source))
    assert named == set(RULES)
    assert all(r.category in ("INDEX", "MEANING", "BINDING", "TRAINING") for r in RULES.values())


def _shift_declared_layout(specs):
    """A wider SceneType one-hot: scene_context grows by one and every later region moves."""
    features = specs / "character/features.yaml"
    for old, new in [
        ("total: 453", "total: 454"),
        ("offset: 383\n    size: 6", "offset: 383\n    size: 7"),
        ("offset: 389", "offset: 390"),
        ("offset: 405", "offset: 406"),
    ]:
        edit(features, old, new)


def _git(cwd, *args):
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def test_cli_against_a_git_revision(tmp_path):
    specs = copy_specs(tmp_path)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "specs")
    _git(tmp_path, "commit", "-qm", "base")
    assert storyml("diff", "--specs", str(specs), cwd=tmp_path).returncode == 0
    edit(
        specs / "text/labels.yaml",
        f"    - {LAST_KIND}\n",
        f"    - {LAST_KIND}\n    - Dream\n",
    )
    result = storyml("diff", "--specs", str(specs), cwd=tmp_path)
    assert result.returncode == 0 and "appended label Dream" in result.stdout
    edit(specs / "text/labels.yaml", "    - SpeechAct\n", "")
    result = storyml("diff", "--specs", str(specs), "--against", "HEAD", cwd=tmp_path)
    assert result.returncode == 1 and "BREAKING" in result.stdout
    bad = storyml("diff", "--specs", str(specs), "--against", "no-such-ref", cwd=tmp_path)
    assert bad.returncode == 2 and "no-such-ref" in bad.stderr and "Traceback" not in bad.stderr
    assert (
        "not a commit" in bad.stderr and "fatal: Needed a single revision" in bad.stderr
    )  # git's own words
    option = storyml(
        "diff", "--specs", str(specs), "--against=--all", cwd=tmp_path
    )  # never read as a git option
    assert option.returncode == 2 and "fatal: Needed a single revision" in option.stderr


def test_a_swap_is_one_plain_line_on_the_command_line(tmp_path):
    specs = copy_specs(tmp_path)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "specs")
    _git(tmp_path, "commit", "-qm", "base")
    edit(
        specs / "text/labels.yaml",
        "    - SpatialChange\n    - EmotionalExpression\n",
        "    - EmotionalExpression\n    - SpatialChange\n",
    )
    result = storyml("diff", "--specs", str(specs), cwd=tmp_path)
    assert result.returncode == 1
    assert [line for line in result.stdout.splitlines() if "SpatialChange" in line] == [
        "BREAKING   EVENT_KINDS_APPEND_ONLY (INDEX) event kinds: SpatialChange and EmotionalExpression swapped "
        "(indices 2 and 3)"
    ]


# ---------------------------------------------------------------- the version gate

SWAP = (
    "    - SpatialChange\n    - EmotionalExpression\n",
    "    - EmotionalExpression\n    - SpatialChange\n",
)


def _repo_with_specs(tmp_path):
    """A git repository whose one commit holds the specs at version 1.0.0 (whatever the repo's own
    version is), so the version arithmetic below reads plainly."""
    specs = copy_specs(tmp_path)
    _version(specs, "1.0.0")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "specs")
    _git(tmp_path, "commit", "-qm", "base")
    return specs


def _version(specs, version: str, acknowledged: str = "[]") -> None:
    text = (specs / "contract.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^version: .*$", f"version: {version}", text)
    text = re.sub(
        r"(?ms)^acknowledged_breaking:.*", f"acknowledged_breaking: {acknowledged}\n", text
    )
    (specs / "contract.yaml").write_text(text, encoding="utf-8")


def test_a_breaking_change_needs_a_major_bump(tmp_path):
    specs = _repo_with_specs(tmp_path)
    edit(specs / "text/labels.yaml", *SWAP)
    refused = storyml("diff", "--specs", str(specs), cwd=tmp_path)
    assert refused.returncode == 1
    assert (
        "refused: 1 breaking change(s) (EVENT_KINDS_APPEND_ONLY) need a major version bump"
        in refused.stdout
    )
    assert "`version: 2.0.0`" in refused.stdout
    _version(specs, "1.1.0")  # a minor bump is not enough
    assert storyml("diff", "--specs", str(specs), cwd=tmp_path).returncode == 1
    _version(specs, "2.0.0")
    allowed = storyml("diff", "--specs", str(specs), cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stdout
    assert (
        "version 1.0.0 -> 2.0.0" in allowed.stdout and "the major version went up" in allowed.stdout
    )


def test_an_acknowledged_breaking_change_passes_for_its_version_only(tmp_path):
    specs = _repo_with_specs(tmp_path)
    edit(specs / "text/labels.yaml", *SWAP)
    ack = (
        "[{rule: EVENT_KINDS_APPEND_ONLY, version: 1.1.0, reason: no engine reads event kinds yet}]"
    )
    _version(specs, "1.1.0", ack)
    result = storyml("diff", "--specs", str(specs), cwd=tmp_path)
    assert result.returncode == 0 and "every one is acknowledged" in result.stdout, result.stdout
    # acknowledging another rule does not cover this one
    _version(specs, "1.1.0", ack.replace("EVENT_KINDS_APPEND_ONLY", "DECODE_SAME"))
    assert storyml("diff", "--specs", str(specs), cwd=tmp_path).returncode == 1
    # once shipped, the acknowledgement does not carry over to the next breaking change
    _version(specs, "1.1.0", ack)
    _git(tmp_path, "commit", "-qam", "1.1.0")
    edit(
        specs / "text/labels.yaml",
        "    - SpeechAct\n    - RelationalShift\n",
        "    - RelationalShift\n    - SpeechAct\n",
    )
    assert storyml("diff", "--specs", str(specs), cwd=tmp_path).returncode == 1


def test_the_version_may_not_go_down(tmp_path):
    specs = _repo_with_specs(tmp_path)
    _version(specs, "0.9.0")
    result = storyml("diff", "--specs", str(specs), cwd=tmp_path)
    assert result.returncode == 1 and "went down, from 1.0.0 to 0.9.0" in result.stdout


def test_an_acknowledgement_names_a_breaking_rule(tmp_path):
    specs = copy_specs(tmp_path)
    _version(specs, "1.1.0", "[{rule: EVENT_KIND_APPEND_ONLY, version: 1.1.0, reason: typo}]")
    result = storyml("check", "--specs", str(specs))
    assert result.returncode == 2 and "did you mean 'EVENT_KINDS_APPEND_ONLY'" in result.stderr
    _version(
        specs,
        "1.1.0",
        "[{rule: EVENT_KINDS_APPENDED, version: 1.1.0, reason: not a breaking rule}]",
    )
    assert storyml("check", "--specs", str(specs)).returncode == 2


def test_a_revision_before_contract_versions_counts_as_0_0_0(tmp_path):
    specs = _repo_with_specs(tmp_path)
    _git(tmp_path, "rm", "-q", "specs/contract.yaml")
    _git(tmp_path, "commit", "-qm", "unversioned")
    _git(tmp_path, "checkout", "-q", "HEAD~1", "--", "specs/contract.yaml")
    edit(specs / "text/labels.yaml", *SWAP)
    result = storyml("diff", "--specs", str(specs), cwd=tmp_path)
    assert result.returncode == 0 and "version 0.0.0 -> 1.0.0" in result.stdout, result.stdout


def test_list_rules_prints_the_table():
    result = storyml("diff", "--list-rules")
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and len(lines) == len(RULES)
    assert any(line.split()[:3] == ["DECODE_SAME", "MEANING", "BREAKING"] for line in lines)
