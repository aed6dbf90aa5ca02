"""What the routes share: one :class:`WebState` per app, kept on ``app.state``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from calcdx.case.vocabulary import Vocabulary
from calcdx.kb.loader import KnowledgeBase
from calcdx.reasoning.differential import Engine
from calcdx.web.forms import Section
from calcdx.web.jobs import JobStore
from calcdx.web.runner import JobRunner
from calcdx.web.settings import WebSettings
from calcdx.web.slices import SliceCache

__all__ = ["HTML_HEADERS", "WebState", "get_state", "render"]

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

#: Headers of every server-rendered page: no inline scripts, nothing from elsewhere.
HTML_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


@dataclass(frozen=True)
class WebState:
    """Everything one app instance works with (no module-level state).

    Attributes
    ----------
    settings : WebSettings
    kb : KnowledgeBase
    engine : Engine
    vocabulary : Vocabulary
    form : tuple of Section
        The differential form.
    templates : Jinja2Templates
    store : JobStore
    runner : JobRunner
    slices : SliceCache
        The slice viewer's recently used studies.
    """

    settings: WebSettings
    kb: KnowledgeBase
    engine: Engine
    vocabulary: Vocabulary
    form: tuple[Section, ...]
    templates: Jinja2Templates
    store: JobStore
    runner: JobRunner
    slices: SliceCache = field(default_factory=SliceCache)


def get_state(request: Request) -> WebState:
    """The :class:`WebState` of the app serving `request`."""
    return cast(WebState, request.app.state.calcdx)


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    """Render a template with the page security headers.

    Parameters
    ----------
    request : Request
    name : str
        Template file name.
    context : dict
        Template variables.
    status_code : int
        HTTP status.

    Returns
    -------
    Response
    """
    templates = get_state(request).templates
    return templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=HTML_HEADERS
    )
