"""Reading case files: one JSON object per file, JSON Lines, or standard input."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calcdx.case.jsontext import JsonTextError, loads_bounded
from calcdx.case.model import Case, parse_case
from calcdx.errors import CaseError, InputError

__all__ = ["CaseRecord", "read_cases"]


@dataclass(frozen=True)
class CaseRecord:
    """One case read from input: validated, or the error that stopped it.

    Attributes
    ----------
    origin : str
        File name and line (``cases.jsonl:3``) for messages.
    case : Case or None
        The validated case.
    case_id : str or None
        The ``id`` found in the raw object, when there was one.
    error : str or None
        One-line problem when the case failed validation.
    """

    origin: str
    case: Case | None
    case_id: str | None
    error: str | None


def _record(origin: str, raw: Any) -> CaseRecord:
    case_id = raw.get("id") if isinstance(raw, dict) else None
    try:
        return CaseRecord(origin, parse_case(raw), case_id, None)
    except CaseError as exc:
        return CaseRecord(origin, None, case_id if isinstance(case_id, str) else None, str(exc))


def _lines(name: str, text: str) -> Iterator[CaseRecord]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        origin = f"{name}:{number}"
        try:
            raw = loads_bounded(line)
        except JsonTextError as exc:
            yield CaseRecord(origin, None, None, str(exc).replace(" at line 1,", " at"))
            continue
        yield _record(origin, raw)


def read_cases(sources: list[str]) -> Iterator[CaseRecord]:
    """Read cases from files, in order.

    Parameters
    ----------
    sources : list of str
        Paths to ``.json`` files (one case each), ``.jsonl`` files (one case a
        line), or ``-`` for JSON Lines (or one JSON object) on standard input.

    Yields
    ------
    CaseRecord
        One per case, in input order.

    Raises
    ------
    InputError
        When a file cannot be read or a ``.json`` file is not valid JSON.
    """
    for source in sources:
        if source == "-":
            text = sys.stdin.read()
            try:
                whole = loads_bounded(text)
            except JsonTextError:
                yield from _lines("<stdin>", text)  # JSON Lines: one case per line
            else:
                yield _record("<stdin>", whole)  # one (possibly pretty-printed) case
            continue
        path = Path(source)
        try:
            text = path.read_text("utf-8")
        except FileNotFoundError:
            raise InputError(
                f"{source}: no such file; give a case file (.json or .jsonl)"
            ) from None
        except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
            raise InputError(f"{source}: cannot read it as a text case file ({exc})") from None
        if path.suffix == ".jsonl":
            yield from _lines(path.name, text)
            continue
        try:
            raw = loads_bounded(text)
        except JsonTextError as exc:
            hint = (
                "; a .json file holds one case object, use .jsonl for one case per line"
                if str(exc).startswith("not valid JSON")
                else ""
            )
            raise InputError(f"{source}: {exc}{hint}") from None
        yield _record(path.name, raw)
