"""The playground and /docs in a real headless Chromium, against the real service on loopback.

Debian's chromium + chromium-driver with selenium; .ci/run installs them. Locally a missing
browser skips this module; in CI (CI=true) it fails. One browser for the module. Each test
saves screenshots to $ALI_SCREENSHOT_DIR (default: a pytest temporary folder) as artifacts.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.testing.browser import (
    SEVEN,
    TWO,
    console_errors,
    draw,
    find_chromium,
    image_loaded,
    requested_urls,
    set_viewport,
    start_browser,
    wait,
    wait_panel,
)
from service.testing.server import running_service
from service.testing.tiny_models import make_tiny_model

if find_chromium() is None:
    if os.environ.get("CI"):
        pytest.fail("chromium/chromedriver missing; .ci/run should install them", pytrace=False)
    pytest.skip(
        "chromium and chromedriver are not installed (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )

from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver import Chrome  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

# The pixels of an <img>, to compare two images in the page.
PIXELS = """
const img = arguments[0], c = document.createElement('canvas');
[c.width, c.height] = [img.naturalWidth, img.naturalHeight];
c.getContext('2d').drawImage(img, 0, 0);
return c.toDataURL();
"""


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("ui-models")
    make_tiny_model(root, "tiny")
    make_tiny_model(root, "tiny-cond", conditional=True, seed=1)
    with running_service(root, default_model="tiny") as url:
        yield url


@pytest.fixture(scope="module")
def driver() -> Iterator[Chrome]:
    d = start_browser()
    try:
        yield d
    finally:
        d.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = os.environ.get("ALI_SCREENSHOT_DIR")
    out = Path(env) if env else tmp_path_factory.mktemp("screenshots")
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture()
def page(driver: Chrome, base_url: str) -> Chrome:
    """The playground freshly loaded with its first sample grid; the browser's logs emptied."""
    console_errors(driver)
    requested_urls(driver)
    driver.get(f"{base_url}/")
    assert wait_panel(driver, "model-panel") == "done"
    assert wait_panel(driver, "sample-panel") == "done"
    return driver


def off_host(urls: list[str], base_url: str) -> list[str]:
    return [u for u in urls if not u.startswith((f"{base_url}/", "data:", "blob:"))]


def test_page_loads_without_console_errors(page: Chrome, base_url: str, shots: Path) -> None:
    assert page.title == "ALI playground"
    hrefs = [a.get_attribute("href") for a in page.find_elements(By.CSS_SELECTOR, "nav a")]
    assert f"{base_url}/docs" in hrefs and f"{base_url}/metrics" in hrefs
    options = [o.text for o in Select(page.find_element(By.ID, "model")).options]
    assert options == ["tiny", "tiny-cond"]
    info = page.find_element(By.ID, "model-info").text
    assert "latent size\n4" in info and "conditional\nno" in info and "1×8×8" in info
    assert page.find_element(By.ID, "sampler-field").is_displayed()  # read from /openapi.json
    samplers = Select(page.find_element(By.ID, "sample-sampler"))
    assert [o.text for o in samplers.options] == ["ancestral", "drs", "gibbs", "drs+gibbs"]
    assert samplers.first_selected_option.text == "ancestral"
    assert not page.find_element(By.CSS_SELECTOR, "#sample-panel .cond").is_displayed()
    page.save_screenshot(str(shots / "page.png"))
    urls = requested_urls(page)
    assert f"{base_url}/favicon.ico" in urls
    assert off_host(urls, base_url) == []
    assert console_errors(page) == []  # a 404 (favicon) or a script error would be here
    page.get(f"{base_url}/playground")
    assert wait_panel(page, "sample-panel") == "done"
    assert console_errors(page) == []


def test_sample_grid_decodes_and_changes_with_the_seed(page: Chrome, shots: Path) -> None:
    grid = page.find_element(By.ID, "sample-grid")
    assert image_loaded(page, grid)
    # 25 tiles of 8x8 with 2-pixel gaps: 5 * 10 + 2
    assert page.execute_script("return arguments[0].naturalWidth", grid) == 52
    first = page.execute_script(PIXELS, grid)
    seed = page.find_element(By.ID, "sample-seed")
    seed.clear()
    seed.send_keys("1")
    page.find_element(By.CSS_SELECTOR, "#sample-form button[type=submit]").click()
    assert wait_panel(page, "sample-panel") == "done"
    assert image_loaded(page, grid) and page.execute_script(PIXELS, grid) != first
    page.find_element(By.ID, "sample-panel").screenshot(str(shots / "sample.png"))
    seed.clear()
    seed.send_keys("0")
    page.find_element(By.CSS_SELECTOR, "#sample-form button[type=submit]").click()
    assert wait_panel(page, "sample-panel") == "done"
    assert page.execute_script(PIXELS, grid) == first  # a seed always gives the same grid


