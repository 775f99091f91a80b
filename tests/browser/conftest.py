"""Browser tests: the app served on 127.0.0.1 by this run, driven in Debian's headless Chromium.

The server runs as a subprocess (`flask run`) on its own SQLite file; operator steps that the
scheduler would do (settling) run the operator CLI against the same database.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.net import free_ports, wait_until_up

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "docs" / "screenshots"
AXE = ROOT / ".cache" / "node" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class LiveApp:
    def __init__(self, url: str, env: dict[str, str]) -> None:
        self.url, self.env = url, env

    def cli(self, *args: str) -> str:
        """Run an operator command against the served app's database."""
        done = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout

    def sql(self, statement: str, *params: object) -> None:
        """Test setup on the served app's SQLite database (time passing, say)."""
        import sqlite3

        with sqlite3.connect(self.env["DATABASE_URL"].removeprefix("sqlite:///")) as conn:
            conn.execute(statement, params)

    def emailed_links(self, to: str) -> list[str]:
        """Send the outbox (the operator's `flask outbox send`); return the site paths linked in mail to `to`."""
        printed = self.cli("outbox", "send")
        mails = [part for part in printed.split("---------- email ----------") if f"To: {to}\n" in part]
        return [path for part in mails for path in re.findall(r"https?://[^/\s]+(/\S+)", part)]


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """Serve the app on a free loopback port with a fresh, migrated SQLite database."""
    db_file = tmp_path_factory.mktemp("live") / "live.sqlite3"
    port = free_ports()[0]
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{db_file}",
        "BUYSWARM_ENV": "development",
        "SECRET_KEY": "browser-tests",
        "RATELIMIT_ENABLED": "false",
        "PAYMENT_GATEWAY": "offline",
    }
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "wsgi",
            "run",
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--no-reload",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url)
        yield LiveApp(url, env)
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    """Debian's Chromium, headless, through Playwright (no browser download)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium, live_app):  # type: ignore[no-untyped-def]
    """A function that opens a page in a fresh browser context (a separate person)."""
    contexts = []

    def open_page(width: int = 1280, height: int = 900):  # type: ignore[no-untyped-def]
        context = chromium.new_context(viewport={"width": width, "height": height}, base_url=live_app.url)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("console", lambda message: message.type == "error" and csp_reports.append(message.text))
        return page

    csp_reports: list[str] = []
    yield open_page
    for context in contexts:
        context.close()
    refused = [text for text in csp_reports if "Content Security Policy" in text]
    assert refused == [], f"the Content-Security-Policy refused something the pages use: {refused}"


def screenshot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    """Save a full-page screenshot under docs/screenshots (the README shows some of them)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def axe_violations(page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict]:  # type: ignore[no-untyped-def]
    """Run axe-core in the page; return the violations of the given impacts."""
    if not AXE.exists():
        pytest.fail("axe-core is missing: `make test` installs it with npm")
    # Evaluated through the DevTools protocol, which the page's Content-Security-Policy does not govern
    # (a <script> tag with axe inline would be refused, as it should be).
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [v for v in result["violations"] if v["impact"] in impacts]
