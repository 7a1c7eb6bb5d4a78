"""Where a project keeps its specs and its generated contract, relative to the working directory."""

from __future__ import annotations

from pathlib import Path

DEFAULT_SPECS = Path("specs")
DEFAULT_GENERATED = Path("generated")
