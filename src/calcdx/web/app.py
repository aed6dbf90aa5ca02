"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from calcdx import __version__
from calcdx.case.vocabulary import load_vocabulary
from calcdx.kb.loader import load_knowledge_base
from calcdx.reasoning import default_engine
from calcdx.web.api import api_router
from calcdx.web.forms import build_form, label
from calcdx.web.isolate import Limits
from calcdx.web.jobs import JobStore
from calcdx.web.pages import pages_router
from calcdx.web.runner import JobRunner, RunAnalysis, default_run_analysis
from calcdx.web.security import BodyLimitMiddleware, OriginMiddleware, TokenMiddleware
from calcdx.web.settings import WebSettings
from calcdx.web.slices import SliceCache
from calcdx.web.state import STATIC_DIR, TEMPLATES_DIR, WebState
from calcdx.web.studies import studies_router

__all__ = ["create_app"]

_log = logging.getLogger("calcdx.web")


def _one_line(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    return f"{where or 'request'}: {first.get('msg', 'invalid')}"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": _one_line(exc)}, status_code=422)


def create_app(
    settings: WebSettings,
    *,
    run_analysis: RunAnalysis | None = None,
    settle_jobs: bool = True,
    isolate_jobs: bool | None = None,
    on_job: Callable[[str | None], None] | None = None,
) -> FastAPI:
    """Build the calcdx web app.

    Parameters
    ----------
    settings : WebSettings
        Bind address, token, folders, database, limits.
    run_analysis : RunAnalysis, optional
        The study analysis (default: :func:`calcdx.web.runner.default_run_analysis`).
    settle_jobs : bool
        Mark the jobs a previous server left running as failed. Right when this
        app is the only process serving the job store; ``calcdx serve --workers N``
        settles them once before it starts its workers and passes False.
    isolate_jobs : bool, optional
        Run each job, and the slice viewer's preparation of a study on its
        first view, in a child process within the settings' job memory and
        time limits. By default True for the packaged analysis and False for
        an injected one (which then need not be picklable).
    on_job : callable, optional
        Told the id of the job this app's runner starts, and None when it ends.

    Returns
    -------
    FastAPI
        The app. Queued jobs are offered to its runner; when several processes
        offer the same job, the first to claim it runs it.

    Raises
    ------
    CalcdxError
        When the settings are unsafe (see :class:`WebSettings`).
    """
    vocabulary = load_vocabulary()
    store = JobStore(settings.resolved_database_url)
    if isolate_jobs is None:
        isolate_jobs = run_analysis is None
    limits = Limits(settings.job_memory_bytes, settings.job_seconds) if isolate_jobs else None
    runner = JobRunner(
        store,
        run_analysis or default_run_analysis,
        settings.jobs_dir,
        limits=limits,
        data_dir=settings.data_dir,
        on_job=on_job,
    )
    environment = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True)
    templates = Jinja2Templates(env=environment)
    templates.env.filters["label"] = label
    templates.env.globals["version"] = __version__
    state = WebState(
        settings=settings,
        kb=load_knowledge_base(),
        engine=default_engine(),
        vocabulary=vocabulary,
        form=build_form(vocabulary),
        templates=templates,
        store=store,
        runner=runner,
        slices=SliceCache(limits=limits),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        runner.shutdown(wait=False)
        store.close()

    app = FastAPI(
        title="calcdx",
        version=__version__,
        summary="Soft-tissue calcification in radiology: differential diagnosis and CT studies.",
        description=(
            "Not for clinical use. Every error is answered with one line in "
            '`{"detail": ...}`; invalid cases get the message `calcdx ddx` prints.'
        ),
        docs_url=None,
        redoc_url=None,
        # No OpenTelemetry: calcdx exports nothing, and the per-request check costs time.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        lifespan=lifespan,
    )
    app.state.calcdx = state
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(api_router(vocabulary))
    app.include_router(studies_router())
    app.include_router(pages_router())
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.add_middleware(BodyLimitMiddleware, upload_limit=settings.max_upload_bytes)
    if settings.token is not None:
        app.add_middleware(TokenMiddleware, token=settings.token)
    app.add_middleware(OriginMiddleware, allowed_hosts=settings.host_names)  # outermost
    for job_id in store.recover() if settle_jobs else store.queued():
        runner.submit(job_id)
    return app
