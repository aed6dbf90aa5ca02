"""Running study analyses in the background, one at a time, with progress.

The analysis itself is injected: any callable with the signature of
:class:`RunAnalysis` (the default wraps :func:`calcdx.study.run_study`), so
tests can use a fake.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from calcdx.errors import CalcdxError
from calcdx.web.jobs import JobStore

__all__ = ["JobRunner", "Progress", "RunAnalysis", "default_run_analysis"]

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
        Output folder.
    progress : callable
        ``progress(step, fraction)``.

    Returns
    -------
    Path
        The written ``result.json``.
    """
    from calcdx.study import run_study

    outcome = run_study(input_path, out_dir, progress=progress, overwrite=True)
    return outcome.files["result"]


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
    """

    def __init__(
        self, store: JobStore, run_analysis: RunAnalysis, jobs_dir: Path | None = None
    ) -> None:
        self.store = store
        self.run_analysis = run_analysis
        self.jobs_dir = jobs_dir
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="calcdx-job")

    def submit(self, job_id: str) -> Future[None]:
        """Queue the job `job_id` (already recorded as queued)."""
        return self._pool.submit(self._run, job_id)

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking jobs; with `wait`, let the running one finish."""
        self._pool.shutdown(wait=wait, cancel_futures=True)

    def _run(self, job_id: str) -> None:
        job = self.store.get(job_id)
        if job is None or not self.store.claim(job_id):
            return  # gone, or taken by another server process
        if self.jobs_dir is not None:
            out_dir = self.jobs_dir / job_id / "output"
        else:
            out_dir = job.input_path.parent / "output"
        last = [0.0, -1.0]

        def progress(step: str, fraction: float) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.2 or abs(fraction - last[1]) >= 0.05:
                last[0], last[1] = now, fraction
                self.store.report(job_id, step, fraction)

        try:
            result = self.run_analysis(job.input_path, out_dir, progress)
        except CalcdxError as exc:
            _log.info("job %s failed: %s", job_id, type(exc).__name__)
            self.store.mark_failed(job_id, str(exc).splitlines()[0] if str(exc) else "failed")
            return
        except Exception as exc:  # the job must end recorded, whatever happened
            _log.error("job %s failed unexpectedly: %s", job_id, type(exc).__name__)
            self.store.mark_failed(
                job_id,
                f"analysis failed unexpectedly ({type(exc).__name__}); please report it",
            )
            return
        if not Path(result).is_file():
            self.store.mark_failed(job_id, "analysis finished without writing result.json")
            return
        self.store.mark_done(job_id, Path(result))
        _log.info("job %s done", job_id)
