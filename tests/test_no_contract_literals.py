"""No contract fact is written by hand in the runtime: storyml/ names labels, entity categories,
artifacts, artifact files and ONNX input names only through the generated contract.

Every string literal of every module under storyml/ (docstrings aside) is compared with the
values the generated contract publishes; the forbidden values are read from storyml_contract,
not written here. The few exceptions below say why they are not contract facts.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import storyml_contract as contract
from spec_helpers import REPO
from storyml_contract import text

from storyml.data import bio

RUNTIME = REPO / "storyml"


def forbidden_literals() -> dict[str, str]:
    """Contract value -> what it is."""
    facts: dict[str, str] = {}
    for model, file in contract.ARTIFACT_FILES.items():
        facts[model] = "artifact name"
        facts[file] = "artifact file"
        facts[contract.INT8_ARTIFACT_FILES[model]] = "INT8 artifact file"
        for name in contract.ONNX_INPUTS[model]:
            facts[name] = "ONNX input name"
    facts[contract.TOKENIZER_FILE] = "tokenizer file"
    facts[contract.INT8_SUFFIX] = "INT8 file suffix"
    facts.update({label: "event kind label" for label in text.EVENT_KIND_LABELS})
    facts.update({category: "entity category" for category in text.ENTITY_CATEGORIES})
    facts.update(
        {label: "BIO label" for label in text.BIO_LABELS if label != text.BIO_LABELS[0]}
    )  # not "O"
    return facts


def allowed(path: Path, value: str) -> bool:
    rel = path.relative_to(RUNTIME).as_posix()
    # Keys of a Hugging Face tokenizer's output, defined once in data/bio.py (INPUT_IDS,
    # ATTENTION_MASK): the tokenizer's names, which the text models' ONNX inputs happen to share.
    if rel == "data/bio.py" and value in (bio.INPUT_IDS, bio.ATTENTION_MASK):
        return True
    # The datasets' own record key for feature vectors ({"id", "features", "labels", ...}), which
    # the character model's ONNX input happens to share.
    if value == "features":
        return True
    # The WordNet vocabulary import classifies nouns into entity categories by rules written in
    # code (storyml/vocab/lexicon.py, importer.py); moving those rules into a spec is still open.
    if rel.startswith("vocab/") and value in text.ENTITY_CATEGORIES:
        return True
    return False


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body
        ):
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def contract_literals() -> list[str]:
    facts = forbidden_literals()
    found = []
    for path in sorted(RUNTIME.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docs
                and node.value in facts
                and not allowed(path, node.value)
            ):
                found.append(
                    f"{path.relative_to(REPO)}:{node.lineno}: {node.value!r} ({facts[node.value]}); "
                    "take it from storyml_contract"
                )
    return found


def test_the_runtime_writes_no_contract_literal():
    assert contract_literals() == []


def test_the_check_sees_a_literal(tmp_path, monkeypatch):
    """The scan is not vacuous: an artifact name, an input name and a label written by hand are found."""
    pkg = tmp_path / "storyml"
    pkg.mkdir()
    model = next(iter(contract.ARTIFACT_FILES))
    (pkg / "handwritten.py").write_text(
        f'"""{model} in a docstring is fine."""\n'
        f"MODEL = {model!r}\nFEEDS = {{{contract.ONNX_INPUTS[model][0]!r}: None}}\n"
        f"LABEL = {text.EVENT_KIND_LABELS[0]!r}\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(sys.modules[__name__], "RUNTIME", pkg)
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    found = contract_literals()
    assert sorted(line.split(":")[1] for line in found) == ["2", "3", "4"], found
