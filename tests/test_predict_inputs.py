"""`storyml predict` on bad inputs: each ends in one clear line and exit 2 (file and argument
problems, before any model runs) or a per-line `{"error": ...}` and exit 1 (bad lines), never a
traceback. Uses the tiny artifacts of tests/test_predict.py."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_predict import artifacts, predictor, tiny_models  # noqa: F401 - session fixtures

from storyml.cli import main

ROOT = Path(__file__).resolve().parents[1]
GOOD = '{"text": "Tom smiled.", "id": 1}\n'


def _predict(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["predict", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def _one_line_exit_2(capsys, artifacts, *argv: str) -> str:  # noqa: F811 - fixture value
    code, out, err = _predict(capsys, "--artifacts", str(artifacts), *argv)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    return err


@pytest.fixture()
def good_input(tmp_path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text(GOOD, encoding="utf-8")
    return path


# --- Files and arguments: one line, exit 2 --------------------------------------------------------


def test_output_equal_to_input_is_refused(artifacts, good_input, capsys, tmp_path):  # noqa: F811
    err = _one_line_exit_2(
        capsys, artifacts, "--input", str(good_input), "--output", str(good_input)
    )
    assert "--input" in err
    link = tmp_path / "link.jsonl"
    link.symlink_to(good_input)
    _one_line_exit_2(capsys, artifacts, "--input", str(good_input), "--output", str(link))
    assert good_input.read_text(encoding="utf-8") == GOOD


def _denied(*args, **kwargs):
    raise PermissionError(13, "Permission denied")


def test_input_that_is_a_directory_missing_or_unreadable(artifacts, tmp_path, capsys, monkeypatch):  # noqa: F811
    assert "directory" in _one_line_exit_2(capsys, artifacts, "--input", str(tmp_path))
    _one_line_exit_2(capsys, artifacts, "--input", str(tmp_path / "nope.jsonl"))
    locked = tmp_path / "locked.jsonl"
    locked.write_text(GOOD, encoding="utf-8")
    locked.chmod(0)
    if os.access(locked, os.R_OK):  # root reads anything: make the read fail as it would for others
        monkeypatch.setattr(Path, "read_bytes", _denied)
    assert "Permission denied" in _one_line_exit_2(capsys, artifacts, "--input", str(locked))


def test_non_utf8_input_names_the_line(artifacts, tmp_path, capsys):  # noqa: F811
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(GOOD.encode() + '{"text": "café"}\n'.encode("latin-1"))
    assert f"{bad}:2: not UTF-8" in _one_line_exit_2(capsys, artifacts, "--input", str(bad))


def test_output_that_is_a_directory_or_unwritable(
    artifacts,  # noqa: F811
    good_input,
    tmp_path,
    capsys,
    monkeypatch,
):
    assert "directory" in _one_line_exit_2(
        capsys, artifacts, "--input", str(good_input), "--output", str(tmp_path)
    )
    _one_line_exit_2(
        capsys, artifacts, "--input", str(good_input), "--output", str(good_input / "out.jsonl")
    )
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o555)
    with monkeypatch.context() as m:
        if os.access(locked, os.W_OK):  # root writes anywhere: answer as for others
            m.setattr(os, "access", lambda *a, **k: False)
        err = _one_line_exit_2(
            capsys, artifacts, "--input", str(good_input), "--output", str(locked / "out.jsonl")
        )
    assert "not writable" in err
    # A write that fails anyway (full disk, a race) is one line too.
    import storyml.cli.predict as cli

    monkeypatch.setattr(cli, "atomic_output", _denied)
    err = _one_line_exit_2(
        capsys, artifacts, "--input", str(good_input), "--output", str(tmp_path / "o.jsonl")
    )
    assert "cannot write" in err
    assert not list(locked.iterdir())


def test_lone_surrogate_in_an_argument(artifacts, capsys):  # noqa: F811
    """What Python makes of a non-UTF-8 byte in argv (surrogateescape)."""
    assert "not valid UTF-8" in _one_line_exit_2(capsys, artifacts, "Tom smiled.", "caf\udce9")
    _one_line_exit_2(capsys, artifacts, "--input", "in\udce9.jsonl")


def test_texts_and_input_together_or_nothing(artifacts, good_input, capsys):  # noqa: F811
    _one_line_exit_2(capsys, artifacts, "--input", str(good_input), "Tom smiled.")
    _one_line_exit_2(capsys, artifacts)


# --- Bad lines: an error in their place, exit 1 --------------------------------------------------

BAD_LINES = {
    "blank": "",
    "spaces": "   \t",
    "not json": "{text: 'x'}",
    "truncated": '{"text": "Tom',
    "array": '["Tom smiled."]',
    "string": '"Tom smiled."',
    "number text": '{"text": 3}',
    "null text": '{"text": null}',
    "no text": '{"id": 7}',
    "lone surrogate": '{"text": "caf\\udce9"}',
    "surrogate in id": '{"text": "ok", "id": "\\ud800"}',
    "deep nesting": "[" * 100000 + "]" * 100000,
}


@pytest.mark.parametrize("name", sorted(BAD_LINES))
def test_a_bad_line_gives_an_error_in_its_place(artifacts, tmp_path, capsys, name):  # noqa: F811
    source = tmp_path / "in.jsonl"
    source.write_text(GOOD + BAD_LINES[name] + "\n" + GOOD, encoding="utf-8")
    target = tmp_path / "out.jsonl"
    code, _, err = _predict(
        capsys, "--artifacts", str(artifacts), "--input", str(source), "--output", str(target)
    )
    assert code == 1
    assert "1 of 3 lines failed (lines 2)" in err
    out = [json.loads(line) for line in target.read_text(encoding="utf-8").split("\n")[:-1]]
    assert len(out) == 3
    assert out[1]["error"].startswith("line 2: ")
    assert (
        [o.get("id") for o in (out[0], out[2])] == [1, 1]
        and "error" not in out[0]
        and "error" not in out[2]
    )


def test_unicode_line_separators_stay_inside_their_record(artifacts, tmp_path, capsys):  # noqa: F811
    source = tmp_path / "in.jsonl"
    records = [{"text": "Tom\u2028smiled.\x1c", "id": 1}, {"text": "Kate\u0085waved.", "id": 2}]
    source.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\r\n" for r in records), encoding="utf-8"
    )
    code, out, _ = _predict(capsys, "--artifacts", str(artifacts), "--input", str(source))
    assert code == 0
    assert [json.loads(line)["id"] for line in out.splitlines()] == [1, 2]


def test_stdin_to_stdout(artifacts, monkeypatch, capsysbinary):  # noqa: F811
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO((GOOD + "\n" + GOOD).encode())))
    assert main(["predict", "--artifacts", str(artifacts), "--input", "-", "--output", "-"]) == 1
    lines = capsysbinary.readouterr().out.decode().splitlines()
    assert len(lines) == 3 and "error" in json.loads(lines[1])
    assert json.loads(lines[0])["id"] == 1


def test_real_process_stdin_non_utf8_argument_and_no_traceback(artifacts):  # noqa: F811
    """The console path end to end: real argv bytes and real pipes."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "generated" / "python")]),
    }
    base = [sys.executable, "-m", "storyml", "predict", "--artifacts", str(artifacts)]
    run = subprocess.run(
        [*base, "--input", "-"],
        input=GOOD.encode() + b"\xff\n",
        capture_output=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert run.returncode == 2 and b"not UTF-8" in run.stderr and b"Traceback" not in run.stderr
    run = subprocess.run(
        [*base, "--json", b"caf\xe9"], capture_output=True, env=env, cwd=ROOT, timeout=300
    )
    assert (
        run.returncode == 2 and b"not valid UTF-8" in run.stderr and b"Traceback" not in run.stderr
    )
    run = subprocess.run(
        [*base, "--input", "-", "--output", "-"],
        input=GOOD.encode(),
        capture_output=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["id"] == 1
