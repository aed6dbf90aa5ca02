"""Study routes: upload a CT study, follow its analysis job, read its result.

``POST /api/studies`` stores the upload (see :mod:`calcdx.web.uploads`), records
a queued job in the job store and hands it to the runner; ``GET /api/jobs/{id}``
reports its status and progress; ``GET /api/studies/{id}/result`` returns
``result.json`` once the job is done;
``GET /api/studies/{id}/slices/{k}.png`` renders one axial slice for the slice
viewer. The study page embeds the job's own ``report.html``. The study id is the
job id; files are only ever looked up under fixed names in the job's folder.
"""

from __future__ import annotations

import json
import shutil
from typing import Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from calcdx.errors import CalcdxError
from calcdx.web.jobs import Job, JobStore
from calcdx.web.schemas import ErrorOut, JobOut
from calcdx.web.slices import WINDOWS, SliceStack, Window
from calcdx.web.state import WebState, get_state, render
from calcdx.web.uploads import UploadError, resolve_server_path, store_anatomy, store_upload

__all__ = ["job_json", "studies_router"]

#: Headers of the embedded report: static HTML, no scripts, framed only by our pages.
REPORT_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}

#: Headers of slice images: a finished study never changes.
PNG_HEADERS = {"x-content-type-options": "nosniff", "cache-control": "private, max-age=600"}


def job_json(job: Job) -> dict[str, Any]:
    """The API form of a job (no server paths)."""
    return {
        "id": job.id,
        "status": job.status,
        "step": job.step,
        "progress": round(job.progress, 4),
        "created": job.created,
        "updated": job.updated,
        "error": job.error,
        "result_url": f"/api/studies/{job.id}/result" if job.status == "done" else None,
    }


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def _create_job(
    state: WebState, file: UploadFile | None, path: str | None,
    anatomy: UploadFile | None = None,
) -> Job:
    """Store the input (and its anatomy) and record the job (blocking; run it in a thread)."""
    store: JobStore = state.store
    settings = state.settings
    job_id = store.new_id()
    job_dir = settings.jobs_dir / job_id
    if file is not None and path:
        raise UploadError("send either a file or a path, not both")
    if file is not None:
        stored = store_upload(
            file.file,
            job_dir,
            settings.max_upload_bytes,
            settings.extracted_limit,
            settings.max_voxels,
        )
        source = stored.path
    elif path:
        source = resolve_server_path(settings.data_dir, path)
        job_dir.mkdir(parents=True, exist_ok=False)
    else:
        raise UploadError(
            "send a study: a 'file' (zip of a DICOM folder, .nii or .nii.gz) or a 'path' "
            "under the server's data folder"
        )
    if anatomy is not None and anatomy.filename:  # a form's empty file field sends no name
        try:
            store_anatomy(anatomy.file, job_dir, settings.max_upload_bytes, settings.max_voxels)
        except BaseException:
            shutil.rmtree(job_dir, ignore_errors=True)
            raise
    return store.create(source, job_id)


def _unknown_job(job_id: str) -> JSONResponse:
    return _error(404, f"no job {job_id!r}; POST /api/studies returns the ids")


def _finished(state: WebState, job_id: str) -> Job | JSONResponse:
    """The job `job_id` if it is done with its result on disk, else the error answer."""
    job = state.store.get(job_id)
    if job is None:
        return _unknown_job(job_id)
    if job.status == "failed":
        return _error(409, f"the analysis failed: {job.error}")
    if job.status != "done" or job.result_path is None:
        return _error(409, f"the analysis is {job.status}; poll GET /api/jobs/{job_id} until done")
    if not job.result_path.is_file():
        return _error(404, "the result file is gone from the server; resubmit the study")
    return job


def _stack(state: WebState, job: Job) -> SliceStack:
    """The job's slice stack from the app's cache (blocking).

    Raises
    ------
    CalcdxError
        When the input or the label map cannot be read.
    """
    assert job.result_path is not None
    return state.slices.get(job.id, job.input_path, job.result_path.parent / "lesions.nii.gz")


def _viewer(state: WebState, job: Job) -> dict[str, Any]:
    """Template variables of the slice viewer (``error`` when it cannot be shown)."""
    try:
        stack = _stack(state, job)
    except CalcdxError as exc:
        return {"error": str(exc).splitlines()[0] if str(exc) else "unreadable study"}
    width, height = stack.size_px
    return {
        "count": stack.count,
        "start": stack.start_slice,
        "lesion_slices": list(stack.lesion_slices),
        "width": width,
        "height": height,
        "windows": WINDOWS,
        "slice_step": stack.step[2],
    }


