"""Run a cohort on Dask: every study through the ``analyze`` pipeline, resumable.

:func:`run_cohort` submits one task per study not yet done (same input and settings) to a
``dask.distributed`` cluster: a :class:`~distributed.LocalCluster` sized to the machine by
default, or an existing scheduler (``tcp://HOST:8786``) whose workers see the same files.
Each study lands in its own folder in one rename (:mod:`calcdx.cohort.store`), so killing
the run at any point loses nothing that was complete and the next run does only the rest.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from calcdx.analysis import AnalysisParameters
from calcdx.cohort.manifest import CohortStudy
from calcdx.cohort.store import (
    DONE_MARKER,
    cohort_lock,
    fingerprint,
    read_json,
    remove_partials,
    write_json_atomic,
)
from calcdx.cohort.task import analyze_study, change_rows, compare_pair
from calcdx.errors import InputError

__all__ = ["CohortRun", "run_cohort", "study_key"]

#: ``progress(done, total, last_record)`` after each study.
CohortProgress = Callable[[int, int, dict[str, Any] | None], None]


class CohortRun(BaseModel):
    """What one :func:`run_cohort` call did.

    Attributes
    ----------
    records : list of dict
        One done marker or failure record per manifest study, in manifest order.
    skipped : list of str
        Studies already done with the same key (not run again).
    ran : list of str
        Studies run now (done or failed).
    removed_partials : int
        Incomplete folders of an interrupted earlier run that were deleted.
    n_workers : int
        Workers of the cluster used (0 when nothing needed running).
    followups : list of dict
        One record per compared pair of consecutive timepoints (``status``, ``changes``
        rows or ``error``).
    """

    model_config = ConfigDict(frozen=True)

    records: list[dict[str, Any]]
    skipped: list[str]
    ran: list[str]
    removed_partials: int
    n_workers: int
    followups: list[dict[str, Any]] = []

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Failure records."""
        return [r for r in self.records if r.get("status") == "failed"]


def study_key(study: CohortStudy, parameters: AnalysisParameters, pdf: bool) -> str:
    """Fingerprint of a study's inputs and settings (:func:`calcdx.cohort.store.fingerprint`)."""
    return fingerprint(
        inputs=[study.path, study.anatomy],
        settings={
            "parameters": parameters.model_dump(mode="json"),
            "context": study.context,
            "series": study.series_uid,
            "pdf": pdf,
        },
    )


def _client(scheduler: str | None, n_workers: int | None) -> Any:
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise InputError(
                f"cannot reach the Dask scheduler {scheduler} ({exc}); start one with "
                "`dask scheduler` and workers with `dask worker ADDRESS`, or leave out "
                "--scheduler for a local cluster"
            ) from None
    workers = n_workers or max(1, os.cpu_count() or 1)
    # No dashboard; the scheduler's HTTP server (health, metrics) still starts, and without an
    # address it takes port 8787 on all interfaces, warning when another cluster holds it.
    # A free loopback port instead.
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
    )
    return Client(cluster)


