"""Render the `storyml-contract` Rust crate from the contract (zero dependencies)."""

from __future__ import annotations

from .contract import Contract


def render_rust(contract: Contract) -> dict[str, str]:
    return {}
