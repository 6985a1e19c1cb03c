"""Headless Chromium for the playground's browser tests and for its README screenshot.

Debian's `chromium` and `chromium-driver` packages driven by selenium (dev extra); selenium is
told where both are, so it never tries to download a browser.

    python -m service.testing.browser --models models --model mnist-cond --label 7
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

Point = tuple[float, float]

# A "2" and a "7" as strokes of points, in fractions of the pad's width and height.
TWO: list[list[Point]] = [
    [
        (0.30, 0.32), (0.38, 0.22), (0.52, 0.17), (0.65, 0.22), (0.70, 0.34), (0.64, 0.47),
        (0.50, 0.60), (0.36, 0.72), (0.28, 0.81), (0.45, 0.80), (0.60, 0.80), (0.74, 0.80),
    ]
]  # fmt: skip
SEVEN: list[list[Point]] = [
    [(0.28, 0.22), (0.50, 0.21), (0.72, 0.21), (0.62, 0.42), (0.53, 0.62), (0.46, 0.82)],
    [(0.38, 0.50), (0.66, 0.50)],
]


def find_chromium() -> tuple[str, str] | None:
    """(browser, driver) paths, or None when either is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def start_browser(width: int = 1280, height: int = 1400) -> webdriver.Chrome:
    found = find_chromium()
    if found is None:
        raise RuntimeError("chromium and chromedriver are not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(arg)
    # Console messages and every network request the page makes (Chrome's performance log).
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=found[1]))


def set_viewport(driver: webdriver.Chrome, width: int, height: int, mobile: bool = False) -> None:
    """The page's viewport in CSS pixels, exactly (a window size also counts the browser's frame)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )


def screenshot(driver: webdriver.Chrome, out: Path, width: int = 1280) -> None:
    """The whole page, however long, at the given width."""
    set_viewport(driver, width, 800)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    set_viewport(driver, width, int(height))
    time.sleep(0.1)  # one frame at the new size
    out.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(out))


def console_errors(driver: webdriver.Chrome) -> list[str]:
    """SEVERE console messages since the last call (reading the log empties it)."""
    entries = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return [str(e["message"]) for e in entries if e["level"] == "SEVERE"]


def requested_urls(driver: webdriver.Chrome) -> list[str]:
    """Every URL the browser requested since the last call, from the performance log."""
    urls = []
    for entry in driver.get_log("performance"):  # type: ignore[no-untyped-call]
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(str(msg["params"]["request"]["url"]))
    return urls


def wait(
    driver: webdriver.Chrome, condition: Callable[[Any], Any], timeout: float = 20, what: str = ""
) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition, what)


def wait_panel(driver: webdriver.Chrome, panel: str, timeout: float = 20) -> str:
    """Waits until a panel's action has finished; returns its state: done or error."""

    def finished(d: Any) -> str | None:
        s = d.find_element(By.ID, panel).get_attribute("data-state")
        return s if s in ("done", "error") else None

    state: str = wait(driver, finished, timeout, f"{panel} to finish")
    return state


def image_loaded(driver: webdriver.Chrome, element: WebElement) -> bool:
    return bool(
        driver.execute_script(
            "const i = arguments[0]; return i.complete && i.naturalWidth > 0;", element
        )
    )


def draw(driver: webdriver.Chrome, strokes: Sequence[Sequence[Point]]) -> None:
    """Draws strokes with the mouse on the playground's pad (points in fractions of its size)."""
    pad = driver.find_element(By.ID, "pad")
    w, h = pad.size["width"], pad.size["height"]
    for points in strokes:
        # Offsets are from the element's centre.
        xy = [(round((x - 0.5) * w), round((y - 0.5) * h)) for x, y in points]
        chain = ActionChains(driver, duration=5).move_to_element_with_offset(pad, *xy[0])
        chain.click_and_hold()
        for (x0, y0), (x1, y1) in zip(xy, xy[1:], strict=False):
            chain.move_by_offset(x1 - x0, y1 - y0)
        chain.release().perform()


def playground_screenshot(base_url: str, model: str, out: Path, label: int | None = None) -> None:
    """The whole playground with a sample grid (64 of class `label`, for a conditional model),
    a drawn 2 reconstructed and a 2 -> 7 path."""
    driver = start_browser()
    try:
        driver.get(f"{base_url}/")
        wait_panel(driver, "model-panel")
        driver.execute_script(
            "const s = document.getElementById('model'); s.value = arguments[0];"
            "s.dispatchEvent(new Event('change'));",
            model,
        )
        wait_panel(driver, "sample-panel")
        if label is not None:  # GET /sample?model=...&n=64&label=k
            # the drawn 2 is reconstructed as a 2; the path keeps the class asked for
            driver.execute_script(
                "document.getElementById('sample-n').value = 64;"
                "document.getElementById('sample-label').value = arguments[0];"
                "document.getElementById('interp-label').value = arguments[0];"
                "document.getElementById('draw-label').value = '2';",
                str(label),
            )
            driver.find_element(By.CSS_SELECTOR, "#sample-form button[type=submit]").click()
            wait_panel(driver, "sample-panel")
        for strokes, end in ((SEVEN, "use-b"), (TWO, "use-a")):
            driver.find_element(By.ID, "pad-clear").click()
            draw(driver, strokes)
            driver.find_element(By.ID, end).click()
            wait_panel(driver, "draw-panel")
        driver.find_element(By.ID, "reconstruct").click()
        wait_panel(driver, "draw-panel")
        driver.find_element(By.CSS_SELECTOR, "#interp-form button[type=submit]").click()
        wait_panel(driver, "interp-panel")
        slider = driver.find_element(By.ID, "slider")  # show the middle of the path
        driver.execute_script(
            "arguments[0].value = 4; arguments[0].dispatchEvent(new Event('input'))", slider
        )
        screenshot(driver, out)
    finally:
        driver.quit()


def main() -> None:
    from service.testing.server import start_service, stop

    p = argparse.ArgumentParser(description="Screenshot of the playground with real models")
    p.add_argument("--models", type=Path, default=Path("models"))
    p.add_argument("--model", default="mnist")
    p.add_argument("--out", type=Path, default=Path("docs/playground.png"))
    p.add_argument("--label", type=int, help="sample 64 of this class (conditional models)")
    args = p.parse_args()
    proc, url = start_service(args.models.resolve())
    try:
        playground_screenshot(url, args.model, args.out, args.label)
    finally:
        stop(proc)
    print(args.out)


if __name__ == "__main__":
    main()
