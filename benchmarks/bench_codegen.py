"""How long `storyml gen` takes over the full specs, phase by phase.

Issue 2 asks for well under a second. Run: python benchmarks/bench_codegen.py [--repeat N]
Prints the median of N runs per phase and its share of the one-second budget.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from codegen.generators.python import render_python
from codegen.generators.rust import render_rust
from codegen.generators.schema import render_schemas
from codegen.generators.writer import compare, write_tree
from codegen.spec.contract import build_contract
from codegen.spec.loader import load_specs

ROOT = Path(__file__).resolve().parents[1]


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    specs_dir = ROOT / "specs"
    t_load, specs = timed(lambda: load_specs(specs_dir), args.repeat)
    t_contract, contract = timed(lambda: build_contract(specs), args.repeat)
    t_py, _ = timed(lambda: render_python(contract), args.repeat)
    t_rs, _ = timed(lambda: render_rust(contract), args.repeat)  # includes running the golden vectors
    t_schema, _ = timed(render_schemas, args.repeat)
    files = {**render_python(contract), **render_rust(contract), **render_schemas()}
    with tempfile.TemporaryDirectory() as tmp:
        t_write, _ = timed(lambda: write_tree(files, Path(tmp)), 1)
        t_check, _ = timed(lambda: compare(files, Path(tmp)), args.repeat)
    rows = [("load + validate all specs", t_load), ("derive contract", t_contract), ("render Python", t_py),
            ("render Rust + golden vectors", t_rs), ("render JSON Schemas", t_schema),
            ("write tree (first time)", t_write), ("compare tree (--check)", t_check)]
    total = t_load + t_contract + t_py + t_rs + t_schema + t_check
    n_files = len(list(specs))
    print(f"storyml gen over {n_files} spec files, {len(files)} generated files; median of {args.repeat} runs")
    print(f"{'phase':<32}{'seconds':>10}{'of 1 s budget':>16}")
    for name, t in rows:
        print(f"{name:<32}{t:>10.4f}{t:>15.1%}")
    print(f"{'total (gen --check path)':<32}{total:>10.4f}{total:>15.1%}")


if __name__ == "__main__":
    main()
