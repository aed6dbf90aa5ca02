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

__all__ = ["TOKEN_COOKIE", "BodyLimitMiddleware", "TokenMiddleware", "token_matches"]

#: Cookie that carries the token for browsers, set after ``?token=...`` on a page.
TOKEN_COOKIE = "calcdx_token"

#: Largest body of a request that is not an upload (a case is a few kB).
SMALL_BODY_BYTES = 1024 * 1024


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
            location = scope["path"] + (f"?{rest}" if rest else "")
            cookie = f"{TOKEN_COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
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
