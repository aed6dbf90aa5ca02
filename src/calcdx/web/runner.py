"""Running study analyses in the background, one at a time, with progress.

The analysis itself is injected: any callable with the signature of
:class:`RunAnalysis` (the default wraps :func:`calcdx.study.run_study`), so
tests can use a fake. Given :class:`~calcdx.web.isolate.Limits`, each job runs
in a child process within them (see :mod:`calcdx.web.isolate`); the server
records its progress and its end. Every job ends recorded as done or failed:
when the job database cannot be written during a job, the job is stopped and
marked failed as soon as the database takes writes again.
"""

from __future__ import annotations

import logging
import re
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError

from calcdx.errors import CalcdxError
from calcdx.web.isolate import ChildCrashed, LimitExceeded, Limits, run_limited
from calcdx.web.jobs import STOPPED_WHILE_RUNNING, JobStore

__all__ = [
    "JobRunner",
    "Progress",
    "RunAnalysis",
    "default_run_analysis",
    "public_message",
]

_log = logging.getLogger("calcdx.web.jobs")

#: ``progress(step, fraction)`` with fraction in [0, 1].
Progress = Callable[[str, float], None]


class RunAnalysis(Protocol):
    """Analyse one study and return the path of its ``result.json``."""

    def __call__(self, input_path: Path, out_dir: Path, progress: Progress) -> Path:
        """Analyse `input_path`, write into `out_dir`, report through `progress`."""
        ...


def default_run_analysis(input_path: Path, out_dir: Path, progress: Progress) -> Path:
    """Run the packaged CT analysis (:func:`calcdx.study.run_study`).

    Parameters
    ----------
    input_path : Path
        A DICOM folder or a NIfTI file.
    out_dir : Path
        Output folder, ``output`` inside the job's folder; a TotalSegmentator label map
        uploaded with the study (``anatomy.nii[.gz]`` in the job's folder, see
        :func:`calcdx.web.uploads.store_anatomy`) is used as ``calcdx analyze --anatomy``.
    progress : callable
        ``progress(step, fraction)``.

    Returns
    -------
    Path
        The written ``result.json``.
    """
    from calcdx.study import run_study
    from calcdx.web.uploads import find_anatomy

    anatomy = find_anatomy(out_dir.parent)  # uploaded beside the study, in its job folder
    outcome = run_study(input_path, out_dir, progress=progress, overwrite=True, anatomy=anatomy)
    return outcome.files["result"]


#: Seconds between attempts to record a job's end while the database refuses writes.
_SETTLE_RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)

_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s/:;,'\"()]+/)*([^\s/:;,'\"()]+)")


def public_message(message: str, *roots: tuple[Path, str]) -> str:
    """One line of `message` without absolute server paths.

    Parameters
    ----------
    message : str
        An error message (only its first line is kept).
    *roots : (Path, str)
        Folders to name by a word (the job's input folder as "the upload").
        Any other absolute path is shortened to its last part.

    Returns
    -------
    str
    """
    line = message.splitlines()[0] if message else "failed"
    for root, name in roots:
        for spelling in {str(root), str(root.resolve())}:
            line = line.replace(spelling + "/", name + "/").replace(spelling, name)
    return _ABSOLUTE_PATH.sub(lambda match: match.group(1), line)


def _in_child(
    run_analysis: RunAnalysis, input_path: Path, out_dir: Path, send: Callable[..., None]
) -> Path:
    """The child-process side of a job: the analysis, its progress sent to the parent.

    Once the analysis is done, the slice viewer's display files are prepared
    too (see :func:`calcdx.web.slices.build_viewer`), so that the first view of
    the study is quick; when that fails, the viewer tries again on first view.
    """
    result = Path(run_analysis(input_path, out_dir, lambda step, fraction: send(step, fraction)))
    labels = result.parent / "lesions.nii.gz"
    if labels.is_file():
        from calcdx.web.slices import VIEWER_DIR, build_viewer

        send("preparing the slice viewer", 1.0)
        try:
            build_viewer(input_path, labels, labels.parent / VIEWER_DIR)
        except (CalcdxError, MemoryError) as exc:
            _log.info("slice viewer not prepared: %s", type(exc).__name__)
    return result


