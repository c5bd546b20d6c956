"""The original image page, unchanged, against `opsfn local` from another origin in Chromium.

``original_page/index.html`` does exactly what the page of the replaced functions does: a
cross-origin ``POST /request-upload`` with ``{fileName, fileType}``, a ``PUT`` of the file to
``uploadUrl`` with its ``Content-Type``, and ``GET /get-results`` every 2 s until ``complete``
(labels from ``results.Labels``) or ``error`` (the ``error`` text). It is served from its own port,
so every API call is a CORS request with a preflight the function answers, and the PUT to the
bucket a CORS request the bucket's rules (from the template) answer. The stack runs with the
page's origin in a list of allowed origins, so the function must echo it.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.local.conftest import LocalRun, free_port

PAGE_DIR = Path(__file__).with_name("original_page")
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def page_origin() -> Iterator[str]:
    """The page, on a server (and so an origin) of its own."""
    handler = functools.partial(_QuietHandler, directory=str(PAGE_DIR))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def stack(page_origin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRun]:
    """`opsfn local` whose AllowedOrigin lists the page's origin after another one."""
    workdir = tmp_path_factory.mktemp("original-page")
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
           "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("AWS_ENDPOINT_URL", None)
    env.pop("AWS_SESSION_TOKEN", None)
    log_path = workdir / "local.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "opsfn.tooling.cli", "local", "--port", str(port),
             "--moto-port", "0", "--no-schedules", "--state-dir", str(workdir / "state"),
             "--parameter", f"AllowedOrigin=https://ops.example.org,{page_origin}"],
            stdout=log, stderr=subprocess.STDOUT, text=True, env=env, cwd=workdir)
    run = LocalRun(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            raise AssertionError(f"opsfn local exited early:\n{run.log()[-3000:]}")
        try:
            if run.info().get("ready"):
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"opsfn local did not get ready:\n{run.log()[-3000:]}")
        time.sleep(0.3)
    yield run
    run.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("needs the Debian packages chromium and chromium-driver")
    pytest.importorskip("selenium", reason="needs selenium (pip, the dev extra)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium-profile")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-extensions", "--no-first-run",
                 "--disable-sync", f"--user-data-dir={profile}", "--window-size=1000,800"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _files(tmp: Path) -> dict[str, Path]:
    import io

    from PIL import Image, ImageDraw
    from pydicom.data import get_testdata_file

    made = {"scan.dcm": Path(get_testdata_file("CT_small.dcm")).read_bytes()}
    for name, kind in (("photo.png", "PNG"), ("photo.jpg", "JPEG")):
        image = Image.new("RGB", (200, 140), (20, 90, 160))
        ImageDraw.Draw(image).ellipse((30, 20, 170, 120), fill=(240, 200, 40))
        out = io.BytesIO()
        image.save(out, kind)
        made[name] = out.getvalue()
    made["report.jpg"] = b"%PDF-1.4\n% a document, not an image\n" * 40
    paths = {}
    for name, data in made.items():
        paths[name] = tmp / name
        paths[name].write_bytes(data)
    return paths


def _run_page(browser: Any, page_origin: str, api: str, file: Path) -> dict[str, Any]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{page_origin}/index.html?api={api}")
    browser.find_element(By.ID, "file").send_keys(str(file))
    browser.find_element(By.ID, "analyze").click()
    WebDriverWait(browser, 90).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state")
        not in ("idle", "working"))
    return {
        "state": browser.find_element(By.TAG_NAME, "body").get_attribute("data-state"),
        "status": browser.find_element(By.ID, "status").text,
        "labels": [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#labels li")],
        "error": browser.find_element(By.ID, "error").text,
        "console": [entry["message"] for entry in browser.get_log("browser")],
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", ["scan.dcm", "photo.png", "photo.jpg"])
def test_images_complete_with_labels(stack: LocalRun, page_origin: str, browser: Any,
                                     tmp_path: Path, name: str) -> None:
    assert page_origin != stack.url  # another origin: every call below is cross-origin
    seen = _run_page(browser, page_origin, stack.url, _files(tmp_path)[name])
    assert seen["state"] == "complete", seen
    assert seen["status"] == "Complete"
    assert seen["labels"], seen
    for label in seen["labels"]:
        assert re.fullmatch(r".+: \d{1,3}\.\d%", label), label  # Name: Confidence.toFixed(1)%
    assert not [line for line in seen["console"] if "CORS" in line], seen["console"]


@pytest.mark.slow
def test_non_image_ends_in_error_with_the_reason(stack: LocalRun, page_origin: str,
                                                 browser: Any, tmp_path: Path) -> None:
    seen = _run_page(browser, page_origin, stack.url, _files(tmp_path)["report.jpg"])
    assert seen["state"] == "error", seen
    assert seen["error"] == "the file is not a JPEG, PNG or DICOM image"
    assert seen["labels"] == []


@pytest.mark.slow
def test_the_calls_were_cross_origin_and_answered_by_the_function(stack: LocalRun,
                                                                  page_origin: str) -> None:
    """What the browser's preflight got, asked again the same way."""
    import requests

    reply = requests.options(f"{stack.url}/request-upload", headers={
        "Origin": page_origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"}, timeout=30)
    assert reply.status_code == 204
    assert reply.headers["Access-Control-Allow-Origin"] == page_origin  # echoed from the list
    assert reply.headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert "content-type" in reply.headers["Access-Control-Allow-Headers"]
    assert "OPTIONS /request-upload -> 204" in stack.log()
    other = requests.request("PROPFIND", f"{stack.url}/get-results", timeout=30)
    assert other.status_code == 405  # the handler's answer, not the local server's 501
