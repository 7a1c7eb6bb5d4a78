"""The import contracts in pyproject.toml hold: specs below generators, runtime layers, no cycles.

Run through import-linter's API rather than its `lint-imports` script, so the check needs no
console script on PATH (the README's commands use `python3 -m` for the same reason).
"""

from __future__ import annotations

import os

from importlinter.cli import lint_imports
from spec_helpers import REPO


def test_every_import_contract_is_kept(capsys):
    cwd = os.getcwd()
    os.chdir(REPO)  # import-linter reads the contracts from pyproject.toml in the working directory
    try:
        code = lint_imports()
    finally:
        os.chdir(cwd)
    assert code == 0, capsys.readouterr().out
