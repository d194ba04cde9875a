"""Test helpers: serve a Lineage app page (pipelines/app.py) in a subprocess and drive it in a real
headless browser: Debian's chromium (.ci/run installs it) through Playwright, whose own browser
download needs a network this project's machines lack. Not a test module: pytest collects nothing here.

Without chromium or Playwright the browser tests skip, except under CI (the CI variable set),
where they fail: CI must run them.
"""

import contextlib
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "chromium"
# Chromium on a closed network (and as root): no sandbox, no GPU, and none of its background
# calls home. Playwright adds --headless and a fresh --user-data-dir itself.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
# The page may fetch from its own server only (and inline data); anything else is recorded and refused.
LOCAL_PREFIXES = ("http://127.0.0.1:", "data:", "blob:")


def chromium_path() -> str:
    """The chromium binary; skips the test where it or Playwright is missing, fails instead under CI."""
    path = shutil.which(CHROMIUM)
    missing = []
    if path is None:
        missing.append("Debian's chromium (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install -e '.[dev]')")
    if missing:
        message = f"the browser test needs {' and '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must run it (.ci/run installs chromium)")
        pytest.skip(message)
    return path


@contextlib.contextmanager
def serving(command: list[str], port: int, log_path: Path, env: dict | None = None, cwd=None, timeout: float = 240):
    """Run `command` (an app on 127.0.0.1:`port`) until the block ends; yields its URL once it answers.

    Its output goes to `log_path`, which a failure to start quotes.
    """
    url = f"http://127.0.0.1:{port}/"
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, cwd=cwd)
    try:
        deadline = time.monotonic() + timeout
        while not _answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the app did not come up at {url} (exit code {process.poll()}):\n"
                            f"{log_path.read_text()[-4000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@contextlib.contextmanager
def open_page(url: str):
    """A chromium page on `url`; yields (page, external) where `external` collects every refused
    request that was not to the local server."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    external = []

    def local_only(route):
        if route.request.url.startswith(LOCAL_PREFIXES):
            route.continue_()
        else:
            external.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.route("**/*", local_only)
            page.goto(url, wait_until="load")
            yield page, external
        finally:
            browser.close()


def click_example(page, task: str, index: int) -> str:
    """Click the task's example button `index`; returns the input box's text once the click has filled it.

    (By position: the buttons shorten long examples.)"""
    from playwright.sync_api import expect

    page.locator(f"#examples-{task} button").nth(index).click()
    box = page.locator(f"#input-{task} textarea")
    expect(box).not_to_have_value("")
    return box.input_value()


def submit(page, task: str, text: str, expect: str) -> str:
    """Enter `text` in the task's tab, run every model, and return the message once it contains `expect`."""
    page.locator(f"#input-{task} textarea").fill(text)
    page.locator(f"#run-{task}").click()
    message = page.locator(f"#message-{task}")
    message.get_by_text(expect).wait_for()
    return message.inner_text()


def outputs(page, task: str, keys: list[str]) -> dict[str, str]:
    """Every model's output text as the page shows it."""
    return {key: page.locator(f"#output-{task}-{key} textarea").input_value() for key in keys}


def screenshot(page, name: str) -> Path:
    """A full-page screenshot in test-artifacts/ (git-ignored); its path is printed for the test log."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path