def studies_router() -> APIRouter:
    """Build the study routes (API and pages).

    Routes that touch the job database or files are plain functions, which
    FastAPI runs in its thread pool: a slow database (a remote PostgreSQL) then
    never stalls the event loop that answers ``POST /api/ddx``.
    """
    router = APIRouter()

    @router.post(
        "/api/studies",
        tags=["studies"],
        summary="Upload a CT study and start its analysis",
        status_code=202,
        response_model=JobOut,
        responses={
            400: {"model": ErrorOut, "description": "Unusable upload (empty, not DICOM, unsafe)"},
            404: {"model": ErrorOut, "description": "The named server path does not exist"},
            413: {"model": ErrorOut, "description": "The upload is too large"},
            422: {"model": ErrorOut, "description": "Malformed form fields"},
        },
    )
    async def create_study(
        request: Request,
        file: UploadFile | None = File(  # noqa: B008
            None, description="A zip of a DICOM folder, or a .nii / .nii.gz file"
        ),
        path: str | None = Form(
            None, max_length=4096, description="A study under the server's --data-dir"
        ),
        anatomy: UploadFile | None = File(  # noqa: B008
            None,
            description=(
                "Optional: TotalSegmentator's multi-label NIfTI of the same CT "
                "(`TotalSegmentator --ml`), as `calcdx analyze --anatomy`"
            ),
        ),
    ) -> JSONResponse:
        """Store the study (and its anatomy) under generated names and queue its analysis."""
        state = get_state(request)
        try:
            job = await run_in_threadpool(_create_job, state, file, path, anatomy)
        except UploadError as exc:
            return _error(exc.status, str(exc))
        state.runner.submit(job.id)
        return JSONResponse(
            job_json(job), status_code=202, headers={"location": f"/api/jobs/{job.id}"}
        )

    @router.get(
        "/api/jobs/{job_id}",
        tags=["studies"],
        summary="Status and progress of an analysis job",
        response_model=JobOut,
        responses={
            404: {"model": ErrorOut, "description": "No such job"},
            422: {"model": ErrorOut, "description": "Invalid request"},
        },
    )
    def get_job(request: Request, job_id: str) -> JSONResponse:
        """The job's status (queued, running, done, failed), step and progress."""
        job = get_state(request).store.get(job_id)
        if job is None:
            return _unknown_job(job_id)
        return JSONResponse(job_json(job))

    @router.get(
        "/api/studies/{job_id}/result",
        tags=["studies"],
        summary="The result.json of a finished study",
        response_class=JSONResponse,
        responses={
            200: {
                "description": "result.json (see 'calcdx analyze')",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            404: {"model": ErrorOut, "description": "No such study"},
            409: {"model": ErrorOut, "description": "The analysis is not done"},
            422: {"model": ErrorOut, "description": "Invalid request"},
        },
    )
    def get_result(request: Request, job_id: str) -> Response:
        """The study's ``result.json`` once its job is done."""
        job = _finished(get_state(request), job_id)
        if isinstance(job, JSONResponse):
            return job
        assert job.result_path is not None
        return FileResponse(job.result_path, media_type="application/json")

    @router.get(
        "/api/studies/{job_id}/slices/{k}.png",
        tags=["studies"],
        summary="One axial slice of a finished study, with lesion outlines",
        response_class=Response,
        responses={
            200: {
                "description": (
                    "PNG in radiological orientation (patient's right on the left, anterior "
                    "up), lesion outlines in amber"
                ),
                "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
            },
            404: {"model": ErrorOut, "description": "No such study or slice"},
            409: {"model": ErrorOut, "description": "The analysis is not done"},
            422: {"model": ErrorOut, "description": "Invalid request"},
        },
    )
    def get_slice(
        request: Request,
        job_id: str,
        k: int,
        window: Window = Query(  # noqa: B008
            "soft", description="soft: soft tissue W400/L40; bone: W2000/L500"
        ),
    ) -> Response:
        """Axial slice `k` (0 = most inferior) of the study's input, windowed (blocking)."""
        state = get_state(request)
        job = _finished(state, job_id)
        if isinstance(job, JSONResponse):
            return job
        try:
            stack = _stack(state, job)
        except CalcdxError as exc:
            return _error(404, str(exc).splitlines()[0] if str(exc) else "unreadable study")
        if not 0 <= k < stack.count:
            return _error(404, f"no slice {k}; the study has slices 0 to {stack.count - 1}")
        png = state.slices.png(job.id, stack, k, window)
        return Response(png, media_type="image/png", headers=PNG_HEADERS)

    @router.get("/studies/{job_id}/report.html", include_in_schema=False)
    def study_report(request: Request, job_id: str) -> Response:
        """The job's own ``report.html`` (fixed name in its output folder), sandboxed."""
        job = _finished(get_state(request), job_id)
        if isinstance(job, JSONResponse):
            return job
        assert job.result_path is not None
        report = job.result_path.parent / "report.html"
        if not report.is_file():
            return _error(404, "this study has no report.html")
        return FileResponse(report, media_type="text/html; charset=utf-8", headers=REPORT_HEADERS)

    @router.get("/studies", include_in_schema=False)
    def studies_page(request: Request, page: int = Query(1, ge=1, le=1_000_000)) -> Response:
        state = get_state(request)
        return render(request, "studies.html", _studies_context(state, page))

    @router.get("/studies/{job_id}", include_in_schema=False)
    def study_page(request: Request, job_id: str) -> Response:
        state = get_state(request)
        job = state.store.get(job_id)
        if job is None:
            context = _studies_context(state) | {"error": f"no study {job_id!r}"}
            return render(request, "studies.html", context, 404)
        result = None
        viewer: dict[str, Any] | None = None
        report = False
        if job.status == "done" and job.result_path is not None and job.result_path.is_file():
            result = _read_result(job)
            viewer = _viewer(state, job)
            report = (job.result_path.parent / "report.html").is_file()
        return render(
            request,
            "study.html",
            {"job": job, "result": result, "viewer": viewer, "report": report},
        )

    return router


#: Jobs on one page of the studies list.
JOBS_PER_PAGE = 50


def _studies_context(state: WebState, page: int = 1) -> dict[str, Any]:
    """Template context of the studies list page (`page` 1 holds the newest jobs)."""
    total = state.store.count()
    return {
        "jobs": state.store.recent(JOBS_PER_PAGE, (page - 1) * JOBS_PER_PAGE),
        "page": page,
        "pages": max(1, -(-total // JOBS_PER_PAGE)),
        "total": total,
        "max_mb": state.settings.max_upload_bytes / 1024**2,
        "data_dir": state.settings.data_dir is not None,
    }


def _read_result(job: Job) -> dict[str, Any] | None:
    assert job.result_path is not None
    try:
        data = json.loads(job.result_path.read_text("utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
