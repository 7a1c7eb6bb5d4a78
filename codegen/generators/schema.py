"""JSON Schema of every spec file kind, for editors (yaml-language-server) and CI."""

from __future__ import annotations

import json

from codegen.spec.kinds import KINDS

SCHEMA_DIR = "schema"


def render_schemas() -> dict[str, str]:
    files = {}
    for name, kind in sorted(KINDS.items()):
        schema = kind.model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = f"storyml spec: {name}"
        files[f"{SCHEMA_DIR}/{name}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return files