def test_each_sampler_gives_its_own_grid(page: Chrome, shots: Path) -> None:
    grid = page.find_element(By.ID, "sample-grid")
    assert image_loaded(page, grid)
    ancestral = page.execute_script(PIXELS, grid)
    choice = Select(page.find_element(By.ID, "sample-sampler"))
    seen = {ancestral}
    for name in ("drs", "gibbs", "drs+gibbs"):  # "+" must reach the API encoded
        choice.select_by_visible_text(name)
        page.find_element(By.CSS_SELECTOR, "#sample-form button[type=submit]").click()
        assert wait_panel(page, "sample-panel") == "done", name
        assert image_loaded(page, grid)
        seen.add(page.execute_script(PIXELS, grid))
    page.find_element(By.ID, "sample-panel").screenshot(str(shots / "sample-drs-gibbs.png"))
    assert len(seen) == 4
    choice.select_by_visible_text("ancestral")
    page.find_element(By.CSS_SELECTOR, "#sample-form button[type=submit]").click()
    assert wait_panel(page, "sample-panel") == "done"
    assert page.execute_script(PIXELS, grid) == ancestral


def test_draw_and_reconstruct(page: Chrome, shots: Path) -> None:
    draw(page, TWO)
    page.find_element(By.ID, "reconstruct").click()
    assert wait_panel(page, "draw-panel") == "done"
    recon, sent = page.find_element(By.ID, "recon"), page.find_element(By.ID, "draw-input")
    assert image_loaded(page, recon) and image_loaded(page, sent)
    # The drawing went out at the model's size (8x8 here), not the pad's 280x280.
    assert page.execute_script("return arguments[0].naturalWidth", sent) == 8
    drawn = page.execute_script(PIXELS, sent)
    page.find_element(By.ID, "pad-clear").click()
    page.find_element(By.ID, "reconstruct").click()
    assert wait_panel(page, "draw-panel") == "done"
    assert page.execute_script(PIXELS, sent) != drawn  # strokes reached the model input
    draw(page, TWO)
    page.find_element(By.ID, "reconstruct").click()
    assert wait_panel(page, "draw-panel") == "done"
    score = page.find_element(By.ID, "score").text
    assert "discriminator logit" in score and "reconstruction error" in score
    page.find_element(By.ID, "draw-panel").screenshot(str(shots / "draw.png"))
    assert console_errors(page) == []


def test_conditional_model_shows_the_class_used(page: Chrome, shots: Path) -> None:
    Select(page.find_element(By.ID, "model")).select_by_value("tiny-cond")
    assert wait_panel(page, "sample-panel") == "done"
    assert "conditional\nyes (10 classes)" in page.find_element(By.ID, "model-info").text
    classes = Select(page.find_element(By.ID, "sample-label"))
    assert [o.text for o in classes.options][:3] == ["random", "0", "1"]
    classes.select_by_value("3")
    page.find_element(By.CSS_SELECTOR, "#sample-form button[type=submit]").click()
    assert wait_panel(page, "sample-panel") == "done"
    draw(page, SEVEN)
    Select(page.find_element(By.ID, "draw-label")).select_by_value("7")
    page.find_element(By.ID, "reconstruct").click()
    assert wait_panel(page, "draw-panel") == "done", page.find_element(By.ID, "draw-error").text
    assert "class used\n7" in page.find_element(By.ID, "score").text
    page.save_screenshot(str(shots / "conditional.png"))
    assert console_errors(page) == []


def test_interpolation_strip_shows_steps_images(page: Chrome, shots: Path) -> None:
    steps = page.find_element(By.ID, "steps")
    steps.clear()
    steps.send_keys("5")
    page.find_element(By.CSS_SELECTOR, "#interp-form button[type=submit]").click()
    assert wait_panel(page, "interp-panel") == "done"
    strip = page.find_elements(By.CSS_SELECTOR, "#strip img")
    assert len(strip) == 5 and all(image_loaded(page, i) for i in strip)
    slider = page.find_element(By.ID, "slider")
    assert slider.is_displayed() and slider.get_attribute("max") == "4"
    page.execute_script(
        "arguments[0].value = 3; arguments[0].dispatchEvent(new Event('input'))", slider
    )
    assert "picked" in (strip[3].get_attribute("class") or "")
    big = page.find_element(By.ID, "interp-big")
    assert big.get_attribute("src") == strip[3].get_attribute("src")

    # Between two drawings, with slerp.
    for strokes, end in ((TWO, "use-a"), (SEVEN, "use-b")):
        page.find_element(By.ID, "pad-clear").click()
        draw(page, strokes)
        page.find_element(By.ID, end).click()
        assert wait_panel(page, "draw-panel") == "done"
    assert page.find_element(By.CSS_SELECTOR, "input[value=images]").is_selected()
    Select(page.find_element(By.ID, "method")).select_by_value("slerp")
    steps.clear()
    steps.send_keys("7")
    page.find_element(By.CSS_SELECTOR, "#interp-form button[type=submit]").click()
    assert wait_panel(page, "interp-panel") == "done", page.find_element(By.ID, "interp-error").text
    strip = page.find_elements(By.CSS_SELECTOR, "#strip img")
    assert len(strip) == 7 and all(image_loaded(page, i) for i in strip)
    page.find_element(By.ID, "interp-panel").screenshot(str(shots / "interpolate.png"))
    assert console_errors(page) == []


