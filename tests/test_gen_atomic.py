"""`storyml gen` publishes the whole tree at once: killed at any step it leaves the old tree or the
new one, never a mix, and the next run clears what it left beside the target."""

from __future__ import annotations

import os
import signal

import pytest
from spec_helpers import tree_bytes

from codegen.generators import writer
from storyml.cli import main

OLD = {
    "rust/Cargo.toml": "old toml",
    "rust/src/lib.rs": "old lib",
    "rust/src/gone.rs": "removed later",
    "python/storyml_contract/__init__.py": "old init",
    "schema/a.json": "same",
}
NEW = {
    "rust/Cargo.toml": "new toml",
    "rust/src/lib.rs": "new lib",
    "rust/src/added.rs": "new module",
    "python/storyml_contract/__init__.py": "new init",
    "schema/a.json": "same",
}
UNOWNED = {"rust/target/debug/cache.bin": b"build cache", "README.txt": b"mine"}


def _tree(tmp_path):
    out = tmp_path / "generated"
    writer.write_tree(OLD, out)
    for rel, data in UNOWNED.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    return out


def _owned(out) -> dict[str, str]:
    return (
        {rel: data.decode() for rel, data in tree_bytes(out).items() if rel not in UNOWNED}
        if out.exists()
        else {}
    )


def _killed_at(out, step: int, exchange: bool) -> bool:
    """Run write_tree(NEW) in a child that dies (SIGKILL, no cleanup) at its `step`-th file-system
    step; True when it died there, False when it finished first."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        count = [0]

        def dying(fn):
            def step_then(*args, **kwargs):
                count[0] += 1
                if count[0] == step:
                    os.kill(os.getpid(), signal.SIGKILL)
                return fn(*args, **kwargs)

            return step_then

        writer._write_synced = dying(writer._write_synced)
        writer.shutil.copy2 = dying(writer.shutil.copy2)
        writer.os.rename = dying(writer.os.rename)
        writer.exchange_paths = dying(writer.exchange_paths if exchange else (lambda a, b: False))
        writer.write_tree(NEW, out)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status)


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two renames"])
def test_a_kill_at_any_step_leaves_the_old_tree_or_the_new_one(tmp_path, exchange):
    steps = 0
    for step in range(1, 100):
        root = tmp_path / f"{step}"
        out = _tree(root)
        died = _killed_at(out, step, exchange)
        assert _owned(out) in ({}, OLD, NEW), (step, _owned(out))
        assert not [p for p in out.rglob("*.tmp")] if out.exists() else True
        writer.recover(out)
        assert _owned(out) in (OLD, NEW), (step, _owned(out))
        assert {rel: (out / rel).read_bytes() for rel in UNOWNED} == UNOWNED, step
        assert sorted(p.name for p in root.iterdir()) == ["generated"], step
        if not died:
            assert _owned(out) == NEW
            break
        steps += 1
    assert steps >= len(NEW) + 2  # every write, the moves and the swap were each a kill point


def test_unchanged_files_keep_their_time_and_nothing_is_left_beside(tmp_path):
    out = _tree(tmp_path)
    os.utime(out / "schema/a.json", (1_000_000, 1_000_000))
    assert writer.write_tree(NEW, out) == [
        "python/storyml_contract/__init__.py",
        "rust/Cargo.toml",
        "rust/src/added.rs",
        "rust/src/gone.rs",
        "rust/src/lib.rs",
    ]
    assert _owned(out) == NEW and (out / "schema/a.json").stat().st_mtime == 1_000_000
    assert {rel: (out / rel).read_bytes() for rel in UNOWNED} == UNOWNED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["generated"]
    assert writer.write_tree(NEW, out) == []


def test_gen_onto_a_file_or_under_one_is_one_line_and_exit_2(tmp_path, capsys):
    a_file = tmp_path / "plain.txt"
    a_file.write_text("not a directory")
    for out in (a_file, a_file / "generated"):
        assert main(["gen", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert (
            err.startswith("storyml gen: --out ")
            and "is a file, not a directory" in err
            and err.count("\n") == 1
        )
    assert a_file.read_text() == "not a directory"


def test_gen_that_cannot_write_says_so_and_changes_nothing(tmp_path, monkeypatch, capsys):
    """A read-only place, simulated where the writer meets it (root may write anywhere)."""
    out = tmp_path / "generated"
    assert main(["gen", "--out", str(out)]) == 0
    (out / "rust/src/lib.rs").write_text("// stale\n")
    before = tree_bytes(out)

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path))

    monkeypatch.setattr(writer, "_write_synced", read_only)
    capsys.readouterr()
    assert main(["gen", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"storyml gen: cannot write {out}/ ") and "Permission denied" in err
    assert tree_bytes(out) == before


@pytest.mark.parametrize("verb", ["events", "characters"])
def test_data_into_a_directory_or_under_a_file_is_refused_before_any_work(tmp_path, verb, capsys):
    a_file, a_dir = tmp_path / "plain.txt", tmp_path / "dir.jsonl"
    a_file.write_text("x")
    a_dir.mkdir()
    for out, why in (
        (a_dir, "is a directory, not a file"),
        (a_file / "d.jsonl", "is a file, not a directory"),
    ):
        assert main(["data", verb, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("storyml data: --out ") and why in err, err


def test_data_rewrites_an_existing_output_file(tmp_path, capsys):
    out = tmp_path / "events.jsonl"
    out.write_text("old\n")
    assert main(["data", "events", "--per-kind", "12", "--out", str(out)]) == 0, (
        capsys.readouterr().err
    )
    assert out.read_text(encoding="utf-8") != "old\n" and out.read_text(
        encoding="utf-8"
    ).startswith("{")