def run_cohort(
    studies: list[CohortStudy],
    out_dir: str | Path,
    *,
    parameters: AnalysisParameters | None = None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    pdf: bool = False,
    retry_failed: bool = False,
    followup: bool = True,
    progress: CohortProgress | None = None,
) -> CohortRun:
    """Analyse every study of a cohort that is not done yet.

    Parameters
    ----------
    studies : list of CohortStudy
        From :func:`calcdx.cohort.manifest.read_manifest`.
    out_dir : str or Path
        Cohort output folder (created).
    parameters : AnalysisParameters, optional
        The same for every study.
    scheduler : str, optional
        Address of an existing Dask scheduler; default a local cluster.
    n_workers : int, optional
        Local cluster size; default one worker per CPU core.
    pdf : bool
        Also write each study's ``report.pdf``.
    retry_failed : bool
        Run again studies that failed with the same key (by default a failure is kept,
        as the same input would fail the same way).
    followup : bool
        Compare each subject's consecutive timepoints (``followup/``; see
        :mod:`calcdx.followup`); a comparison still current is not redone.
    progress : callable, optional
        ``progress(done, total, record)``.

    Returns
    -------
    CohortRun

    Raises
    ------
    InputError
        If another run holds the folder or the scheduler cannot be reached.
    """
    parameters = parameters or AnalysisParameters()
    out = Path(out_dir)
    studies_dir, failed_dir = out / "studies", out / "failed"
    with cohort_lock(out):
        studies_dir.mkdir(parents=True, exist_ok=True)
        failed_dir.mkdir(parents=True, exist_ok=True)
        removed = remove_partials(studies_dir)
        keys = {s.study_id: study_key(s, parameters, pdf) for s in studies}
        records: dict[str, dict[str, Any]] = {}
        todo: list[CohortStudy] = []
        for study in studies:
            done = read_json(studies_dir / study.study_id / DONE_MARKER)
            failed = read_json(failed_dir / f"{study.study_id}.json")
            if done is not None and done.get("key") == keys[study.study_id]:
                records[study.study_id] = done
            elif (failed is not None and failed.get("key") == keys[study.study_id]
                  and not retry_failed):
                records[study.study_id] = failed
            else:
                todo.append(study)
        write_json_atomic(
            {"format": "calcdx-cohort/1", "parameters": parameters.model_dump(mode="json"),
             "studies": [s.study_id for s in studies], "pdf": pdf},
            out / "cohort.json",
        )
        total, finished = len(studies), len(records)
        if progress is not None:
            progress(finished, total, None)
        n_workers_used = 0
        followups: list[dict[str, Any]] = []
        if todo or (followup and _pairs(studies, records, out, done_only=False)):
            from distributed import as_completed

            client = _client(scheduler, n_workers)
            try:
                n_workers_used = len(client.scheduler_info().get("workers", {}))
                # Largest inputs first (longest-processing-time order): the big studies
                # do not end up alone on one worker at the end of the run.
                ordered = sorted(todo, key=lambda s: -_input_bytes(s.path))
                futures = [
                    client.submit(
                        analyze_study, s.model_dump(mode="json"), str(studies_dir.resolve()),
                        str(failed_dir.resolve()), keys[s.study_id],
                        parameters.model_dump(mode="json"), pdf,
                        key=f"calcdx-study-{s.study_id}-{keys[s.study_id][:12]}", pure=False,
                        priority=len(ordered) - rank,
                    )
                    for rank, s in enumerate(ordered)
                ]
                for future in as_completed(futures):
                    record = future.result()
                    records[record["study_id"]] = record
                    finished += 1
                    if progress is not None:
                        progress(finished, total, record)
                if followup:
                    followups = _run_followups(client, studies, records, out)
            finally:
                cluster = getattr(client, "cluster", None)
                client.close()
                if cluster is not None and scheduler is None:
                    cluster.close()
        return CohortRun(
            records=[records[s.study_id] for s in studies],
            skipped=[s.study_id for s in studies if s not in todo],
            ran=[s.study_id for s in todo],
            removed_partials=removed,
            n_workers=n_workers_used,
            followups=followups,
        )


def _input_bytes(path: str | Path) -> int:
    """Bytes of a study's input on disk (a file, or every file under a folder); 0 if absent."""
    p = Path(path)
    try:
        if p.is_file():
            return p.stat().st_size
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    except OSError:
        return 0


def _pairs(
    studies: list[CohortStudy], records: dict[str, dict[str, Any]], out: Path, *,
    done_only: bool = True,
) -> list[tuple[dict[str, Any], Path, str]]:
    """Consecutive timepoints of each subject, both done: (pair, folder, key) to compare.

    With ``done_only`` false, returns the pairs whose comparison is missing or stale
    (to decide whether a cluster is needed at all).
    """
    by_subject: dict[str, list[CohortStudy]] = {}
    for study in studies:
        if (records.get(study.study_id) or {}).get("status") == "done":
            by_subject.setdefault(study.subject, []).append(study)
    pairs = []
    for subject, group in by_subject.items():
        group.sort(key=lambda s: s.order)
        for a, b in itertools.pairwise(group):
            folder = out / "followup" / _safe(subject) / f"{a.study_id}__{b.study_id}"
            key = fingerprint(inputs=[], settings={"baseline": records[a.study_id]["key"],
                                                   "followup": records[b.study_id]["key"]})
            pair = {"subject": subject, "baseline": a.study_id, "followup": b.study_id,
                    "baseline_path": str(a.path), "followup_path": str(b.path),
                    "baseline_dir": str(out / "studies" / a.study_id),
                    "followup_dir": str(out / "studies" / b.study_id)}
            existing = read_json(folder / "compare.json")
            if done_only or existing is None or existing.get("key") != key:
                pairs.append((pair, folder, key))
    return pairs


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in name) or "subject"


def _run_followups(
    client: Any, studies: list[CohortStudy], records: dict[str, dict[str, Any]], out: Path
) -> list[dict[str, Any]]:
    """Compare every pair of consecutive done timepoints; reuse comparisons still current."""
    results = []
    futures = []
    for pair, folder, key in _pairs(studies, records, out):
        existing = read_json(folder / "compare.json")
        if existing is not None and existing.get("key") == key:
            results.append({"subject": pair["subject"], "baseline": pair["baseline"],
                            "followup": pair["followup"], "key": key, "status": "done",
                            "changes": change_rows(pair, existing)})
        else:
            futures.append(client.submit(compare_pair, pair, str(folder.resolve()), key,
                                         pure=False))
    results += [future.result() for future in futures]
    return sorted(results, key=lambda r: (r["subject"], r["baseline"]))