def test_api_errors_are_shown_as_text(page: Chrome, tmp_path: Path, shots: Path) -> None:
    not_an_image = tmp_path / "notes.txt"
    not_an_image.write_text("this is not an image\n")
    page.find_element(By.ID, "upload").send_keys(str(not_an_image))
    assert wait_panel(page, "draw-panel") == "error"
    error = page.find_element(By.ID, "draw-error")
    assert error.is_displayed() and "is not a decodable image" in error.text
    assert page.find_element(By.ID, "recon").get_attribute("src") is None  # no stale image

    for field, value, form, panel, expected in (
        ("sample-n", "100000", "sample", "sample", "n=100000 is above the maximum of 256"),
        ("steps", "1", "interp", "interp", "steps=1 must be between 2 and 64"),
    ):
        box = page.find_element(By.ID, field)
        box.clear()
        box.send_keys(value)
        page.find_element(By.CSS_SELECTOR, f"#{form}-form button[type=submit]").click()
        assert wait_panel(page, f"{panel}-panel") == "error"
        assert expected in by_id_text(page, f"{panel}-error")
    page.save_screenshot(str(shots / "errors.png"))
    # The browser logs the error responses themselves; nothing else (no script error).
    assert all("the server responded with a status of" in m for m in console_errors(page))


def by_id_text(d: Chrome, id_: str) -> str:
    el = d.find_element(By.ID, id_)
    assert el.is_displayed()
    return str(el.text)


def test_phone_width(page: Chrome, shots: Path) -> None:
    set_viewport(page, 390, 844, mobile=True)
    try:
        page.refresh()
        assert wait_panel(page, "sample-panel") == "done"
        width = page.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone: {width}px wide"
        pad = page.find_element(By.ID, "pad")
        assert pad.size["width"] <= 390 and pad.value_of_css_property("touch-action") == "none"
        page.save_screenshot(str(shots / "phone.png"))
    finally:
        page.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_sampler_choice_appears_when_the_api_offers_one(page: Chrome) -> None:
    """The page reads the sampler choices from /openapi.json, whichever way the enum is written."""
    choices = page.execute_script(
        """
        const f = window.playground.samplerChoices, param = (schema) => ({paths: {'/sample': {get:
          {parameters: [{name: 'n', schema: {}}, {name: 'sampler', in: 'query', schema}]}}},
          components: {schemas: {Sampler: {enum: ['ancestral', 'drs', 'gibbs', 'drs+gibbs']}}}});
        return [
          f(param({type: 'string', enum: ['ancestral', 'drs'], default: 'drs'})),
          f(param({anyOf: [{$ref: '#/components/schemas/Sampler'}, {type: 'null'}]})),
          f(param({type: 'string'})),
          f(param({type: 'string', enum: ['ancestral']})),
          f({paths: {'/sample': {get: {parameters: [{name: 'n'}]}}}}),
          f(null),
        ];
        """
    )
    assert choices == [
        {"values": ["ancestral", "drs"], "default": "drs"},
        {"values": ["ancestral", "drs", "gibbs", "drs+gibbs"], "default": "ancestral"},
        None,
        None,
        None,
        None,
    ]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_render_offline(driver: Chrome, base_url: str, shots: Path, path: str) -> None:
    console_errors(driver)
    requested_urls(driver)
    driver.get(f"{base_url}{path}")
    if path == "/docs":
        # Swagger UI's operations: one .opblock per endpoint in the schema.
        wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= 8, 30)
    else:
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-section-id]"), 30)
        assert "/interpolate" in driver.find_element(By.TAG_NAME, "body").text
    driver.save_screenshot(str(shots / f"{path.strip('/')}.png"))
    urls = requested_urls(driver)
    assert f"{base_url}/openapi.json" in urls
    assert off_host(urls, base_url) == []  # no request left the machine
    assert console_errors(driver) == []


