"""The generated Python package: ruff-formatted, clean under `mypy --strict` with no
`# type: ignore`, and as strict as the Rust crate about inputs that do not fit the layout."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from spec_helpers import GENERATED, REPO
from storyml_contract import character_features as features
from storyml_contract.enums import EmotionalPrimary

PACKAGE = GENERATED / "python" / "storyml_contract"


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.mark.skipif(not _installed("ruff"), reason="ruff not installed")
def test_the_package_is_ruff_formatted():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--diff", str(PACKAGE)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


@pytest.mark.skipif(not _installed("mypy"), reason="mypy not installed")
def test_the_package_is_clean_under_mypy_strict():
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "-p", "storyml_contract"],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_no_type_ignore_and_no_monkeypatching():
    for path in PACKAGE.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "type: ignore" not in text, path.name
        assert "noqa" not in text, path.name


def test_more_items_than_slots_is_an_error_not_a_silent_cut():
    fits = features.CharacterFeatures(history=[None] * features.HISTORY_SLOTS)
    assert len(features.encode_features(fits)) == features.TOTAL
    too_many = features.CharacterFeatures(history=[None] * (features.HISTORY_SLOTS + 1))
    with pytest.raises(features.EncodeError, match="history: 4 items for 3 slots"):
        features.encode_features(too_many)
    axes = {f"axis {i}": features.AxisSlot() for i in range(features.TENSOR_SLOTS + 1)}
    with pytest.raises(features.EncodeError, match="tensor"):
        features.encode_features(features.CharacterFeatures(tensor=axes))


def test_a_key_that_names_no_slot_is_an_error():
    state = features.PrimaryState(intensity=0.5)
    good = features.encode_features(
        features.CharacterFeatures(emotional_state={EmotionalPrimary.Fear: state})
    )
    assert good[features.EMOTIONAL_STATE_OFFSET + features.EMOTIONAL_STATE_SLOT_WIDTH * 2] == 0.5
    for key in ("Fear", 2):  # a name or a bare index is not a member
        with pytest.raises(features.EncodeError, match="emotional_state"):
            features.encode_features(features.CharacterFeatures(emotional_state={key: state}))  # type: ignore[dict-item]
