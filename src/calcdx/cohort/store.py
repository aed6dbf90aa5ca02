"""The cohort output folder: per-study folders, done and failure markers, the run lock.

Layout of ``DIR``::

    cohort.json                     what the last run was asked (manifest, parameters)
    studies/<study_id>/             what ``calcdx analyze`` writes, plus qc.png and study.json
    studies/<study_id>/study.json   the done marker, written last (its key says with what)
    failed/<study_id>.json          one-line error of a study that failed, with its key
    tables/*.parquet                lesions, groups, studies, changes (see calcdx.cohort.tables)
    followup/<subject>/<a>__<b>/    calcdx compare output between consecutive timepoints
    cohort_report.html

A study's folder is built under ``studies/.partial-<study_id>-<random>`` and renamed into
place in one step once complete, so a folder named after a study is always complete; a run
killed midway leaves only ``.partial-*`` folders, removed by the next run.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from calcdx import __version__
from calcdx.errors import InputError

__all__ = [
    "DONE_MARKER",
    "cohort_lock",
    "fingerprint",
    "read_json",
    "remove_partials",
    "write_json_atomic",
]

#: Name of the done marker inside a study folder.
DONE_MARKER = "study.json"
PARTIAL_PREFIX = ".partial-"


def write_json_atomic(document: dict[str, Any], path: Path) -> None:
    """Write JSON to a temporary file beside ``path`` and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``, or None when it is missing or unreadable."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _input_files(path: Path) -> Iterator[tuple[str, int, int]]:
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.is_file():
                stat = child.stat()
                yield (str(child.relative_to(path)), stat.st_size, stat.st_mtime_ns)
    elif path.exists():
        stat = path.stat()
        yield (path.name, stat.st_size, stat.st_mtime_ns)


def fingerprint(*, inputs: list[Path | None], settings: dict[str, Any]) -> str:
    """Key of a unit of work: its input files (name, size, modification time) and settings.

    Parameters
    ----------
    inputs : list of Path or None
        Study input, anatomy input...; each folder is listed recursively.
    settings : dict
        JSON-ready settings (parameters, context, series); the calcdx version is added.

    Returns
    -------
    str
        Hex SHA-256: equal keys mean the same inputs, settings and calcdx version.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps({"calcdx": __version__, **settings}, sort_keys=True,
                             default=str).encode())
    for item in inputs:
        digest.update(b"\x00input\x00")
        if item is not None:
            for name, size, mtime in _input_files(item):
                digest.update(f"{name}\x00{size}\x00{mtime}\n".encode())
    return digest.hexdigest()


def remove_partials(folder: Path) -> int:
    """Delete the ``.partial-*`` folders a killed run left; returns how many."""
    count = 0
    if folder.is_dir():
        for child in folder.iterdir():
            if child.name.startswith(PARTIAL_PREFIX) and child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
                count += 1
    return count


@contextmanager
def cohort_lock(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the cohort folder for the length of a run.

    Raises
    ------
    InputError
        If another run holds the folder.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    handle = (out_dir / ".lock").open("a")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(
                f"{out_dir}: another calcdx cohort run is using this folder; wait for it to "
                "end or choose another --out"
            ) from None
        yield
    finally:
        handle.close()
