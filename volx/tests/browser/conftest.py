"""Browser tests: the app under the production server, driven in headless Chromium from
Debian, on MariaDB (like the `locks` tests: skipped on SQLite).

Mark each test `@pytest.mark.browser` and use `site` (the server, with transactional
database access so the server sees what the test writes), `browser` (Selenium Chrome),
`wait_for` (an element once it is shown) and `screenshot` (saves
artifacts/screenshots/<test>/<NN>-<name>.png).

Without /usr/bin/chromium or /usr/bin/chromedriver the tests are skipped, except when
CI=true, where that is an error: CI must run them. Selenium Manager never runs (it would
download a browser): the driver's path is always given.
"""

from __future__ import annotations

import base64
import importlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings

from articles.tests.chat_server import ChatServer

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
]
SCREENSHOTS = Path(settings.BASE_DIR) / "artifacts" / "screenshots"
WAIT_SECONDS = 10


@pytest.hookimpl(tryfirst=True)  # before the root conftest's skipping of `locks` tests
def pytest_collection_modifyitems(config, items):
    browser_tests = [item for item in items if "browser" in item.keywords]
    for item in browser_tests:
        # The server is a process of its own: it needs a database it can share with the
        # test, which SQLite's in-memory test database is not.
        item.add_marker(pytest.mark.locks)
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    if not missing:
        return
    if browser_tests and os.environ.get("CI") == "true":
        raise pytest.UsageError(
            f"CI=true: browser tests need {' and '.join(missing)} "
            "(apt-get install chromium chromium-driver)"
        )
    reason = f"needs {' and '.join(missing)} (apt-get install chromium chromium-driver)"
    for item in browser_tests:
        item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def _fast_password_hashing():
    """Overrides the root conftest's: the server checks passwords with the production
    hashers, so the users a test creates get real hashes."""


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    """A provider that streams slowly (AI_PROVIDER=openai, AI_BASE_URL=chat.base_url): four
    pieces 1.5 s apart, the whole answer in 4.5 s, so a page shows text before the end."""
    server = ChatServer().start()
    server.chunks = ["Fast wallets ", "for slow ", "models, ", "word by word."]
    server.chunk_delay = 1.5
    yield server
    server.stop()


@pytest.fixture
def start_site(gunicorn_server) -> Callable:
    """`start_site(**env)`: the app as production serves it (the Procfile's web command,
    volx/tests/conftest.py) on a free port (`.url`), with `env` on top. Transactional: the
    data a test writes is committed, so the server sees it; the database is emptied
    afterwards, and the plan catalogue, which the data migration seeded, is put back here
    first."""
    from django.apps import apps

    importlib.import_module("subscriptions.migrations.0002_seed_plans").seed(apps, None)
    return lambda **env: gunicorn_server(**{**BANK_DETAILS, **env})


@pytest.fixture
def site(start_site):
    return start_site()


# The operator's bank account, which turns bank transfers on.
BANK_DETAILS = {
    "BANK_TRANSFER_BANK_NAME": "Vietcombank",
    "BANK_TRANSFER_ACCOUNT_NAME": "Volx Ltd",
    "BANK_TRANSFER_ACCOUNT_NUMBER": "0071000123456",
}


@pytest.fixture
def browser() -> Iterator:
    """Headless Chromium with a fresh profile, closed after the test."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in CHROMIUM_ARGS:
        options.add_argument(argument)
    profile = tempfile.mkdtemp(prefix="volx-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def screenshot(browser, request) -> Callable[[str], Path]:
    """`screenshot("approved")` saves the whole page as the test's next numbered PNG."""
    folder = SCREENSHOTS / _slug(request.node.name)
    shutil.rmtree(folder, ignore_errors=True)  # only this run's steps, in order
    folder.mkdir(parents=True, exist_ok=True)
    taken = 0

    def take(name: str) -> Path:
        nonlocal taken
        taken += 1
        path = folder / f"{taken:02d}-{_slug(name)}.png"
        _save_full_page(browser, path)
        return path

    return take


def _slug(name: str) -> str:
    return re.sub(r"[^\w.-]+", "-", name).strip("-")


def _save_full_page(driver, path: Path) -> None:
    """The whole page, not only the window: Chromium's DevTools capture beyond the viewport."""
    content = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {
        "x": 0,
        "y": 0,
        "width": content["width"],
        "height": min(content["height"], 8000),
        "scale": 1,
    }
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    path.write_bytes(base64.b64decode(shot["data"]))


@pytest.fixture
def wait_for(browser) -> Callable:
    """`wait_for("css selector")`: the element, once the page shows it (or a timeout)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    def wait(css: str):
        return WebDriverWait(browser, WAIT_SECONDS).until(
            expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, css))
        )

    return wait
