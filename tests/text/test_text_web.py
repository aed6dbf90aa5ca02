"""POST /api/parse and the differential page's text box (real Chromium)."""

import socket
import threading
import time
import warnings
from pathlib import Path

import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from calcdx.web import WebSettings, create_app

CHROMIUM = Path("/usr/bin/chromium")
TEXT = (
    "A 34-year-old man was kicked in the thigh 3 weeks ago. A 4 cm peripherally calcified "
    "mass lies in vastus lateralis, separated from the femur by a lucent cleft; no "
    "periosteal reaction."
)


@pytest.fixture
def app(tmp_path):
    application = create_app(WebSettings(state_dir=tmp_path / "state"))
    yield application
    application.state.calcdx.runner.shutdown(wait=True)
    application.state.calcdx.store.close()


def test_parse_returns_the_case_and_the_words(app):
    answer = TestClient(app).post("/api/parse", json={"text": TEXT})
    assert answer.status_code == 200
    reading = answer.json()
    assert reading["format"] == "calcdx-reading/1"
    assert reading["case"]["imaging"]["region"] == "thigh"
    assert reading["case"]["imaging"]["associated_absent"] == ["periosteal_reaction"]
    for item in reading["fields"]:
        assert TEXT[item["start"] : item["end"]] == item["words"]
    ddx = TestClient(app).post("/api/ddx", json=reading["case"]).json()
    assert ddx["differential"][0]["entity"] == "myositis_ossificans"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"text": ""}, 422, "the text is empty"),
        ({"text": "Lovely weather and a late train."}, 422, "no finding understood"),
        ({"words": "thigh"}, 422, 'send {"text"'),
        ([1, 2], 422, 'send {"text"'),
    ],
)
def test_parse_refuses_what_it_cannot_read(app, body, status, message):
    answer = TestClient(app).post("/api/parse", json=body)
    assert answer.status_code == status
    assert message in answer.json()["detail"]


def test_parse_refuses_a_body_that_is_not_json(app):
    answer = TestClient(app).post("/api/parse", content=b"thigh calcification")
    assert answer.status_code == 400


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed")
def test_text_box_fills_the_form_and_the_differential_changes(app, tmp_path):
    import uvicorn

    playwright_api = pytest.importorskip("playwright.sync_api")
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        with playwright_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
            )
            tab = browser.new_page(viewport={"width": 1440, "height": 900})
            errors: list[str] = []
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            tab.goto(f"http://127.0.0.1:{port}/")
            first = tab.inner_text("#ranked > li:first-child .head a")
            renders = int(tab.eval_on_selector("#differential", "e => +(e.dataset.renders||0)"))

            tab.fill("#case-text", TEXT)
            tab.click("#read-text")
            tab.wait_for_function(
                "(n) => +(document.querySelector('#differential').dataset.renders||0) > n",
                arg=renders,
                timeout=10_000,
            )
            assert tab.input_value("#f-imaging-region") == "thigh"
            assert tab.input_value("#f-patient-age_years") == "34"
            assert tab.is_checked(
                'input[name="imaging.associated:periosteal_reaction"][value="absent"]'
            )
            marked = tab.locator(".from-text")
            assert marked.count() >= 8
            region = tab.locator(".field:has(#f-imaging-region)")
            assert region.get_attribute("data-from-text") == "vastus lateralis"
            assert "Read " in tab.inner_text("#text-status")
            top = tab.inner_text("#ranked > li:first-child .head a")
            assert top == "Myositis ossificans (post-traumatic)" and top != first
            assert tab.input_value("#case-text") == TEXT  # the text stays for editing

            # the filled controls stay editable: a change clears the mark and re-ranks
            renders = int(tab.eval_on_selector("#differential", "e => +(e.dataset.renders||0)"))
            tab.select_option("#f-imaging-region", "hand_fingers")
            tab.wait_for_function(
                "(n) => +(document.querySelector('#differential').dataset.renders||0) > n",
                arg=renders,
                timeout=10_000,
            )
            assert region.get_attribute("class").split() == ["field"]
            assert errors == [], errors
            browser.close()
    finally:
        server.should_exit = True
        thread.join(10)
