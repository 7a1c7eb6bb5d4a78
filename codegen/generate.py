"""Everything `storyml gen` writes, rendered in memory from one contract."""

from __future__ import annotations

from .contract import Contract
from .render_python import render_python
from .schema import render_schemas


def render_all(contract: Contract) -> dict[str, str]:
    from .render_rust import render_rust

    files: dict[str, str] = {}
    for part in (render_python(contract), render_rust(contract), render_schemas()):
        overlap = files.keys() & part.keys()
        assert not overlap, f"two renderers write {sorted(overlap)}"
        files.update(part)
    return files
