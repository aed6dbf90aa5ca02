"""ASGI middleware: bearer token on every request, and request body size limits.

Both are plain ASGI middleware (no per-request task switching), so they cost
microseconds on the ``POST /api/ddx`` hot path.
"""

from __future__ import annotations

import json
import secrets
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlencode

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "MIN_TOKEN_CHARS",
    "TOKEN_COOKIE",
    "BodyLimitMiddleware",
    "OriginMiddleware",
    "TokenMiddleware",
    "loopback_host_names",
    "token_matches",
]

#: Cookie that carries the token for browsers, set after ``?token=...`` on a page.
TOKEN_COOKIE = "calcdx_token"

#: Largest body of a request that is not an upload (a case is a few kB).
SMALL_BODY_BYTES = 1024 * 1024

#: Shortest token accepted (a guessable token is no protection).
MIN_TOKEN_CHARS = 16

#: Methods that change state: their requests must come from the app's own pages.
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def loopback_host_names() -> frozenset[str]:
    """Host names (without port) a browser uses to reach a loopback server."""
    return frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


def _host_name(value: str) -> str:
    """The host part of a ``Host`` header or an origin's netloc, lower case, without port."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[: value.find("]") + 1] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def token_matches(given: str | None, expected: str) -> bool:
    """Compare a presented token with the expected one in constant time."""
    if given is None:
        return False
    return secrets.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


async def _send_json(
    send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]]
) -> None:
    body = json.dumps({"detail": detail}).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class TokenMiddleware:
    """Require the bearer token on every HTTP request (pages, API, static files).

    The token is accepted from ``Authorization: Bearer <token>``, from the
    ``calcdx_token`` cookie, or once from ``?token=<token>`` on a GET request,
    which sets the cookie (HttpOnly, SameSite=Strict) and redirects to the same
    address without the token, so it does not stay in the address bar or history.

    Parameters
    ----------
    app : ASGIApp
        The wrapped application.
    token : str
        The expected token.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass authorised requests on; answer the others 401."""
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        if token_matches(self._bearer(scope), self.token) or token_matches(
            self._cookie(scope), self.token
        ):
            await self.app(scope, receive, send)
            return
        query = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"))
        offered = query.pop("token", [None])[0]
        is_get = scope["type"] == "http" and scope["method"] == "GET"
        if is_get and token_matches(offered, self.token):
            rest = urlencode(query, doseq=True)
            # one leading slash: "//evil.example/x" would be a redirect to another site
            location = "/" + str(scope["path"]).lstrip("/\\") + (f"?{rest}" if rest else "")
            cookie = f"{TOKEN_COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
            if scope.get("scheme") == "https":
                cookie += "; Secure"  # never sent back over plain HTTP
            await send(
                {
                    "type": "http.response.start",
                    "status": 303,
                    "headers": [
                        (b"location", location.encode("latin-1")),
                        (b"set-cookie", cookie.encode("latin-1")),
                        (b"content-length", b"0"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await _send_json(
            send,
            401,
            "missing or wrong token: send 'Authorization: Bearer <token>' "
            "(browsers: open any page once with ?token=<token>)",
            [(b"www-authenticate", b'Bearer realm="calcdx"')],
        )

    @staticmethod
    def _bearer(scope: Scope) -> str | None:
        value = _header(scope, b"authorization")
        if value is None:
            return None
        scheme, _, credentials = value.partition(" ")
        return credentials.strip() if scheme.lower() == "bearer" else None

    @staticmethod
    def _cookie(scope: Scope) -> str | None:
        value = _header(scope, b"cookie")
        if value is None:
            return None
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(value)
        except Exception:  # a malformed cookie header is just no token
            return None
        morsel = jar.get(TOKEN_COOKIE)
        return morsel.value if morsel is not None else None


class _TooLarge(HTTPException):
    """Raised from ``receive`` when a body grows past its limit (FastAPI answers 413)."""


class BodyLimitMiddleware:
    """Answer 413 to request bodies over their limit, declared or streamed.

    Parameters
    ----------
    app : ASGIApp
        The wrapped application.
    upload_limit : int
        Limit for paths under `upload_prefixes`, in bytes.
    upload_prefixes : tuple of str
        Path prefixes that take uploads.
    small_limit : int
        Limit for every other request body.
    """

    def __init__(
        self,
        app: ASGIApp,
        upload_limit: int,
        upload_prefixes: tuple[str, ...] = ("/api/studies", "/studies"),
        small_limit: int = SMALL_BODY_BYTES,
    ) -> None:
        self.app = app
        self.upload_limit = upload_limit
        self.upload_prefixes = upload_prefixes
        self.small_limit = small_limit

    def _limit(self, path: str) -> int:
        if path.startswith(self.upload_prefixes):
            return self.upload_limit
        return self.small_limit

    def _message(self, limit: int) -> str:
        return (
            f"request body larger than the limit of {limit} bytes; "
            "upload a smaller study or start the server with a larger limit"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with a counting ``receive``; answer 413 past the limit."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope["path"])
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await _send_json(send, 413, self._message(limit), [(b"connection", b"close")])
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(413, self._message(limit))
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if started:
                raise
            await _send_json(send, 413, self._message(limit), [(b"connection", b"close")])


class OriginMiddleware:
    """Refuse requests for other host names and cross-site state-changing requests.

    Three checks, before anything else runs:

    * ``Host`` must be one of `allowed_hosts` (when given): a page on another
      site that re-points its own name at 127.0.0.1 (DNS rebinding) sends its
      own name and gets 421.
    * A ``POST``/``PUT``/``PATCH``/``DELETE`` whose ``Origin`` is not this
      server's own (same host and port as ``Host``), or whose ``Sec-Fetch-Site``
      says ``cross-site``, gets 403. Clients that send neither (curl, scripts)
      pass: a browser always sends ``Origin`` on a cross-site POST.
    * Every response carries ``X-Content-Type-Options: nosniff``.

    Parameters
    ----------
    app : ASGIApp
        The wrapped application.
    allowed_hosts : frozenset of str or None
        Host names (lower case, without port) accepted in ``Host``; None accepts any.
    """

    def __init__(self, app: ASGIApp, allowed_hosts: frozenset[str] | None) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 421 or 403 to refused requests; add ``nosniff`` to the others."""
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host") or ""
        if self.allowed_hosts is not None and _host_name(host) not in self.allowed_hosts:
            await _send_json(
                send,
                421,
                "this server does not answer for that host name; open it as "
                "http://127.0.0.1:<port>/ (or start it with --allowed-host NAME)",
                [(b"x-content-type-options", b"nosniff")],
            )
            return
        if scope["type"] == "http" and scope["method"] in _UNSAFE_METHODS:
            problem = self._cross_site(scope, host)
            if problem is not None:
                await _send_json(send, 403, problem, [(b"x-content-type-options", b"nosniff")])
                return

        async def nosniff_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(key.lower() == b"x-content-type-options" for key, _ in headers):
                    headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, nosniff_send)

    @staticmethod
    def _cross_site(scope: Scope, host: str) -> str | None:
        """Why a state-changing request is refused as cross-site, or None."""
        refused = "cross-site request refused; use calcdx's own pages or a non-browser client"
        origin = _header(scope, b"origin")
        if origin is not None:
            scheme, _, netloc = origin.strip().partition("://")
            if scheme.lower() not in {"http", "https"} or netloc.lower() != host.strip().lower():
                return refused
        fetch_site = _header(scope, b"sec-fetch-site")
        if fetch_site is not None and fetch_site.strip().lower() == "cross-site":
            return refused
        return None
