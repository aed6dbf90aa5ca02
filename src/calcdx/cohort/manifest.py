"""The cohort manifest: one CSV row per study (path, subject, timepoint, context).

Columns (header row required, order free, names case-sensitive):

``path`` (required)
    DICOM folder or file, or NIfTI; relative paths are relative to the manifest's folder.
``subject`` (required)
    Subject identifier; studies of one subject are compared across timepoints.
``timepoint`` (required)
    Ordering label of the study within its subject (``0``, ``1``... or ``baseline``,
    ``month12``); numbers sort numerically, other labels in manifest order.
``study`` (optional)
    Study identifier, unique in the manifest; default ``<subject>_<timepoint>``.
``age``, ``sex``, ``history``, ``history_absent``, ``labs`` (optional)
    Clinical context as for ``calcdx analyze``: ``history`` and ``history_absent`` are
    ``;``-separated case-format clinical values, ``labs`` is ``name=level;...``.
``series`` (optional)
    SeriesInstanceUID to analyse in a multi-series folder.
``anatomy`` (optional)
    TotalSegmentator output for the study (as ``calcdx analyze --anatomy``).

Unknown columns are refused (a misspelt ``histroy`` column would otherwise be lost).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from calcdx.case.context import build_context
from calcdx.errors import CalcdxError, InputError

__all__ = ["MANIFEST_COLUMNS", "CohortStudy", "read_manifest"]

#: Every column a manifest may have.
MANIFEST_COLUMNS = (
    "path", "subject", "timepoint", "study", "age", "sex", "history", "history_absent",
    "labs", "series", "anatomy",
)
_REQUIRED = ("path", "subject", "timepoint")
_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]+")


class CohortStudy(BaseModel):
    """One study of a cohort, as read from its manifest row.

    Attributes
    ----------
    study_id : str
        Unique, file-name safe identifier (its output folder is ``studies/<study_id>``).
    path : Path
        Absolute path of the study input.
    subject, timepoint : str
    order : int
        Position of the study within its subject's timepoints (0 = first).
    context : dict
        Validated clinical context (``patient``, ``clinical``, ``clinical_absent``, ``labs``).
    series_uid : str or None
    anatomy : Path or None
    row : int
        Manifest line number (for messages).
    """

    model_config = ConfigDict(frozen=True)

    study_id: str
    path: Path
    subject: str
    timepoint: str
    order: int = 0
    context: dict[str, Any]
    series_uid: str | None = None
    anatomy: Path | None = None
    row: int


def _split(value: str) -> list[str] | None:
    items = [item.strip() for item in value.split(";") if item.strip()]
    return items or None


def _timepoint_key(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)


def read_manifest(path: str | Path) -> list[CohortStudy]:
    """Read and validate a cohort manifest.

    Parameters
    ----------
    path : str or Path
        CSV file with a header row (see the module docstring for the columns).

    Returns
    -------
    list of CohortStudy
        In manifest order.

    Raises
    ------
    InputError
        If the file is missing or empty, a required column is missing, a column is unknown,
        a value is invalid (the message names the line and column), a study path does not
        exist, or two rows give the same study identifier.
    """
    manifest = Path(path)
    if not manifest.is_file():
        raise InputError(f"{manifest}: no such manifest file")
    base = manifest.resolve().parent
    with manifest.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        if not columns:
            raise InputError(f"{manifest}: empty manifest; the first line names the columns "
                             f"({', '.join(_REQUIRED)} at least)")
        unknown = [c for c in columns if c not in MANIFEST_COLUMNS]
        if unknown:
            raise InputError(f"{manifest}: unknown column {unknown[0]!r}; allowed: "
                             f"{', '.join(MANIFEST_COLUMNS)}")
        missing = [c for c in _REQUIRED if c not in columns]
        if missing:
            raise InputError(f"{manifest}: missing column {missing[0]!r} "
                             f"(required: {', '.join(_REQUIRED)})")
        rows = [
            (reader.line_num, {k.strip(): (v or "").strip() for k, v in raw.items() if k})
            for raw in reader
        ]
    studies: list[CohortStudy] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        if not any(row.values()):
            continue
        studies.append(_study(manifest, base, line, row))
        if studies[-1].study_id in seen:
            raise InputError(f"{manifest} line {line}: study {studies[-1].study_id!r} repeats "
                             f"line {seen[studies[-1].study_id]}; give each row its own "
                             "study/subject/timepoint")
        seen[studies[-1].study_id] = line
    if not studies:
        raise InputError(f"{manifest}: no studies listed")
    return _ordered(studies)


def _study(manifest: Path, base: Path, line: int, row: dict[str, str]) -> CohortStudy:
    where = f"{manifest} line {line}"
    for column in _REQUIRED:
        if not row.get(column):
            raise InputError(f"{where}: empty {column!r}")
    study_path = (base / row["path"]).resolve()
    if not study_path.exists():
        raise InputError(f"{where}: study path {row['path']!r} does not exist "
                         "(relative paths are relative to the manifest's folder)")
    anatomy = None
    if row.get("anatomy"):
        anatomy = (base / row["anatomy"]).resolve()
        if not anatomy.exists():
            raise InputError(f"{where}: anatomy path {row['anatomy']!r} does not exist")
    age: float | None = None
    if row.get("age"):
        try:
            age = float(row["age"])
        except ValueError:
            raise InputError(f"{where}: age {row['age']!r} is not a number of years") from None
    try:
        context = build_context(
            file=None,
            age_years=age,
            sex=row.get("sex") or None,
            history=_split(row.get("history", "")),
            history_absent=_split(row.get("history_absent", "")),
            labs=_split(row.get("labs", "")),
        )
    except CalcdxError as exc:
        raise InputError(f"{where}: {exc}") from None
    raw_id = row.get("study") or f"{row['subject']}_{row['timepoint']}"
    study_id = _SAFE_ID.sub("-", raw_id).strip("-.") or f"row{line}"
    return CohortStudy(
        study_id=study_id,
        path=study_path,
        subject=row["subject"],
        timepoint=row["timepoint"],
        context=context,
        series_uid=row.get("series") or None,
        anatomy=anatomy,
        row=line,
    )


def _ordered(studies: list[CohortStudy]) -> list[CohortStudy]:
    """Number each study's position among its subject's timepoints."""
    by_subject: dict[str, list[CohortStudy]] = {}
    for study in studies:
        by_subject.setdefault(study.subject, []).append(study)
    order: dict[str, int] = {}
    for group in by_subject.values():
        for position, study in enumerate(
            sorted(group, key=lambda s: _timepoint_key(s.timepoint))
        ):
            order[study.study_id] = position
    return [s.model_copy(update={"order": order[s.study_id]}) for s in studies]
