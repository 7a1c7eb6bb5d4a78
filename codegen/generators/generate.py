"""Everything `storyml gen` writes, rendered in memory from one contract."""

from __future__ import annotations

from codegen.generators.python import render_python
from codegen.generators.rust import render_rust
from codegen.generators.schema import render_schemas
from codegen.spec.contract import Contract


def render_all(contract: Contract) -> dict[str, str]:
    files: dict[str, str] = {}
    python = render_python(contract)
    for part in (python, render_rust(contract, python), render_schemas()):
        overlap = files.keys() & part.keys()
        assert not overlap, f"two renderers write {sorted(overlap)}"
        files.update(part)
    return files
