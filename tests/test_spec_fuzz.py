"""Spec fuzzing: any edit to any spec file gives exit 2 with located problems and writes nothing, or
generated Python that compiles. Never a traceback, never a hang.

Two modes over the real specs, both deterministic (seeded): structured mutations of the YAML data
(rename, retype, delete or duplicate a key or item, hostile text, huge and non-finite numbers) of
every spec file in turn, and byte-level mutations of the file text. Each case runs `storyml gen` in
process; files that did not change are parsed once (`load_file` is memoised on their bytes) and a
contract already rendered is not rendered again, so a thousand cases take seconds.

Cargo does not run per case: an accepted case whose generated tree differs from the committed one is
kept (one copy per distinct tree), and each test ends by compiling the kept trees, the crate with
its tests by `cargo check` and the Python package by importing every module in a fresh interpreter.
CI compiles a bounded, seeded sample of them (`STORYML_FUZZ_COMPILE`, default
`COMPILED_VARIANTS`; `all` compiles every one).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from spec_helpers import GENERATED, SPECS

from codegen.spec import loader
from storyml.cli import gen as gen_verb
from storyml.cli import main

STRUCTURED_CASES = 160
BYTE_CASES = 1000
# A hang guard on one case's CPU time (process_time, not the wall clock, so a busy machine's
# neighbours cannot fail it); the slowest case takes about 1.2 s.
SLOWEST_CASE_S = 10.0
COMPILED_VARIANTS = 6  # distinct accepted trees each test compiles in CI (seeded sample)
LINE = re.compile(r"^(?P<file>.+):(?P<line>\d+): (?P<key>[^:]*): (?P<msg>.+)$")
SPEC_FILES = sorted(p.relative_to(SPECS).as_posix() for p in SPECS.rglob("*.yaml"))

HOSTILE_TEXT = [
    '"""',
    "ends with \\",
    "\\N{BULLET}",
    "line\nbreak */",
    "nul \0",
    "\u202e bidi",
    "\ud800",
    "",
    " ",
    "{{ x }}",
    "Option",
    "ALL",
    "self",
    "SELF_EDGE",
    "a" * 300,
    "émoji 😀",
    "*/ /*",
]
HUGE_NUMBERS = [
    10**30,
    -(10**30),
    2**64,
    2**63,
    -(2**63) - 1,
    100_000_000,
    float("inf"),
    float("-inf"),
    float("nan"),
    1e308,
    -0.0,
    True,
    False,
]
JUNK = [None, [], {}, "x y", 7, -1, 0, 0.5, "TemporalLayer", "SpeechAct", [1, 2], {"a": 1}]


def _containers(node, out):
    if isinstance(node, (dict, list)) and node:
        out.append(node)
        for v in node.values() if isinstance(node, dict) else node:
            _containers(v, out)
    return out


def _mutate(data, rng: random.Random) -> str:
    """One random structured edit somewhere in the data; returns what it did."""
    target = rng.choice(_containers(data, []))
    key = rng.choice(list(target) if isinstance(target, dict) else range(len(target)))
    value = target[key]
    action = rng.choice(
        ["delete", "retype", "rename", "duplicate", "hostile", "huge", "doc", "nudge"]
    )
    if action == "doc":  # hostile text where a spec takes free text: most such edits are accepted
        docs = [
            c
            for c in _containers(data, [])
            if isinstance(c, dict) and isinstance(c.get("doc"), str)
        ]
        if docs:
            rng.choice(docs)["doc"] = rng.choice(HOSTILE_TEXT)
            return "doc"
        action = "hostile"
    if (
        action == "nudge"
    ):  # a nearby value of the same type: accepted unless a cross-file rule objects
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            action = "duplicate"
        else:
            target[key] = value + 1 if isinstance(value, int) else value * 1.5
            return f"nudge {key!r}"
    if action == "delete":
        del target[key]
    elif action == "rename" and isinstance(target, dict):
        target[rng.choice(HOSTILE_TEXT[:12] + ["kind", "name", "doc", str(key) + "x"])] = (
            target.pop(key)
        )
    elif action == "duplicate":
        if isinstance(target, list):
            target.insert(key, copy.deepcopy(value))
        else:
            target[str(key) + "_copy"] = copy.deepcopy(value)
    elif action == "hostile" or (action == "huge" and isinstance(value, str)):
        target[key] = rng.choice(HOSTILE_TEXT)
    elif action == "huge":
        target[key] = rng.choice(HUGE_NUMBERS)
    else:
        target[key] = rng.choice(JUNK + HUGE_NUMBERS[:3] + HOSTILE_TEXT[:3])
    return f"{action} {key!r}"


