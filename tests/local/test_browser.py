"""The upload page in a real browser: headless Chromium uploads a DICOM file and sees the result."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.local.conftest import LocalRun

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("needs the Debian packages chromium and chromium-driver")
    pytest.importorskip("selenium", reason="needs selenium (pip, the dev extra)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.mark.slow
def test_page_uploads_dicom_and_shows_png_and_labels(local_stack: LocalRun, browser: Any,
                                                      tmp_path: Path) -> None:
    from pydicom.data import get_testdata_file
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    dicom = tmp_path / "scan.dcm"
    dicom.write_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes())
    browser.get(local_stack.url + "/")
    assert browser.title.startswith("opsfn")
    browser.find_element(By.ID, "file").send_keys(str(dicom))
    browser.find_element(By.ID, "upload").click()
    WebDriverWait(browser, 90).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state")
        in ("complete", "error"))
    status = browser.find_element(By.ID, "status").text
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "complete", status
    image = browser.find_element(By.ID, "image")
    WebDriverWait(browser, 30).until(lambda d: d.execute_script(
        "const i = arguments[0]; return i.complete && i.naturalWidth > 0;", image))
    assert "/converted/" in image.get_attribute("src")
    assert ".png" in image.get_attribute("src")
    assert browser.execute_script("return arguments[0].naturalWidth;", image) == 128
    labels = [item.text for item in browser.find_elements(By.CSS_SELECTOR, "#labels li.label")]
    assert labels and all("%" in label for label in labels)
    assert "emulated Rekognition" in browser.find_element(By.ID, "label-source").text
    assert browser.find_element(By.ID, "metadata").text.count("CT") >= 1
