"""Build profiles that `extends` another (specs/build.yaml) hold the other's keys under their own."""

from __future__ import annotations

import yaml
from spec_helpers import copy_specs

from codegen.spec.build import BuildFile
from codegen.spec.loader import load_specs


def test_a_profile_holds_what_it_extends_but_its_own_keys_and_doc(tmp_path):
    specs = copy_specs(tmp_path)
    data = yaml.safe_load((specs / "build.yaml").read_text(encoding="utf-8"))
    data["profiles"]["small"] = {"extends": "default", "events_per_kind": 12}
    data["profiles"]["smaller"] = {"extends": "small", "test_fraction": 0.3}
    (specs / "build.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    profiles = load_specs(specs).one(BuildFile).profiles
    default = profiles["default"].model_dump(exclude={"doc", "extends"})
    smaller = profiles["smaller"].model_dump(exclude={"doc", "extends"})
    assert smaller == {**default, "events_per_kind": 12, "test_fraction": 0.3}
    assert profiles["smaller"].doc == "" != profiles["default"].doc
