"""Playwright on the system Chromium against pytest-django's live server.

Never `playwright install`: the browser is Debian's chromium package. Every
test fails on a JavaScript error or a Content-Security-Policy violation, and
saves screenshots under test-results/screens/ for people to look at.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test thread; Django's ORM in
# the same thread then needs this (microsoft/playwright-pytest#29).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SCREENS = Path(__file__).resolve().parents[2] / "test-results" / "screens"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    executable = os.environ.get("PLAYWRIGHT_CHROMIUM_EXECUTABLE") or shutil.which("chromium")
    assert executable, "Install Debian's chromium package (apt-get install chromium)."
    return {
        **browser_type_launch_args,
        "executable_path": executable,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


@pytest.fixture
def page(page):
    """The Playwright page, failing the test on any console error or page error."""
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))

    def on_console(message):
        if (
            message.type == "error"
            and "status of 404" not in message.text
            and "status of 403" not in message.text
        ):
            problems.append(f"console: {message.text}")

    page.on("console", on_console)
    page.set_default_timeout(10_000)
    yield page
    assert not problems, "\n".join(problems)


@pytest.fixture
def shoot(page):
    SCREENS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> None:
        page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)

    return take


@pytest.fixture
def login_as(live_server, page):
    """Log a user in by handing the browser a session cookie (no typing)."""
    from django.conf import settings
    from django.test import Client

    def do(user):
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        page.context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}]
        )

    return do
