"""generated/ is a pure, deterministic function of specs/, and CI can tell when it is stale."""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spec_helpers import GENERATED, SPECS, copy_specs, edit, storyml, tree_bytes

from codegen.generators.generate import render_all
from codegen.generators.literals import rust_comment, rust_str
from codegen.spec.contract import build_contract
from codegen.spec.loader import load_specs


def test_repository_generated_code_is_in_sync():
    result = storyml("gen", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_generation_is_byte_identical_across_runs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert storyml("gen", "--out", str(a)).returncode == 0
    assert storyml("gen", "--out", str(b)).returncode == 0
    assert tree_bytes(a) == tree_bytes(b)
    assert tree_bytes(a) == {k: v for k, v in tree_bytes(GENERATED).items() if k in tree_bytes(a)}


def test_every_generated_file_carries_the_do_not_edit_header():
    contract = build_contract(load_specs(SPECS))
    for rel, text in render_all(contract).items():
        if rel.endswith((".py", ".rs", ".toml")) and text:
            assert "DO NOT EDIT" in text.splitlines()[0], rel
            assert contract.fingerprint in "\n".join(text.splitlines()[:3]), rel


def test_check_reports_a_hand_edit_and_an_extra_file(tmp_path):
    out = tmp_path / "generated"
    shutil.copytree(GENERATED, out, ignore=shutil.ignore_patterns("target", "__pycache__"))
    edit(out / "python/storyml_contract/text.py", "MAX_SEQ_LENGTH = 128", "MAX_SEQ_LENGTH = 512")
    (out / "rust/src/handwritten.rs").write_text("// mine\n")
    result = storyml("gen", "--check", "--out", str(out))
    assert result.returncode == 1
    assert "-MAX_SEQ_LENGTH = 512" in result.stdout and "+MAX_SEQ_LENGTH = 128" in result.stdout
    assert "handwritten.rs" in result.stdout
    assert storyml("gen", "--out", str(out)).returncode == 0
    assert storyml("gen", "--check", "--out", str(out)).returncode == 0
    assert not (out / "rust/src/handwritten.rs").exists()


# ---------------------------------------------------------------- fingerprint


def _fingerprint(root) -> str:
    return build_contract(load_specs(root, codegen_only=True)).fingerprint


def _shuffle_keys(node, rng):
    if isinstance(node, dict):
        items = list(node.items())
        rng.shuffle(items)
        return {k: _shuffle_keys(v, rng) for k, v in items}
    if isinstance(node, list):
        return [_shuffle_keys(v, rng) for v in node]
    return node


def _codegen_files():
    kinds = ("enums", "feature_layout", "output_heads", "text_labels", "artifacts", "mlp_model")
    return [p for p in sorted(SPECS.rglob("*.yaml"))
            if any(f"kind: {k}\n" in p.read_text(encoding="utf-8") for k in kinds)]


CODEGEN_FILES = _codegen_files()
BASE_FINGERPRINT = build_contract(load_specs(SPECS)).fingerprint


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), flow=st.booleans(), indent=st.sampled_from([2, 4]))
def test_fingerprint_ignores_comments_key_order_and_layout(tmp_path_factory, seed, flow, indent):
    rng = random.Random(seed)
    root = tmp_path_factory.mktemp("fmt")
    for p in CODEGEN_FILES:
        data = _shuffle_keys(yaml.safe_load(p.read_text(encoding="utf-8")), rng)
        # a huge width keeps every scalar on one line, so a comment line can go between any two lines
        text = yaml.safe_dump(data, sort_keys=False, default_flow_style=flow, indent=indent, allow_unicode=True,
                              width=10**6)
        lines = text.splitlines()
        for _ in range(3):  # comments anywhere a whole line may go
            lines.insert(rng.randrange(len(lines) + 1), "#" + " " * rng.randrange(3) + "a comment: [x]")
        (root / p.name.replace(".yaml", f"_{p.parent.name}.yaml")).write_text("\n".join(lines) + "\n")
    assert _fingerprint(root) == BASE_FINGERPRINT


# (file, old, new, changes the contract?)
EDITS = [
    ("text/labels.yaml", "    - SpeechAct", "    - SpeechAct\n    - Dream", True),
    ("text/labels.yaml", "threshold: 0.5", "threshold: 0.6", True),
    ("enums.yaml", "[Whisper, Conversational, Declamatory, Internal]", "[Whisper, Declamatory, Conversational, Internal]", True),
    ("character/outputs.yaml", "weight: 0.35", "weight: 0.30", True),
    ("enums.yaml", "doc: Plutchik's eight primary emotions.", "doc: Eight primaries, after Plutchik.", False),
    ("character/model.yaml", "learning_rate: 1.0e-3", "learning_rate: 2.0e-3", False),
]