BYTES_TO_INSERT = [
    b"\x00",
    b"\xff",
    b"\xc3",
    b":",
    b": ",
    b"[",
    b"]",
    b"{",
    b"&a ",
    b"*a",
    b"!!int ",
    b"\t",
    b"\n",
    b'"',
    b"'",
    b"- ",
    b"<<: ",
    b"---\n",
    b"%",
    b"@",
    b"#",
    b" ",
    b"9" * 30,
]


def _byte_mutation(data: bytes, rng: random.Random) -> bytes:
    for _ in range(rng.randint(1, 4)):
        if not data:
            return rng.choice(BYTES_TO_INSERT)
        i = rng.randrange(len(data))
        op = rng.random()
        if op < 0.3:
            data = data[:i] + rng.choice(BYTES_TO_INSERT) + data[i:]
        elif op < 0.5:
            data = data[:i] + bytes([rng.randrange(256)]) + data[i + 1 :]
        elif op < 0.7:
            data = data[:i] + data[i + rng.randint(1, 40) :]
        elif op < 0.8:
            lines = data.split(b"\n")
            j = rng.randrange(len(lines))
            data = b"\n".join(lines[:j] + [lines[j]] + lines[j:])
        elif op < 0.9:
            data = data[:i]
        else:
            lines = data.split(b"\n")
            j = rng.randrange(len(lines))
            lines[j] = b" " * rng.randint(1, 5) + lines[j]
            data = b"\n".join(lines)
    return data


@pytest.fixture(scope="module")
def harness(tmp_path_factory, request):
    """A copy of the specs and of generated/, with parsing of unchanged files and rendering of a
    contract already seen memoised; yields a function running one case."""
    root = tmp_path_factory.mktemp("fuzz")
    specs, out = root / "specs", root / "generated"
    shutil.copytree(SPECS, specs)
    shutil.copytree(GENERATED, out, ignore=shutil.ignore_patterns("target", "__pycache__"))
    originals = {p: p.read_bytes() for p in specs.rglob("*.yaml")}
    committed = _tree_digest(out)
    real_load_file, real_render = loader.load_file, gen_verb.render_all
    parsed: dict = {}
    rendered: dict = {}

    def load_file(path, text=None):
        if text is None and originals.get(path) == path.read_bytes():
            if path not in parsed:
                parsed[path] = real_load_file(path)
            return parsed[path]
        return real_load_file(path, text)

    def render_all(contract):
        key = hashlib.sha256(
            repr([(e.doc.path.name, e.model.model_dump()) for e in contract.specs]).encode()
        ).hexdigest()
        if key not in rendered:
            rendered[key] = real_render(contract)
        return rendered[key]

    mp = pytest.MonkeyPatch()
    mp.setattr(loader, "load_file", load_file)
    mp.setattr(gen_verb, "render_all", render_all)
    request.addfinalizer(mp.undo)

    def snapshot() -> dict[str, tuple[int, int]]:
        """What a write would change: each file's modification time and size."""
        return {
            p.relative_to(out).as_posix(): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in out.rglob("*")
            if p.is_file()
        }

    def run(rel: str, data: bytes) -> tuple[int, str, float]:
        path = specs / rel
        path.write_bytes(data)
        before = snapshot()
        stderr = io.StringIO()
        started = time.process_time()
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(stderr):
                rc = main(["gen", "--specs", str(specs), "--out", str(out)])
        finally:
            path.write_bytes(originals[path])
        elapsed = time.process_time() - started
        err = stderr.getvalue()
        assert rc in (0, 2), (rel, rc, err)
        if rc == 2:
            assert snapshot() == before, f"{rel}: a refused spec changed generated/"
            lines = [line for line in err.splitlines() if line]
            assert lines and lines[-1].endswith("in the specs"), (rel, err)
            for line in lines[:-1]:
                m = LINE.match(line)
                assert m and int(m["line"]) >= 1 and m["key"] and m["msg"], (rel, line, err)
        else:  # the Python it wrote compiles (what it left alone compiled before)
            after = snapshot()
            for changed in (
                rel for rel in after if rel.endswith(".py") and after[rel] != before.get(rel)
            ):
                compile((out / changed).read_bytes(), changed, "exec")
            digest = _tree_digest(out)
            if digest != committed and digest not in run.accepted:
                kept = root / "accepted" / digest
                shutil.copytree(out, kept, ignore=shutil.ignore_patterns("target", "__pycache__"))
                run.accepted[digest] = (kept, rel)
        return rc, err, elapsed

    run.accepted = {}  # tree digest -> (copy of the generated tree, the spec file mutated)
    run.target = root / "cargo-target"  # shared, so each check after the first is incremental
    yield run
    # leave nothing mutated behind for the next module
    assert all(p.read_bytes() == data for p, data in originals.items())


