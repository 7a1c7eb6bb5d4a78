"""The generated JSON Schemas accept every spec in the repo and are referenced from each file."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
import yaml
from spec_helpers import GENERATED, SPECS

SPEC_FILES = sorted(SPECS.rglob("*.yaml"))
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")


@pytest.mark.parametrize(
    "path", SPEC_FILES, ids=[p.relative_to(SPECS).as_posix() for p in SPEC_FILES]
)
def test_spec_file_names_its_schema_and_validates_against_it(path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = MODELINE.match(first)
    assert match, f"{path} should start with a yaml-language-server $schema modeline"
    schema_path = (path.parent / match[1]).resolve()
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert schema_path == (GENERATED / "schema" / f"{data['kind']}.schema.json").resolve()
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    jsonschema.validate(data, schema)


def test_schema_rejects_an_unknown_key():
    schema = json.loads((GENERATED / "schema" / "enums.schema.json").read_text(encoding="utf-8"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"kind": "enums", "enums": {}, "colour": "blue"}, schema)
