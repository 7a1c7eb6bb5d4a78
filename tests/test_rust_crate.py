"""The generated crate is one a Rust engineer would adopt.

rustfmt-clean (storyml gen writes rustfmt's layout itself, see codegen/generators/rust_layout.py),
clippy-clean with warnings as errors, every public item documented (`#![deny(missing_docs)]`,
enforced by rustc), `#[must_use]` on the pure functions, offsets by name, no glob re-exports.
The cargo checks are skipped where cargo or its component is not installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from spec_helpers import GENERATED

CRATE = GENERATED / "rust"
SOURCES = sorted((CRATE / "src").glob("*.rs"))


def _has_cargo_component(name: str) -> bool:
    if shutil.which("cargo") is None:
        return False
    return subprocess.run(["cargo", name, "--version"], capture_output=True).returncode == 0


def _cargo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["cargo", *args], cwd=CRATE, capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(not _has_cargo_component("fmt"), reason="cargo fmt (rustfmt) not installed")
def test_the_crate_is_rustfmt_clean():
    result = _cargo("fmt", "--check")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


@pytest.mark.skipif(not _has_cargo_component("clippy"), reason="cargo clippy not installed")
def test_the_crate_and_its_tests_are_clippy_clean_with_warnings_as_errors():
    result = _cargo("clippy", "--offline", "--all-targets", "--quiet", "--", "-D", "warnings")
    assert result.returncode == 0, result.stderr[-4000:]


def test_the_crate_denies_missing_docs_and_re_exports_nothing_by_glob():
    lib = (CRATE / "src" / "lib.rs").read_text(encoding="utf-8")
    assert "#![deny(missing_docs)]" in lib
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*pub use .*\*", text, re.M), path.name
        assert "#![allow" not in text and "clippy::all" not in text, path.name


def test_no_placeholder_docs():
    """A doc says what the thing is, never just its name and size ("AxisSlot (13 floats)")."""
    for path in SOURCES:
        previous = ""
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line.startswith("///"):
                doc = line.removeprefix("///").strip()
                if not previous.startswith("///"):  # a doc's first line
                    assert doc, f"{path.name}: a doc starting with an empty line"
                assert not re.fullmatch(r"`?\w+`?( \(\d+ floats\))?\.?", doc), (
                    f"{path.name}: {line}"
                )
            previous = line


def test_pure_functions_are_must_use():
    """Every public function returning a value other than a Result (itself must_use) says so."""
    for path in SOURCES:
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            m = re.match(r"\s*pub (const )?fn \w+.*\) -> (.+) \{$", line)
            if m and not m[2].startswith("Result<"):
                assert lines[i - 1].strip() == "#[must_use]", f"{path.name}:{i + 1}: {line.strip()}"


def test_offsets_are_written_by_name():
    """No `base + 4` beside the named constants: every offset in an index is a constant."""
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(base|OFFSET) \+ \d", text), path.name
        assert not re.search(r"\bv\[\d", text), path.name


def test_every_generated_doc_comes_from_the_specs():
    """The renderers fall back to a generic doc for a spec item without one; the specs leave
    them no item to do that for."""
    from spec_helpers import SPECS

    from codegen.spec.contract import build_contract
    from codegen.spec.loader import load_specs

    contract = build_contract(load_specs(SPECS, codegen_only=True))
    missing = [f"enum {name}" for name, doc in contract.enum_docs.items() if not doc]
    for layout in contract.features.values():
        for rec in layout.types.values():
            missing += [f"type {rec.name}"] * (not rec.doc)
            missing += [f"{rec.name}.{f.name}" for f in rec.fields if not f.doc]
        for region in layout.regions:
            missing += [f"region {region.name}"] * (not region.doc)
            if region.record is not None:
                missing += [f"{region.name}.{f.name}" for f in region.record.fields if not f.doc]
    for outputs in contract.outputs.values():
        for head in outputs.heads:
            missing += [f"head {head.name}"] * (not head.doc)
            missing += [f"{head.name}.{f.name}" for f in head.fields if not f.spec.doc]
    assert missing == []
