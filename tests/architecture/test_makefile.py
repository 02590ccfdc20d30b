"""The Makefile finds a Python 3.12+ or says clearly what to install."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_without_python_312_make_says_what_to_install(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    # Debian's own python3 here is 3.11; no pyenv under this HOME.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    result = subprocess.run(
        ["make", "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode != 0
    assert "AgencyOps needs Python 3.12 or newer" in result.stdout
    assert "pyenv install 3.12" in result.stdout
    assert not (tmp_path / ".venv").exists()
