"""Every write goes through a service: no view saves or deletes a model itself.

A view that calls `.save(` or `.delete(` (a form's save included) skips what the
service does around the write: versions, beat tasks, checks. The scan reads each
view module's syntax tree, so a comment or a string cannot trip it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VIEW_MODULES = sorted(
    [*ROOT.glob("agents/views*.py"), *ROOT.glob("clients/views/*.py")],
    key=lambda p: str(p),
)
WRITES = {"save", "delete"}


def writes_in(source: str) -> list[str]:
    return [
        f"line {node.lineno}: .{node.func.attr}("
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in WRITES
    ]


def test_the_scan_sees_saves_and_deletes_but_not_comments_or_strings():
    source = (
        "def v(form, row):\n    form.save()\n    row.delete()\n    # x.save()\n    'y.delete()'\n"
    )
    assert writes_in(source) == ["line 2: .save(", "line 3: .delete("]


def test_there_are_view_modules_to_scan():
    names = {p.name for p in VIEW_MODULES}
    assert {"views.py", "views_alerts.py", "clients.py"} <= names


@pytest.mark.parametrize("path", VIEW_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_view_saves_or_deletes_a_model_itself(path):
    assert writes_in(path.read_text()) == [], f"{path.name}: call a service instead"