# Every Content-Security-Policy violation in a page, from its first script on (the listener is
# installed before the page's own scripts run).
CSP_LISTENER = """
window.cspViolations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


@pytest.fixture()
def csp_watch(driver: Chrome) -> Iterator[Chrome]:
    """The browser with CSP_LISTENER in each page it loads, for one test."""
    added = driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": CSP_LISTENER}
    )
    try:
        yield driver
    finally:
        driver.execute_cdp_cmd(
            "Page.removeScriptToEvaluateOnNewDocument", {"identifier": added["identifier"]}
        )


def use_page(d: Chrome, path: str) -> None:
    """What each page does that needs a source in its policy, and checks that it rendered."""
    if path == "/":  # the sample grid is a blob: image, the interpolation strip data: images
        assert wait_panel(d, "sample-panel") == "done"
        assert Select(d.find_element(By.ID, "model")).options and d.find_element(By.ID, "pad")
        assert image_loaded(d, d.find_element(By.ID, "sample-grid"))
        d.find_element(By.CSS_SELECTOR, "#interp-form button[type=submit]").click()
        assert wait_panel(d, "interp-panel") == "done"
        assert all(image_loaded(d, i) for i in d.find_elements(By.CSS_SELECTOR, "#strip img"))
    elif path == "/docs":  # started by swagger-init.js; "Try it out" shows a PNG as a blob:
        wait(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".swagger-ui .opblock")) >= 8, 30)
        d.find_element(By.CSS_SELECTOR, ".opblock-summary-path[data-path='/sample']").click()
        wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, ".try-out__btn"), 5, "Try it out")
        d.find_element(By.CSS_SELECTOR, ".try-out__btn").click()
        d.find_element(By.CSS_SELECTOR, ".btn.execute").click()
        answer = ".live-responses-table img"
        img = wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, answer), 20, "an answer")[0]
        wait(d, lambda d: image_loaded(d, img), 10, "the answer's image")
    else:  # styled-components' <style> elements, the search worker from a blob:, data: SVGs
        wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-section-id]"), 30, "sections")
        assert d.title == "ALI service - ReDoc"
        assert d.find_element(By.CSS_SELECTOR, "h1").text.startswith("ALI service")
        d.find_element(By.CSS_SELECTOR, "input[placeholder='Search...']").send_keys("sample")
        results = "[data-role='search:results'] li"
        wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, results), 10, "search results")


@pytest.mark.parametrize("path", ["/", "/docs", "/redoc"])
def test_pages_pass_their_content_security_policy(
    csp_watch: Chrome, base_url: str, shots: Path, path: str
) -> None:
    """Each page renders and does what needs a source in its policy (service/security_headers.py,
    service/routers/docs.py) with no violation, in the console or to a listener."""
    d = csp_watch
    console_errors(d)
    d.get(f"{base_url}{path}")
    try:
        use_page(d, path)
    except (AssertionError, TimeoutException) as e:
        violations = d.execute_script("return window.cspViolations")
        pytest.fail(f"{path} did not work ({e!r}); CSP violations: {violations}", pytrace=False)
    finally:
        d.save_screenshot(str(shots / f"csp-{path.strip('/') or 'playground'}.png"))
    assert d.execute_script("return window.cspViolations") == []
    assert [m for m in console_errors(d) if "Content Security Policy" in m] == []

    # The policy is in force and both checks see a violation: an injected inline script is refused.
    d.execute_script(
        "const s = document.createElement('script'); s.textContent = 'window.ran = 1';"
        "document.body.append(s);"
    )
    wait(d, lambda d: d.execute_script("return window.cspViolations.length"), 5, "a violation")
    assert d.execute_script("return window.ran") is None
    assert d.execute_script("return window.cspViolations")[0].startswith("script-src")
    assert any("Content Security Policy" in m for m in console_errors(d))


# ---- a server that asks for a key ----------------------------------------------------------------
def test_the_page_asks_for_a_key_and_works_with_one(
    driver: Chrome, tmp_path: Path, shots: Path
) -> None:
    make_tiny_model(tmp_path, "tiny")
    key = "playground-test-key"
    digest = hashlib.sha256(key.encode()).hexdigest()
    (tmp_path / "keys.txt").write_text(f"browser infer,read {digest}\n")
    with running_service(tmp_path, api_keys_file=tmp_path / "keys.txt") as url:
        driver.get(f"{url}/")
        driver.execute_script("sessionStorage.clear()")
        driver.get(f"{url}/")
        assert wait_panel(driver, "model-panel") == "error"
        assert "needs an API key" in by_id_text(driver, "model-error")
        form = driver.find_element(By.ID, "key-form")
        assert form.is_displayed()
        driver.save_screenshot(str(shots / "key-asked.png"))
        driver.find_element(By.ID, "api-key").send_keys(key)
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        assert wait_panel(driver, "model-panel") == "done"
        assert wait_panel(driver, "sample-panel") == "done"
        assert image_loaded(driver, driver.find_element(By.ID, "sample-grid"))
        assert not driver.find_element(By.ID, "key-form").is_displayed()
        driver.save_screenshot(str(shots / "key-used.png"))
        driver.execute_script("sessionStorage.clear()")
