"""The README opens with exactly two set-up commands, and CI runs the second one verbatim."""

from __future__ import annotations

import re
import subprocess

from spec_helpers import REPO


def _commands_before_first_section() -> list[str]:
    head = (REPO / "README.md").read_text(encoding="utf-8").split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", head, re.S)


def test_readme_opens_with_two_commands_main_job_then_tests():
    commands = _commands_before_first_section()
    assert len(commands) == 2
    build, tests = commands
    assert "\n" not in build and "\n" not in tests
    assert build.startswith("python3 -m pip install torch==2.13.0 ") and build.endswith(
        "storyml build"
    )
    assert "pytest" in tests and "cargo test --offline" in tests and "gen --check" in tests


def test_ci_extracts_the_readme_test_command():
    script = (REPO / ".ci/run").read_text(encoding="utf-8")
    extract = script.split("cmd=$(", 1)[1].split(")\n", 1)[0]
    out = subprocess.run(
        ["bash", "-c", extract], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == _commands_before_first_section()[1]


def test_the_readme_and_build_md_show_the_committed_lever_table():
    from storyml.build.report import LEVER_TABLE, render_build_summary

    table = LEVER_TABLE.read_text(encoding="utf-8").strip()
    assert table.startswith("| levers on |")
    assert table in (REPO / "README.md").read_text(encoding="utf-8")
    summary = {
        "profile": "default",
        "encoder": "minilm",
        "seed": 1,
        "contract_fingerprint": "x",
        "storyml_version": "0",
        "artifact_bytes_including_external_data": {},
        "stages": {"data": {"events_train": 10, "prose": 3}},
        "stage_seconds": {},
    }
    build_md = render_build_summary(summary)
    assert table in build_md and "written prose (specs/text/prose): 3 sentences" in build_md


def test_every_readme_section_appears_once():
    # A bad merge once pasted an older copy of two sections into the middle of a table.
    headings = re.findall(r"^##+ .+$", (REPO / "README.md").read_text(encoding="utf-8"), re.M)
    repeated = sorted({h for h in headings if headings.count(h) > 1})
    assert not repeated, f"README sections written twice: {repeated}"