def _tree_digest(out: Path) -> str:
    files = sorted(
        p
        for p in out.rglob("*")
        if p.is_file() and "target" not in p.relative_to(out).parts and "__pycache__" not in p.parts
    )
    h = hashlib.sha256()
    for p in files:
        h.update(p.relative_to(out).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _compile_accepted(harness, seed: int) -> int:
    """Compile (a seeded sample of) the accepted trees in both languages; returns how many."""
    variants = sorted(harness.accepted.items())
    harness.accepted.clear()  # the next test compiles only its own
    limit = os.environ.get("STORYML_FUZZ_COMPILE", str(COMPILED_VARIANTS))
    if limit != "all":
        variants = random.Random(seed).sample(variants, min(int(limit), len(variants)))
    cargo = shutil.which("cargo")
    for _, (tree, rel) in variants:
        modules = sorted(
            p.relative_to(tree / "python").with_suffix("").as_posix().replace("/", ".")
            for p in (tree / "python").rglob("*.py")
        )
        imports = "; ".join(f"import {m.removesuffix('.__init__')}" for m in modules)
        result = subprocess.run(
            [sys.executable, "-c", imports],
            env={**os.environ, "PYTHONPATH": str(tree / "python")},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, (
            f"mutated {rel}: generated Python does not import\n{result.stderr[-3000:]}"
        )
        if cargo is not None:
            result = subprocess.run(
                [cargo, "check", "--offline", "--tests", "--quiet"],
                cwd=tree / "rust",
                env={**os.environ, "CARGO_TARGET_DIR": str(harness.target)},
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert result.returncode == 0, (
                f"mutated {rel}: generated crate does not compile\n{result.stderr[-3000:]}"
            )
    return len(variants)


def test_structured_mutations_of_every_spec_file(harness):
    rng = random.Random(20261130)
    seen, outcomes, slowest = set(), {0: 0, 2: 0}, 0.0
    originals = {
        rel: yaml.safe_load((SPECS / rel).read_text(encoding="utf-8")) for rel in SPEC_FILES
    }
    for i in range(STRUCTURED_CASES):
        rel = SPEC_FILES[i % len(SPEC_FILES)]
        data = copy.deepcopy(originals[rel])
        edits = [_mutate(data, rng) for _ in range(rng.randint(1, 2))]
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode(
            "utf-8", "surrogatepass"
        )
        seen.add((rel, text))
        rc, err, elapsed = harness(rel, text)
        outcomes[rc] += 1
        slowest = max(slowest, elapsed)
        assert elapsed < SLOWEST_CASE_S, (rel, edits, elapsed)
    assert len(seen) >= 150 and {rel for rel, _ in seen} == set(SPEC_FILES)
    assert outcomes[2] > 0 and outcomes[0] > 0, outcomes  # both ways out are exercised
    assert _compile_accepted(harness, seed=1) > 0  # some accepted edits changed the generated code


def test_byte_level_mutations(harness):
    rng = random.Random(453)
    outcomes, slowest = {0: 0, 2: 0}, 0.0
    texts = {rel: (SPECS / rel).read_bytes() for rel in SPEC_FILES}
    for _ in range(BYTE_CASES):
        rel = rng.choice(SPEC_FILES)
        rc, err, elapsed = harness(rel, _byte_mutation(texts[rel], rng))
        outcomes[rc] += 1
        slowest = max(slowest, elapsed)
    assert slowest < SLOWEST_CASE_S and outcomes[2] > BYTE_CASES // 2, (outcomes, slowest)
    _compile_accepted(harness, seed=2)


def test_the_mutated_copies_and_real_specs_agree_when_unmutated(harness):
    """The harness itself: an unmutated file gives exit 0 and the committed tree."""
    rc, err, _ = harness(SPEC_FILES[0], (SPECS / SPEC_FILES[0]).read_bytes())
    assert rc == 0, err
    assert Path(SPECS / SPEC_FILES[0]).is_file()
