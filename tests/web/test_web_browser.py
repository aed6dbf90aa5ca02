"""A real browser (Debian's Chromium, driven by Playwright) on the differential page."""

import json
import socket
import threading
import time
import zipfile
from contextlib import contextmanager
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


@contextmanager
def _serving(app):
    """Run `app` under uvicorn on a free loopback port; yield its base URL."""
    import uvicorn

    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        thread.join(10)
        app.state.calcdx.runner.shutdown(wait=True)
        app.state.calcdx.store.close()


@contextmanager
def _browser_tab():
    """A Chromium tab and the list its script and console errors go to."""
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
        try:
            yield tab, errors
        finally:
            context.close()
            browser.close()


@pytest.fixture
def server(tmp_path):
    from calcdx.web import WebSettings, create_app

    from .conftest import fake_analysis

    app = create_app(WebSettings(state_dir=tmp_path / "state"), run_analysis=fake_analysis)
    with _serving(app) as url:
        yield url


@pytest.fixture
def page(server):
    with _browser_tab() as (tab, errors):
        tab.goto(server + "/")
        yield tab
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


def _phantom_zip(folder: Path) -> Path:
    """A small phantom CT study as a zipped DICOM folder."""
    from calcdx.phantom import make_phantom, write_dicom_series

    phantom = make_phantom(shape=(96, 96, 48), spacing_mm=(1.6, 1.6, 4.0))
    files = write_dicom_series(phantom.volume, folder / "dicom")
    bundle = folder / "study.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        for path in files:
            archive.write(path, f"CT/{path.name}")
    return bundle


def _slice_shown(tab, k: int, window: str) -> None:
    """Wait until the viewer shows slice `k` in `window`, fully loaded."""
    tab.wait_for_function(
        """([k, w]) => {
            const v = document.querySelector('#slice-viewer');
            const img = document.querySelector('#slice-image');
            return v.dataset.slice === String(k) && v.dataset.window === w
                && img.src.endsWith(`/slices/${k}.png?window=${w}`)
                && img.complete && img.naturalWidth === 512;
        }""",
        arg=[k, window],
        timeout=10_000,
    )


def test_phantom_study_upload_to_result_page(tmp_path):
    """Upload a zipped DICOM phantom, watch it run, read the report, scroll the slices."""
    from calcdx.web import WebSettings, create_app

    bundle = _phantom_zip(tmp_path)
    app = create_app(WebSettings(state_dir=tmp_path / "state"))  # the real analysis
    with _serving(app) as url, _browser_tab() as (tab, errors):
        tab.goto(url + "/studies")
        tab.set_input_files("#study-file", str(bundle))
        tab.click("#study-form button[type=submit]")
        tab.wait_for_url(url + "/studies/*")
        assert tab.locator("#job-progress").is_visible()
        assert tab.inner_text("#job-status") in {"queued", "running", "done"}
        seen = set()
        deadline = time.monotonic() + 120
        while not tab.locator("#slice-viewer").count():
            assert time.monotonic() < deadline, "the analysis did not finish"
            if tab.locator("#job-progress").count():
                seen.add(tab.get_attribute("#job-progress", "value"))
            assert not tab.locator("p.error[role=alert]").count(), tab.inner_text("main")
            time.sleep(0.1)
        assert tab.inner_text("#job-status") == "done"
        assert len(seen) >= 2, seen  # the progress bar moved while the job ran

        assert "lesion(s) in" in tab.inner_text("main")
        tab.locator("#report-frame").scroll_into_view_if_needed()  # it loads lazily
        report = tab.frame_locator("#report-frame")
        report.locator("h1").first.wait_for(timeout=10_000)
        assert "Soft-tissue calcification on CT" in report.locator("h1").first.inner_text()

        viewer = tab.locator("#slice-viewer")
        start = int(viewer.get_attribute("data-slice"))
        _slice_shown(tab, start, "soft")
        viewer.focus()
        tab.keyboard.press("ArrowUp")
        _slice_shown(tab, start + 1, "soft")
        tab.keyboard.press("PageDown")
        _slice_shown(tab, start - 9, "soft")
        assert tab.inner_text("#slice-label") == f"{start - 8} / 48"
        tab.fill("#slice-range", str(start))
        _slice_shown(tab, start, "soft")
        tab.click("button[data-window=bone]")
        _slice_shown(tab, start, "bone")
        assert tab.get_attribute("button[data-window=bone]", "aria-pressed") == "true"
        tab.click("button[data-window=soft]")
        _slice_shown(tab, start, "soft")

        viewer.scroll_into_view_if_needed()
        shot = tmp_path / "study.png"
        tab.screenshot(path=str(shot), full_page=False)
        assert shot.stat().st_size > 10_000
        assert errors == [], errors  # no script or CSP errors
