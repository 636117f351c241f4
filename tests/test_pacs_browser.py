"""The demo end to end in a real browser: OHIF (served with Orthanc's DICOMweb on one origin) opens the study
``pacs-detect`` wrote to, and shows the SR's boxes and scores and the heatmap overlays.

Debian's ``chromium`` and ``chromium-driver`` under selenium, headless; ``.ci/run`` installs them with Orthanc.
OHIF's build comes from the monailabel 0.8.5 wheel (``pip download``, cached in ``~/.cache/mammo-ssl/ohif``).
The screenshots go to the test's temporary folder, and to ``docs/figures/`` (``docs/pacs.md`` shows them) when
``MAMMO_SSL_UPDATE_FIGURES=1``, so that a test run never changes the checkout.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
FIGURES = REPO / "docs" / "figures"
UPDATE_FIGURES = os.environ.get("MAMMO_SSL_UPDATE_FIGURES") == "1"
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER and shutil.which("Orthanc")),
    reason="needs chromium, chromium-driver, orthanc and orthanc-dicomweb (apt-get; .ci/run installs them)")
SCORE_LABEL = re.compile(r"Suspicion score: (\d+\.\d\d) %")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from custom.pacs.demo import Demo
    from custom.pacs.untrained import untrained_bundle

    bundle = untrained_bundle(tmp_path_factory.mktemp("bundle"), REPO / "bundles" / "mammo_siamese_softlabel")
    with Demo(port=0, bundle=bundle) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                 "--window-size=1600,1000", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def _wait(condition, seconds: float, what: str):
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        found = condition()
        if found:
            return found
        time.sleep(0.5)
    pytest.fail(f"{what} within {seconds:.0f} s")


def _open_series(browser, description: str) -> None:
    """Double-clicks the series in OHIF's study browser, as a radiologist does."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    entry = _wait(lambda: browser.find_elements(By.XPATH, f"//*[text()='{description}']"), 60,
                  f"no series {description!r} in OHIF's study browser")[0]
    ActionChains(browser).double_click(entry).perform()


def _viewport(browser) -> np.ndarray:
    """The viewport's pixels (RGB), from a screenshot of the page."""
    from selenium.webdriver.common.by import By

    canvas = max(browser.find_elements(By.CSS_SELECTOR, "canvas"), key=lambda item: item.rect["width"] * item.rect["height"])
    shot = np.asarray(Image.open(_png(browser)).convert("RGB"))
    scale = shot.shape[1] / browser.execute_script("return window.innerWidth")
    box = canvas.rect
    top, left = int(box["y"] * scale), int(box["x"] * scale)
    return shot[top:top + int(box["height"] * scale), left:left + int(box["width"] * scale)]


def _png(browser):
    import io

    return io.BytesIO(browser.get_screenshot_as_png())


def _annotation_pixels(rgb: np.ndarray) -> int:
    """Pixels in OHIF's annotation colours (saturated yellow or green), which a grey mammogram has none of."""
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    return int(((g > 180) & (b < 90) & ((r > 180) | (r < 90))).sum())


def _heat_pixels(rgb: np.ndarray) -> int:
    """Pixels of the inferno colour map's warm half (red to yellow, far from grey)."""
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    return int(((r - b > 80) & (r > 120)).sum())


def test_ohif_shows_the_srs_boxes_and_scores_and_the_heatmaps(demo, browser, tmp_path):
    from selenium.webdriver.common.by import By

    figures = FIGURES if UPDATE_FIGURES else tmp_path
    name, version = demo.detector.identity.name, demo.detector.identity.version
    browser.get(demo.viewer_url)
    _wait(lambda: "MG" in browser.find_element(By.TAG_NAME, "body").text, 90, "OHIF did not list the study's series")
    time.sleep(3)  # the first image renders
    before = _viewport(browser)
    assert before.std() > 10, "no image in the viewport"
    assert _annotation_pixels(before) < 50

    _open_series(browser, f"{name} {version} run 1: candidates")
    text = _wait(lambda: (lambda t: t if "Suspicion score:" in t else None)(browser.find_element(By.TAG_NAME, "body").text),
                 60, "OHIF drew no SR measurement")
    time.sleep(2)
    shown = {float(value) for value in SCORE_LABEL.findall(text)}
    stored = {round(100 * candidate["score"], 2) for found in demo.result.candidates.values() for candidate in found}
    assert shown and shown <= stored, (shown, stored)
    assert "Rank in image: 1.00" in text
    boxes = _viewport(browser)
    assert _annotation_pixels(boxes) > 300, "no box drawn in the viewport"
    figures.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(figures / "pacs_ohif_sr.png"))

    _open_series(browser, f"{name} {version} run 1: heatmap")
    _wait(lambda: _heat_pixels(_viewport(browser)) > 1000, 60, "OHIF did not show the heatmap overlay")
    time.sleep(2)
    overlay = _viewport(browser)
    assert _heat_pixels(overlay) > 1000 > _heat_pixels(before)
    assert browser.save_screenshot(str(figures / "pacs_ohif_heatmap.png"))
    assert Image.open(figures / "pacs_ohif_heatmap.png").size[0] > 0
