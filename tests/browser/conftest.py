"""Fixtures of the real-browser tests: JupyterLab on 127.0.0.1, Debian's Chromium driven by Playwright.

The tests skip where Chromium or Playwright is missing (a user's laptop) and fail
instead when ``LENSNB_REQUIRE_BROWSER=1`` (CI sets it). Never ``playwright install``:
Chromium comes from the system (``/usr/bin/chromium``, or ``LENSNB_CHROMIUM``).
Screenshots go to ``test-artifacts/browser/`` (or ``LENSNB_ARTIFACTS``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.browser.servers import JupyterServer

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]  # fmt: skip


def _unavailable(reason: str):
    if os.environ.get("LENSNB_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests are required here but {reason}")
    pytest.skip(reason)


def chromium_path() -> str:
    path = os.environ.get("LENSNB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        _unavailable("Chromium is not installed (apt-get install chromium, or set LENSNB_CHROMIUM)")
    return path


@pytest.fixture(scope="session")
def artifacts() -> Path:
    folder = Path(os.environ.get("LENSNB_ARTIFACTS") or REPO / "test-artifacts") / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> JupyterServer:
    """JupyterLab serving a copy of notebooks/ (quick mode, offline)."""
    chromium_path()
    root = tmp_path_factory.mktemp("lab-root")
    for notebook in (REPO / "notebooks").glob("*.ipynb"):
        shutil.copy(notebook, root / notebook.name)
    env = {"LENSNB_QUICK": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    server = JupyterServer(root, tmp_path_factory.mktemp("lab-scratch"), env)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install playwright; never `playwright install`)")
    executable = chromium_path()
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=executable, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000},
        )  # fmt: skip
        context.set_default_timeout(60_000)
        yield context
        context.close()


@pytest.fixture
def page(browser_context):
    """A fresh page whose console errors, page errors and dialogs (an alert would mean unescaped HTML ran) are recorded."""
    page = browser_context.new_page()
    page.problems = []
    page.on("console", lambda m: page.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))

    def dialog(d):
        if d.type == "beforeunload":  # JupyterLab asking about unsaved changes: leave, as a user reloading would
            d.accept()
            return
        page.problems.append(f"dialog {d.type}: {d.message}")
        d.dismiss()

    page.on("dialog", dialog)
    yield page
    page.close()
