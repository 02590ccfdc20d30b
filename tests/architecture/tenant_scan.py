"""Find tenant-model lookups in view code that do not name the agency.

A lookup is scoped when the manager call is `for_agency(...)`, or when it goes
through `get_for_agency_or_404`. Anything else on a model that has an `agency`
field (`Client.objects.get(...)`, `get_object_or_404(Client, ...)`) is reported.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    path: str
    function: str
    line: int
    text: str


def _enclosing_functions(tree: ast.AST) -> dict[int, str]:
    """Map each line number to the name of the outermost function or class method around it."""
    owner: dict[int, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for line in range(node.lineno, (node.end_lineno or node.lineno) + 1):
                owner.setdefault(line, node.name)
    return owner


def scan_source(source: str, path: str, tenant_models: set[str]) -> list[Finding]:
    tree = ast.parse(source)
    owners = _enclosing_functions(tree)
    lines = source.splitlines()
    findings = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        bad = False
        # Model.objects.<method>(...) where <method> is not for_agency
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Attribute)
            and func.value.attr in {"objects", "_default_manager"}
            and isinstance(func.value.value, ast.Name)
            and func.value.value.id in tenant_models
            and func.attr != "for_agency"
        ):
            bad = True
        # get_object_or_404 / get_list_or_404 know nothing of the agency
        if isinstance(func, ast.Name) and func.id in {"get_object_or_404", "get_list_or_404"}:
            bad = True
        if bad:
            findings.append(
                Finding(
                    path,
                    owners.get(node.lineno, "<module>"),
                    node.lineno,
                    lines[node.lineno - 1].strip(),
                )
            )
    return findings
