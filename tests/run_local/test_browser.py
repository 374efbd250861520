"""`make run`'s approval in a real browser: headless Chromium (Debian's chromium + chromium-driver,
driven by Selenium) opens the link the run prints, reads the evaluation on the page, confirms; the run
then serves the model and the printed curl answers. A second run is rejected in the browser.

.ci/run installs the two Debian packages; the test is skipped, saying so, only where they are missing.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.run_local.conftest import ROOT, make_env

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM and DRIVER), reason=(
        "no browser: Debian's chromium and chromium-driver are not installed (.ci/run installs them with "
        "`apt-get install -y chromium chromium-driver`, which needs root and the Debian archive)")),
]
BROWSER_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync")


class Run:
    """`make run` in the background, as in a terminal: its lines as they come, Ctrl-C to stop."""

    def __init__(self, workdir: Path):
        self.process = subprocess.Popen(["make", "run", f"ARGS=--workdir {workdir}"], cwd=ROOT, env=make_env(),
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = 240) -> re.Match:
        deadline = time.monotonic() + timeout
        for line in self.lines:
            if match := re.search(pattern, line):
                return match
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"no line matching {pattern!r} within {timeout}s:\n" + "\n".join(self.lines))

    def output(self) -> str:
        while (line := self._queue.get(timeout=30)) is not None:
            self.lines.append(line)
        return "\n".join(self.lines)

    def ctrl_c(self) -> int:
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout=60)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for flag in (*BROWSER_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1000,1400"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture
def local_run(tmp_path):
    runs = []

    def start(name: str) -> Run:
        runs.append(Run(tmp_path / name))
        return runs[-1]

    yield start
    for run in runs:
        run.stop()


def confirm_in_browser(browser, link: str, approver: str, comment: str, screenshot: Path) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(link)
    page = browser.find_element(By.TAG_NAME, "body").text
    assert "Accuracy 1.0000 against the required 0.8500: passed (30 records)" in page, page
    assert re.search(r"versicolor 1\.0000 1\.0000 10", page), page  # precision, recall, support
    picture = browser.find_element(By.CSS_SELECTOR, "figure.matrix svg")
    assert len(picture.find_elements(By.TAG_NAME, "rect")) == 9  # the 3 x 3 matrix the evaluate step drew
    assert picture.size["width"] > 100 and picture.size["height"] > 100
    browser.save_screenshot(str(screenshot))
    browser.find_element(By.ID, "approver").send_keys(approver)
    browser.find_element(By.ID, "comment").send_keys(comment)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 30).until(ready.presence_of_element_located((By.TAG_NAME, "h1")))
    return str(browser.find_element(By.TAG_NAME, "h1").text)


def test_approve_in_the_browser_then_the_printed_curl_answers(browser, local_run, tmp_path):
    run = local_run("approve")
    link = run.wait_for(r"To approve, open:\s+(http://127\.0\.0\.1:\d+/v1/decision\?\S+)").group(1)

    heading = confirm_in_browser(browser, link, "Browser Tester", "looks right", tmp_path / "approval-page.png")
    assert heading == "Approved"

    url = run.wait_for(r"serving: POST (http://127\.0\.0\.1:\d+/v1/predict)").group(1)
    curl = run.wait_for(r"^  (curl -s -X POST .*)$").group(1)
    assert url in curl
    if shutil.which("curl"):
        answer = subprocess.run(shlex.split(curl), capture_output=True, text=True, timeout=30, check=True).stdout
    else:  # the same request without the curl binary
        key = re.search(r"x-api-key: ([^']+)", curl)
        request = urllib.request.Request(url, data=b'{"data": "5.1,3.5,1.4,0.2"}', method="POST", headers={
            "Content-Type": "application/json", **({"x-api-key": key.group(1)} if key else {})})
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = response.read().decode()
    assert json.loads(answer) == {"result": "setosa"}
    # Still serving until Ctrl-C, which ends the run normally (make itself reports the interrupt).
    run.wait_for(r"Serving until Ctrl-C")
    assert run.ctrl_c() in (0, -signal.SIGINT)
    assert run.output().splitlines()[-1] == "stopped" or "\nstopped\n" in run.output() + "\n"


def test_reject_in_the_browser_ends_with_the_package_rejected(browser, local_run, tmp_path):
    run = local_run("reject")
    link = run.wait_for(r"To reject, open:\s+(http://127\.0\.0\.1:\d+/v1/decision\?\S+)").group(1)

    heading = confirm_in_browser(browser, link, "Browser Tester", "not this one", tmp_path / "rejection-page.png")
    assert heading == "Rejected"

    run.wait_for(r"FAILED at step RequestApproval: Rejected$")
    run.wait_for(r"model package: arn:aws:sagemaker:\S+/mlops-dev-models/1 is Rejected")
    assert run.process.wait(timeout=60) != 0
    assert "serving:" not in run.output()
