"""The upload page's side panel in a real browser: what the stack did, refreshed live."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.local.conftest import LocalRun

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("needs the Debian packages chromium and chromium-driver")
    pytest.importorskip("selenium", reason="needs selenium (pip, the dev extra)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.mark.slow
def test_panel_shows_invocations_as_they_happen(local_stack: LocalRun, page: Any,
                                                tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    page.get(local_stack.url + "/")
    panel = WebDriverWait(page, 30).until(lambda d: d.find_element(By.ID, "activity"))
    WebDriverWait(page, 30).until(lambda d: panel.get_attribute("data-live") == "true")
    # What happened before the page opened is there (the custom resources at start-up)...
    WebDriverWait(page, 30).until(lambda d: d.find_elements(
        By.CSS_SELECTOR, '#activity-list li[data-route="Custom::SslMaterials"]'))
    # ...and what happens now arrives without a reload: an HTTP call and a failing invoke.
    assert requests.get(f"{local_stack.url}/health", timeout=10).status_code == 200
    requests.post(f"{local_stack.url}/2015-03-31/functions/OpsFunction/invocations",
                  data=b'{"action": "no_such_action"}', timeout=10)
    failed = WebDriverWait(page, 30).until(lambda d: d.find_elements(
        By.CSS_SELECTOR, '#activity-list li.activity-entry[data-status="failed"]'))
    assert "Lambda Invoke (RequestResponse)" in failed[0].text
    assert "NotFound" in failed[0].text
    health = WebDriverWait(page, 30).until(lambda d: d.find_elements(
        By.CSS_SELECTOR, '#activity-list li[data-route="GET /health"]'))
    assert health[0].get_attribute("class") == "ok"
    entries = page.find_elements(By.CSS_SELECTOR, "#activity-list > li")
    assert entries[0].text.count("Lambda Invoke") == 1  # the newest first
    # The panel sits beside the upload form, not over it.
    form = page.find_element(By.ID, "upload-form").rect
    side = panel.rect
    assert form["x"] + form["width"] <= side["x"]
    page.save_screenshot(str(tmp_path / "panel.png"))
