"""Every tenant lookup in a view names the agency (zulip-style lint, run as a test)."""

from __future__ import annotations

from pathlib import Path

import django
import pytest
from django.apps import apps

from tests.architecture.tenant_scan import scan_source

ROOT = Path(__file__).resolve().parents[2]

# Lookups that legitimately do not start from an agency, with the reason. This
# list may only shrink; a new entry needs a reviewer to agree with its reason.
ALLOWED = {
    # The user's own memberships across agencies, to pick where to land.
    ("clients/views/accounts.py", "home"),
}


def view_files() -> list[Path]:
    files = []
    for app in ("clients", "agents"):
        base = ROOT / app
        files += sorted(base.glob("views.py")) + sorted(base.glob("**/views/*.py"))
        files += sorted(base.glob("**/views*.py"))
    return sorted(set(files))


@pytest.fixture(scope="module")
def tenant_models() -> set[str]:
    django.setup()
    return {
        m.__name__
        for m in apps.get_models()
        if any(f.name == "agency" for f in m._meta.get_fields())
        and m._meta.app_label in ("clients", "agents")
    }


def test_tenant_models_are_known(tenant_models):
    assert {"Client", "Membership", "Invitation", "ClientViewer"} <= tenant_models


def test_views_only_make_agency_scoped_lookups(tenant_models):
    assert view_files(), "no view modules found"
    findings = []
    for path in view_files():
        rel = str(path.relative_to(ROOT))
        findings.extend(
            f"{f.path}:{f.line} in {f.function}(): {f.text}"
            for f in scan_source(path.read_text(), rel, tenant_models)
            if (f.path, f.function) not in ALLOWED
        )
    assert not findings, (
        "Unscoped tenant lookups; use Model.objects.for_agency(...) or get_for_agency_or_404:\n"
        + "\n".join(findings)
    )


def test_the_allow_list_has_no_stale_entries(tenant_models):
    used = set()
    for path in view_files():
        rel = str(path.relative_to(ROOT))
        used |= {(f.path, f.function) for f in scan_source(path.read_text(), rel, tenant_models)}
    assert used >= ALLOWED, f"remove stale allow-list entries: {ALLOWED - used}"


BAD = [
    "def v(request, client_id):\n    return Client.objects.get(public_id=client_id)\n",
    "def v(request):\n    return Client.objects.filter(name='x')\n",
    "def v(request):\n    return Client.objects.all()\n",
    "def v(request, pk):\n    return get_object_or_404(Client, pk=pk)\n",
    "def v(request):\n    return Membership._default_manager.count()\n",
]
GOOD = [
    "def v(request):\n    return Client.objects.for_agency(request.agency).filter(name='x')\n",
    "def v(request, cid):\n    return get_for_agency_or_404(Client, request.agency, pk=cid)\n",
    "def v(request):\n    return Agency.objects.count()\n",
]


@pytest.mark.parametrize("source", BAD)
def test_the_scanner_flags_unscoped_lookups(source):
    assert scan_source(source, "x.py", {"Client", "Membership"})


@pytest.mark.parametrize("source", GOOD)
def test_the_scanner_passes_scoped_lookups(source):
    assert not scan_source(source, "x.py", {"Client", "Membership"})
