"""The Makefile finds a Python 3.12+ or says clearly what to install."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_without_python_312_make_says_what_to_install(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    # A PATH of our own, whatever Pythons this machine has: its only python3 is an
    # old one, which fails the Makefile's version check; no pyenv under this HOME.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    old_python = bin_dir / "python3"
    old_python.write_text("#!/bin/sh\n# Python 3.11: sys.version_info < (3, 12)\nexit 1\n")
    old_python.chmod(0o755)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}

    result = subprocess.run(
        [shutil.which("make") or "/usr/bin/make", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "AgencyOps needs Python 3.12 or newer" in result.stdout
    assert "pyenv install 3.12" in result.stdout
    assert not (tmp_path / ".venv").exists()
