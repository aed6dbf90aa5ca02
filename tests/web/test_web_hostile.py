"""Hostile requests get a clear 4xx, never a 500, and the server keeps answering."""

import io
import zipfile
from pathlib import Path

import pytest

from calcdx.errors import CalcdxError
from calcdx.web import WebSettings

from .conftest import CASE, TOKEN, dicom_bytes

BAD_INPUTS = Path(__file__).parents[1] / "data" / "bad_inputs"
ORIGIN = "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"[" * 2000 + b"]" * 2000, 400, "nested deeper than 32 levels"),
        (b"{" * 100_000, 400, "nested deeper"),
        (
            b'{"format": "calcdx-case/1", "patient": {"age_years": ' + b"7" * 5000 + b"}}",
            400,
            "5000 characters",
        ),
        (b'{"format": "calcdx-case/1", "patient": {"age_years": NaN}}', 400, "NaN"),
        (b'{"format": "calcdx-case/1", "patient": {"age_years": true}}', 422, "age_years"),
        (b"\xff\xfe{}", 400, "not UTF-8"),
    ],
)
def test_ddx_refuses_hostile_json_with_4xx(client, body, status, words):
    headers = {"content-type": "application/json"}
    response = client.post("/api/ddx", content=body, headers=headers)
    assert response.status_code == status
    assert words in response.json()["detail"]
    fragment = client.post("/ui/differential", content=body, headers=headers)
    assert fragment.status_code == 422 and words in fragment.text
    assert client.post("/api/ddx", json=CASE).status_code == 200  # still serving


@pytest.mark.parametrize("path", sorted(BAD_INPUTS.glob("case_*.json")), ids=lambda p: p.name)
def test_every_corpus_case_is_4xx(client, path):
    response = client.post("/api/ddx", content=path.read_bytes())
    assert response.status_code in {400, 422}
    detail = response.json()["detail"]
    assert "\n" not in detail and "Traceback" not in detail


def test_cross_site_post_is_refused(client):
    evil = {"origin": "http://evil.example"}
    assert client.post("/api/ddx", json=CASE, headers=evil).status_code == 403
    upload = {"file": ("a.dcm", dicom_bytes(), "application/octet-stream")}
    response = client.post("/api/studies", files=upload, headers=evil)
    assert response.status_code == 403 and "cross-site" in response.json()["detail"]
    assert client.post("/api/ddx", json=CASE, headers={"origin": "null"}).status_code == 403
    fetch = {"sec-fetch-site": "cross-site"}
    assert client.post("/api/ddx", json=CASE, headers=fetch).status_code == 403


def test_same_origin_and_non_browser_posts_pass(client):
    assert client.post("/api/ddx", json=CASE, headers={"origin": ORIGIN}).status_code == 200
    same = {"sec-fetch-site": "same-origin"}
    assert client.post("/api/ddx", json=CASE, headers=same).status_code == 200
    assert client.post("/api/ddx", json=CASE).status_code == 200  # curl sends no Origin


def test_cross_site_get_is_still_served(client):
    assert client.get("/api/kb", headers={"origin": "http://evil.example"}).status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example"])
def test_dns_rebinding_host_is_refused(client, host):
    response = client.get("/api/kb", headers={"host": host})
    assert response.status_code == 421
    assert "host name" in response.json()["detail"]


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "[::1]:8000", "localhost"])
def test_loopback_host_names_pass(client, host):
    assert client.get("/api/kb", headers={"host": host}).status_code == 200


def test_allowed_host_is_added(make_app):
    client = make_app(allowed_hosts=("calcdx.lan",))
    assert client.get("/api/kb", headers={"host": "calcdx.lan:8000"}).status_code == 200
    assert client.get("/api/kb", headers={"host": "evil.example"}).status_code == 421


def test_nosniff_on_json_pages_and_static(client):
    for response in (
        client.post("/api/ddx", json=CASE),
        client.post("/api/ddx", content=b"{"),
        client.get("/api/kb"),
        client.get("/"),
        client.get("/static/calcdx.js"),
        client.get("/api/jobs/nope"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff", response.url


@pytest.mark.parametrize("token", ["x", "t0ken", "fifteen-chars!!"])
def test_short_tokens_are_refused(tmp_path, token):
    with pytest.raises(CalcdxError, match="at least 16"):
        WebSettings(host="0.0.0.0", token=token, state_dir=tmp_path)


@pytest.mark.parametrize("path", ["//evil.example/kb", "/\\evil.example/kb", "///evil.example"])
def test_token_redirect_stays_on_this_site(make_app, path):
    client = make_app(host="0.0.0.0", token=TOKEN)
    response = client.get(path, params={"token": TOKEN}, follow_redirects=False)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\"))


def _zip_with_raw_name(name: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("PLACEHOLDER.dcm", dicom_bytes())
    data = buffer.getvalue()
    assert len(name) == len(b"PLACEHOLDER.dcm")
    return data.replace(b"PLACEHOLDER.dcm", name)


def test_zip_member_named_with_nul_is_4xx(client):
    bundle = _zip_with_raw_name(b"evil\x00../x.dcm..")
    upload = {"file": ("s.zip", bundle, "application/zip")}
    response = client.post("/api/studies", files=upload)
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]
