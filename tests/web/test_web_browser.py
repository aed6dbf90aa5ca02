"""A real browser (Debian's Chromium, driven by Playwright) on the differential page."""

import json
import socket
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed (/usr/bin/chromium); apt-get install chromium",
    ),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(tmp_path):
    import uvicorn

    from calcdx.web import WebSettings, create_app

    from .conftest import fake_analysis

    app = create_app(WebSettings(state_dir=tmp_path / "state"), run_analysis=fake_analysis)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(10)
    app.state.calcdx.runner.shutdown(wait=True)
    app.state.calcdx.store.close()


@pytest.fixture
def page(server):
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=ARGS, headless=True
        )
        context = browser.new_context(
            viewport={"width": 1440, "height": 900}, accept_downloads=True
        )
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        tab.goto(server + "/")
        yield tab
        context.close()
        browser.close()
        expected = "status of 422"  # the invalid case uploaded on purpose
        assert [e for e in errors if expected not in e] == [], errors  # no script or CSP errors


def _renders(page) -> int:
    return int(page.eval_on_selector("#differential", "el => Number(el.dataset.renders || 0)"))


def _wait_render(page, before: int) -> None:
    page.wait_for_function(
        "(n) => Number(document.querySelector('#differential').dataset.renders || 0) > n",
        arg=before,
        timeout=10_000,
    )


def _top(page) -> str:
    return page.inner_text("#ranked > li:first-child .head a")


def test_form_drives_the_differential(page, tmp_path):
    assert page.title() == "Differential · calcdx"
    first = _top(page)

    before = _renders(page)
    page.select_option("#f-imaging-region", "thigh")
    _wait_render(page, before)
    before = _renders(page)
    page.check('input[name="imaging.pattern"][value="zonal_peripheral"]')
    _wait_render(page, before)
    assert _top(page) == "Myositis ossificans (post-traumatic)"
    assert _top(page) != first
    assert page.locator("#differential meter").count() >= 10

    button = page.locator("button.add-finding:not(.secondary)").first
    name, value = button.get_attribute("data-name"), button.get_attribute("data-value")
    label = button.inner_text()
    before = _renders(page)
    button.click()
    _wait_render(page, before)
    case = page.evaluate("window.calcdx.formToCase()")
    assert case["imaging"]["region"] == "thigh"
    assert case["imaging"]["pattern"] == ["zonal_peripheral"]
    control = page.locator(f'[name="{name}"]')
    if control.first.get_attribute("type") in {"radio", "checkbox"}:
        assert page.locator(f'[name="{name}"][value="{value}"]').is_checked()
    else:
        assert control.input_value() == value
    assert label not in page.inner_text(".suggestions")  # the suggestion was taken up
    assert "Added" in page.inner_text("#form-status")

    page.screenshot(path=str(tmp_path / "differential.png"), full_page=False)
    assert (tmp_path / "differential.png").stat().st_size > 10_000


def test_case_download_and_upload(page, tmp_path):
    before = _renders(page)
    page.select_option("#f-imaging-region", "hand_fingers")
    page.fill("#f-patient-age_years", "52")
    page.click("#s-history > summary")  # closed sections open like any <details>
    page.click("#s-labs > summary")
    page.check('input[name="clinical:systemic_sclerosis"][value="present"]')
    page.check('input[name="labs.calcium"][value="normal"]')
    _wait_render(page, before)
    with page.expect_download() as info:
        page.click("#download-case")
    saved = tmp_path / "case.json"
    info.value.save_as(saved)
    case = json.loads(saved.read_text())
    assert case == {
        "format": "calcdx-case/1",
        "patient": {"age_years": 52},
        "clinical": ["systemic_sclerosis"],
        "labs": {"calcium": "normal"},
        "imaging": {"region": "hand_fingers"},
    }

    upload = tmp_path / "upload.json"
    upload.write_text(
        json.dumps(
            {
                "format": "calcdx-case/1",
                "imaging": {"region": "thigh", "associated_absent": ["cleft_from_bone"]},
                "clinical_absent": ["trauma_recent"],
            }
        )
    )
    page.set_input_files("#upload-case", str(upload))
    page.wait_for_function(
        "() => document.querySelector('#form-status').textContent.startsWith('Loaded')"
    )
    assert page.input_value("#f-imaging-region") == "thigh"
    assert page.is_checked('input[name="imaging.associated:cleft_from_bone"][value="absent"]')
    assert page.is_checked('input[name="clinical:trauma_recent"][value="absent"]')
    assert page.input_value("#f-patient-age_years") == ""

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "calcdx-case/1", "imaging": {"pattern": ["zonal"]}}))
    page.set_input_files("#upload-case", str(bad))
    page.wait_for_function(
        "() => document.querySelector('#form-status').textContent.includes('not loaded')"
    )
    assert "'zonal' is not an allowed value" in page.inner_text("#form-status")


def test_keyboard_reaches_the_form(page):
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.focus("#f-imaging-region")
    before = _renders(page)
    page.keyboard.press("ArrowDown")  # select the first region with the keyboard
    _wait_render(page, before)
    assert page.input_value("#f-imaging-region") == "head_face"
