import pytest

from calcdx.errors import CalcdxError
from calcdx.web import WebSettings
from calcdx.web.security import TOKEN_COOKIE
from calcdx.web.serve import serve_command
from calcdx.web.settings import is_loopback

from .conftest import CASE, TOKEN


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_hosts(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.org", ""])
def test_other_hosts(host):
    assert not is_loopback(host)


def test_non_loopback_without_token_is_refused(tmp_path):
    with pytest.raises(CalcdxError, match="give a token"):
        WebSettings(host="0.0.0.0", state_dir=tmp_path)


def test_serve_refuses_non_loopback_without_token(monkeypatch, tmp_path):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("must not start"))
    with pytest.raises(CalcdxError, match="give a token"):
        serve_command(host="0.0.0.0", port=8000, state_dir=tmp_path)


def test_serve_runs_uvicorn_on_loopback(monkeypatch, tmp_path):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    serve_command(port=8123, state_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/x.db")
    assert calls == [{"host": "127.0.0.1", "port": 8123, "access_log": False, "log_level": "info"}]


PROTECTED = [
    ("get", "/"),
    ("get", "/kb"),
    ("get", "/kb/myositis_ossificans"),
    ("get", "/studies"),
    ("get", "/static/calcdx.js"),
    ("get", "/openapi.json"),
    ("get", "/api/kb"),
    ("get", "/api/kb/myositis_ossificans"),
    ("get", "/api/jobs/x"),
    ("get", "/api/studies/x/result"),
    ("get", "/api/studies/x/slices/0.png"),
    ("get", "/studies/x/report.html"),
    ("post", "/api/ddx"),
    ("post", "/api/studies"),
    ("post", "/ui/differential"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_missing_token_is_401_on_every_route(make_app, method, path):
    client = make_app(host="0.0.0.0", token=TOKEN)
    response = client.request(method, path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "token" in response.json()["detail"]


def test_wrong_token_is_401(make_app):
    client = make_app(host="0.0.0.0", token=TOKEN)
    headers = {"Authorization": "Bearer wrong"}
    assert client.post("/api/ddx", json=CASE, headers=headers).status_code == 401
    assert client.get("/", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401


def test_bearer_token_opens_api_and_pages(make_app):
    client = make_app(host="0.0.0.0", token=TOKEN)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert client.post("/api/ddx", json=CASE, headers=headers).status_code == 200
    assert client.get("/", headers=headers).status_code == 200


def test_token_in_address_sets_a_cookie_and_is_removed(make_app):
    client = make_app(host="0.0.0.0", token=TOKEN)
    response = client.get("/kb", params={"token": TOKEN, "q": "gout"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/kb?q=gout"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{TOKEN_COOKIE}=") and "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    # the client keeps the cookie: later requests (pages and fetches) pass
    assert client.get("/kb", params={"q": "gout"}).status_code == 200
    assert client.post("/api/ddx", json=CASE).status_code == 200


def test_wrong_token_in_address_is_401(make_app):
    client = make_app(host="0.0.0.0", token=TOKEN)
    assert client.get("/", params={"token": "nope"}).status_code == 401


def test_token_also_guards_loopback_when_given(make_app):
    client = make_app(token=TOKEN)
    assert client.get("/api/kb").status_code == 401