@pytest.mark.parametrize("rel,old,new,changes", EDITS, ids=[e[1][:24] for e in EDITS])
def test_fingerprint_changes_exactly_when_the_contract_changes(tmp_path, rel, old, new, changes):
    specs = copy_specs(tmp_path)
    edit(specs / rel, old, new)
    assert (_fingerprint(specs) != BASE_FINGERPRINT) is changes


# ---------------------------------------------------------------- Rust


# Docs are not part of the contract: hostile ones change comments only, so the crate rendered
# from them runs the same golden tests as the committed one.
HOSTILE_DOCS = ['ends with """ and \\', "line\nbreak */ /* {{ x }} {% y %}", "nul \0, cr \r, \\N{BULLET}",
                "\u202e bidi \u2066 and \u2028 separators", "émoji 😀 \"quoted\""]


def _hostile_doc_specs(tmp_path):
    """A copy of the specs with every enum, type and field-region doc replaced by hostile text."""
    specs = copy_specs(tmp_path)
    loaded = load_specs(specs)
    docs = iter(HOSTILE_DOCS * 10)
    for entry in [*loaded.of_kind("enums"), *loaded.of_kind("feature_layout")]:
        data = yaml.safe_load(entry.doc.path.read_text(encoding="utf-8"))
        for node in [*data.get("enums", {}).values(), *data.get("types", {}).values(),
                     *(r for r in data.get("regions", []) if "fields" in r)]:
            node["doc"] = next(docs)
        entry.doc.path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return specs


@pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo not installed")
def test_rust_crate_tests_pass_offline_with_hostile_docs(tmp_path):
    """The generated crate, rendered from specs whose docs hold quotes, newlines, `*/`, NUL and bidi
    controls, differs from the committed one in comments only, and its golden tests pass."""
    contract = build_contract(load_specs(_hostile_doc_specs(tmp_path)))
    assert contract.fingerprint == BASE_FINGERPRINT
    files = render_all(contract)
    out = tmp_path / "generated"
    for rel, text in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text, encoding="utf-8")
        if rel.endswith(".py"):
            compile(text, rel, "exec")
        if rel.endswith(".rs"):
            committed = (GENERATED / rel).read_text(encoding="utf-8").splitlines()
            changed = [(a, b) for a, b in zip(committed, text.splitlines()) if a != b]
            assert len(committed) == len(text.splitlines()) and all(
                b.lstrip().startswith("///") for _, b in changed), rel
    assert any(b"\\u{202e}" in (out / rel).read_bytes() for rel in files if rel.endswith(".rs"))
    result = subprocess.run(["cargo", "test", "--offline", "--quiet"], cwd=out / "rust",
                            capture_output=True, text=True, env={**__import__("os").environ,
                                                                 "CARGO_TARGET_DIR": str(tmp_path / "target")},
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test result: ok" in result.stdout


@pytest.mark.skipif(shutil.which("rustc") is None, reason="rustc not installed")
@settings(max_examples=1, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=20), min_size=50,
                       max_size=50))
def test_any_label_text_survives_a_rust_string_literal(tmp_path_factory, labels):
    """One compiled program checks 50 arbitrary strings byte for byte."""
    labels += ['"', "\\", "\n", "\r\n", "\t", "\0", "\u2028", "'", "{}", "é😀", "\\u{41}", "*/", "/*",
               "\u202e", "\u2066x\u2069", '"""', "trailing \\"] + HOSTILE_DOCS
    # each string also as a doc comment and a line comment on its own check
    checks = "\n".join(f"    /// {rust_comment(s)}\n    // {rust_comment(s)}\n"
                       f"    assert_eq!({rust_str(s)}.as_bytes(), &{list(s.encode())}[..], \"label {i}\");"
                       for i, s in enumerate(labels))
    src = tmp_path_factory.mktemp("rs") / "labels.rs"
    src.write_text(f"#![allow(unused_doc_comments)]\nfn main() {{\n{checks}\n}}\n", encoding="utf-8")
    exe = src.with_suffix("")
    build = subprocess.run(["rustc", "-o", str(exe), str(src)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    assert subprocess.run([str(exe)], capture_output=True, text=True).returncode == 0