class _StoreFailed(Exception):
    """The job database refused a write during a job."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class JobRunner:
    """Runs queued jobs on one worker thread and records what happens in the store.

    Parameters
    ----------
    store : JobStore
        Where job states live.
    run_analysis : RunAnalysis
        The analysis.
    jobs_dir : Path, optional
        Folder of the job folders; outputs go to ``jobs_dir/<id>/output``. Without
        it they go next to the input (wrong for a study named under ``--data-dir``).
    limits : Limits, optional
        Run each job in a child process within these memory and time limits
        (then `run_analysis` must be picklable: a module-level function).
        Without them the analysis runs on the worker thread.
    data_dir : Path, optional
        The server's data folder, named "the data folder" in job errors.
    on_job : callable, optional
        ``on_job(job_id or None)`` when a job starts and when it ends (for a
        supervisor that fails the job of a worker that died).
    """

    def __init__(
        self,
        store: JobStore,
        run_analysis: RunAnalysis,
        jobs_dir: Path | None = None,
        *,
        limits: Limits | None = None,
        data_dir: Path | None = None,
        on_job: Callable[[str | None], None] | None = None,
    ) -> None:
        self.store = store
        self.run_analysis = run_analysis
        self.jobs_dir = jobs_dir
        self.limits = limits
        self.data_dir = data_dir
        self.on_job = on_job
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="calcdx-job")
        self._child: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()

    def submit(self, job_id: str) -> Future[None]:
        """Queue the job `job_id` (already recorded as queued)."""
        return self._pool.submit(self._run, job_id)

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking jobs; with `wait`, let the running one finish.

        Without `wait`, a job running in a child process is stopped and marked
        failed (:data:`~calcdx.web.jobs.STOPPED_WHILE_RUNNING`).
        """
        if not wait:
            self._stopping.set()
            child = self._child
            if child is not None and child.poll() is None:
                child.kill()
        self._pool.shutdown(wait=wait, cancel_futures=True)

    def _roots(self, job_dir: Path) -> list[tuple[Path, str]]:
        roots = [(job_dir / "input", "the upload"), (job_dir, "the job folder")]
        if self.data_dir is not None:
            roots.append((self.data_dir, "the data folder"))
        return roots

    def _run(self, job_id: str) -> None:
        try:
            job = self.store.get(job_id)
            if job is None or not self.store.claim(job_id):
                return  # gone, or taken by another server process
        except SQLAlchemyError as exc:  # still queued: the next start offers it again
            _log.error("job %s not started, the job database failed: %s", job_id, exc)
            return
        if self.on_job is not None:
            self.on_job(job_id)
        try:
            error = self._analyse(job_id, job.input_path)
            if error is not None:
                self._settle(job_id, error=error)
        finally:
            self._child = None
            if self.on_job is not None:
                self.on_job(None)

    def _analyse(self, job_id: str, input_path: Path) -> str | None:
        """Run the job; record it done, or return the one-line reason it failed."""
        if self.jobs_dir is not None:
            job_dir = self.jobs_dir / job_id
        else:
            job_dir = input_path.parent
        out_dir = job_dir / "output"
        last = [0.0, -1.0]

        def progress(step: str, fraction: float) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.2 or abs(fraction - last[1]) >= 0.05:
                last[0], last[1] = now, fraction
                try:
                    self.store.report(job_id, str(step), float(fraction))
                except SQLAlchemyError as exc:
                    raise _StoreFailed(str(exc).splitlines()[0]) from None

        def track(process: subprocess.Popen[bytes]) -> None:
            self._child = process

        try:
            if self.limits is None:
                result = Path(self.run_analysis(input_path, out_dir, progress))
            else:
                result = run_limited(
                    _in_child,
                    (self.run_analysis, input_path, out_dir),
                    self.limits,
                    on_message=progress,
                    on_start=track,
                )
        except _StoreFailed as exc:
            _log.error("job %s stopped, the job database failed: %s", job_id, exc.reason)
            return "the job database could not be written during the analysis; resubmit"
        except LimitExceeded as exc:
            _log.info("job %s over its limits: %s", job_id, exc)
            return str(exc)
        except CalcdxError as exc:
            _log.info("job %s failed: %s", job_id, type(exc).__name__)
            return public_message(str(exc), *self._roots(job_dir))
        except ChildCrashed as exc:
            if self._stopping.is_set():
                return STOPPED_WHILE_RUNNING
            _log.error("job %s failed unexpectedly: %s", job_id, exc)
            return f"analysis failed unexpectedly ({exc}); please report it"
        except Exception as exc:  # the job must end recorded, whatever happened
            _log.error("job %s failed unexpectedly: %s", job_id, type(exc).__name__)
            return f"analysis failed unexpectedly ({type(exc).__name__}); please report it"
        if not result.is_file():
            return "analysis finished without writing result.json"
        if not self._settle(job_id, result=result):
            return None
        _log.info("job %s done", job_id)
        return None

    def _settle(self, job_id: str, *, result: Path | None = None, error: str = "") -> bool:
        """Record the job's end, retrying while the database refuses writes.

        Returns
        -------
        bool
            True once recorded; False when the database stayed unwritable (the
            job is then failed at the next start, as a job left running).
        """
        for pause in (*_SETTLE_RETRY_SECONDS, None):
            try:
                if result is not None:
                    self.store.mark_done(job_id, result)
                else:
                    self.store.mark_failed(job_id, error)
                return True
            except SQLAlchemyError as exc:
                _log.error("job %s: cannot record its end yet: %s", job_id, exc)
                if pause is None or self._stopping.wait(pause):
                    return False
        return False
