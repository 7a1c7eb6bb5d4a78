"""Nothing in a spec file makes loading slow, deep or end in a traceback; YAML errors are plain words."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from spec_helpers import copy_specs, storyml

from codegen.spec import source
from codegen.spec.errors import SpecError
from codegen.spec.limits import MAX_ALIAS_EXPANSION, MAX_YAML_DEPTH
from codegen.spec.loader import load_specs
from codegen.spec.source import load_yaml

# PyYAML's and libyaml's own phrases, which a user should never have to decode.
PYYAML_WORDING = (
    "while parsing",
    "while scanning",
    "did not find expected",
    "could not find expected",
    "found character",
    "expected <",
    "<document>",
)


def _one_problem(text: str):
    doc, problems = load_yaml(Path("spec.yaml"), text)
    assert doc is None and len(problems) == 1, problems
    problem = problems[0]
    assert not any(w in str(problem) for w in PYYAML_WORDING), problem
    return problem


def _laughs(levels: int) -> str:
    lines = ["kind: enums", "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_is_refused_at_once_where_it_explodes():
    started = time.perf_counter()
    problem = _one_problem(_laughs(10))  # 10**10 values if expanded
    assert time.perf_counter() - started < 1.0
    assert f"aliases expand to more than {MAX_ALIAS_EXPANSION:,} values" in problem.message
    # 10 + 110 + 1,110 + 11,110 values by l3; each alias in l4 adds 11,111: the budget runs out there
    assert problem.line == 6 and problem.key.startswith("l4["), problem


def test_merge_keys_that_double_at_each_level_are_refused_too():
    lines = ["kind: enums", "m0: &m0 {a: 1, b: 2}"]
    lines += [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: 1}}" for i in range(1, 40)]
    problem = _one_problem("\n".join(lines) + "\n")
    assert "aliases expand" in problem.message and problem.key.startswith("m1")


def test_aliases_within_the_budget_still_work():
    doc, problems = load_yaml(Path("spec.yaml"), _laughs(3) + "merged: {<<: {x: 1}, y: 2}\n")
    assert not problems and len(doc.data["l2"]) == 10 and doc.data["merged"] == {"x": 1, "y": 2}


def test_a_recursive_alias_is_located_at_the_alias():
    problem = _one_problem("kind: text_labels\nregisters: &r\n  - player\n  - *r\n")
    assert (problem.line, problem.key) == (4, "registers[1]")
    assert "*r refers to the value that contains it (&r, line 2)" in problem.message


@pytest.mark.parametrize(
    "text,line",
    [
        ("kind: enums\nenums: " + "[" * 5000 + "]" * 5000 + "\n", 2),
        (
            "kind: enums\na: &a "
            + "[" * 40
            + "]" * 40
            + "\nb: "
            + "[" * 30
            + "*a"
            + "]" * 30
            + "\n",
            3,
        ),
    ],
    ids=["flow collections", "through an alias"],
)
def test_deep_nesting_is_a_located_error_not_a_recursion_error(text, line):
    problem = _one_problem(text)
    assert problem.line == line and f"more than {MAX_YAML_DEPTH} levels deep" in problem.message
    assert len(problem.key) < 80, problem.key


@pytest.mark.parametrize(
    "text,line,key,fragment",
    [
        (
            "kind: text_labels\nmax_seq_length: !!int twenty\n",
            2,
            "max_seq_length",
            "'twenty' cannot be read as an integer (!!int)",
        ),
        ("kind: enums\nwhen: !!timestamp 2020-99-99\n", 2, "when", "cannot be read as a date"),
        ("kind: enums\nx: !python/object:os.system ls\n", 2, "x", "unknown tag"),
        (
            'kind: enums\nenums:\n  A:\n    doc: "nul \0 raw"\n',
            4,
            "enums.A.doc",
            "a NUL character (U+0000) at column",
        ),
        ('kind: enums\ndoc: "\\ud800"\n', 2, "doc", "no character (a surrogate"),
        (
            "kind: enums\nenums:\n  A:\n    variants: [A, B\n  B: {}\n",
            5,
            "enums.A.variants[2]",
            "the [ list opened on line 4 is not closed",
        ),
        ("kind: enums\nenums:\n\tA: 1\n", 3, "enums", "a tab: YAML indents with spaces"),
        ("kind: enums\ndoc: a: b\n", 2, "doc", "a second `: ` on one line"),
        (
            "kind: enums\nenums:\n  A: 1\n B: 2\n",
            4,
            "enums",
            "does not line up with the keys above it",
        ),
        (
            'kind: enums\nname: "open\nnext: 1\n',
            4,
            "name",
            "the quoted text opened on line 2 is never closed",
        ),
        ("kind: enums\na: *nope\n", 2, "a", "*nope refers to no anchor &nope"),
        ("kind: enums\na: &x 1\nb: &x 2\n", 3, "b", "anchor &x is defined twice (first on line 2)"),
        ("kind: enums\n---\nkind: enums\n", 2, "(top level)", "a second YAML document"),
        ("kind: enums\n? [a, b]\n: 1\n", 2, "(top level)", "unsupported mapping key a list"),
    ],
)
def test_yaml_problems_are_plain_words_at_their_line_and_key(text, line, key, fragment):
    problem = _one_problem(text)
    assert (problem.line, problem.key) == (line, key), problem
    assert fragment in problem.message, problem


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "big.yaml"
    path.write_text("kind: enums\n" + "# padding\n" * 100, encoding="utf-8")
    monkeypatch.setattr(source, "MAX_SPEC_BYTES", 100)
    doc, problems = load_yaml(path)
    assert doc is None and "a spec is at most 100" in problems[0].message


def test_not_utf8_is_reported_at_its_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"kind: enums\nenums:\n  A:\n    doc: caf\xe9\n")
    _, problems = load_yaml(path)
    assert problems[0].line == 4 and "byte 0xe9 at column 13" in problems[0].message


def test_an_unreadable_spec_file_and_directory_are_reported_not_skipped(tmp_path, monkeypatch):
    """Root can read anything, so the permission errors are simulated where the loader meets them."""
    specs = copy_specs(tmp_path)
    secret, hidden = specs / "build.yaml", specs / "matrix"
    real_read, real_scandir = Path.read_bytes, os.scandir

    def read_bytes(self):
        if self == secret:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read(self)

    def scandir(path="."):
        if Path(path) == hidden:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(SpecError) as err:
        load_specs(specs)
    found = {(p.file.rsplit("/", 1)[-1], p.message) for p in err.value.problems}
    assert ("build.yaml", "cannot read the file: Permission denied") in found
    assert ("matrix", "cannot list the directory: Permission denied") in found


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads unreadable files"
)
def test_an_unreadable_spec_file_gives_exit_2_from_the_cli(tmp_path):
    specs = copy_specs(tmp_path)
    (specs / "build.yaml").chmod(0)
    result = storyml("check", "--specs", str(specs))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "build.yaml:1: <document>: cannot read the file" in result.stderr


def test_the_cli_refuses_a_billion_laughs_quickly_with_exit_2(tmp_path):
    specs = copy_specs(tmp_path)
    (specs / "bomb.yaml").write_text(_laughs(12), encoding="utf-8")
    started = time.perf_counter()
    result = storyml("check", "--specs", str(specs))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "bomb.yaml:6: l4[" in result.stderr and "aliases expand" in result.stderr
    assert time.perf_counter() - started < 30
