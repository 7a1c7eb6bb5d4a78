"""The lever benchmark's switches still find what they switch off in today's specs, and leave
specs that load: a renamed setting must fail here, not an hour into a benchmark run."""

from __future__ import annotations

import importlib.util
import shutil

import pytest
from spec_helpers import REPO, SPECS

from codegen.spec.build import BuildFile
from codegen.spec.loader import load_specs

spec = importlib.util.spec_from_file_location(
    "bench_real_prose_levers", REPO / "benchmarks" / "bench_real_prose_levers.py"
)
assert spec is not None and spec.loader is not None
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


@pytest.mark.parametrize("lever", bench.LEVERS)
def test_each_lever_switches_off_and_the_specs_still_load(tmp_path, lever):
    specs = tmp_path / "specs"
    shutil.copytree(SPECS, specs)
    before = {p: p.read_bytes() for p in specs.rglob("*.yaml")}
    bench.switch_off(specs, lever)
    assert any(p.read_bytes() != before[p] for p in before), f"{lever}: nothing changed"
    loaded = load_specs(specs)
    default = loaded.one(BuildFile).profiles["default"]
    if lever in bench.PROFILE_LEVERS:
        assert getattr(default, lever) is None
