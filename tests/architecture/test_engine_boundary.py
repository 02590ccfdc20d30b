"""The run engine stays plain Python: import-linter's contract holds."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_contract_is_kept():
    result = subprocess.run(
        [str(ROOT / ".venv/bin/lint-imports")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    assert "The run engine is plain Python: no Django, no project apps KEPT" in result.stdout
    assert (
        "The simulator is plain Python and does not use the SDK it imitates KEPT" in result.stdout
    )


def test_migrations_match_the_models():
    result = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
