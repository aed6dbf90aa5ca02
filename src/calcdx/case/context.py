"""Clinical context for a study: patient, history and labs, from a file or flags.

The context is the case-format fields the images cannot give (``patient``,
``clinical``, ``clinical_absent``, ``labs``). It is validated with the same
rules and the same one-line messages as a case.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from calcdx.case.jsontext import JsonTextError, loads_bounded
from calcdx.case.model import parse_case
from calcdx.case.vocabulary import CASE_FORMAT
from calcdx.errors import CaseError, InputError

__all__ = ["CONTEXT_FIELDS", "build_context"]

#: Case-format fields a context may hold.
CONTEXT_FIELDS = ("patient", "clinical", "clinical_absent", "labs")


def _read_context_file(path: Path) -> dict[str, Any]:
    try:
        raw = loads_bounded(path.read_bytes())
    except FileNotFoundError:
        raise InputError(f"{path}: no such context file") from None
    except (IsADirectoryError, PermissionError) as exc:
        raise InputError(f"{path}: cannot read the context file ({exc.strerror})") from None
    except JsonTextError as exc:
        raise InputError(f"{path}: {exc}") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: a context file holds one JSON object (patient, clinical, labs)")
    extra = sorted(set(raw) - set(CONTEXT_FIELDS) - {"format", "id", "imaging"})
    if extra:
        raise CaseError(f"{extra[0]}: unknown context field; allowed: {', '.join(CONTEXT_FIELDS)}")
    return {key: raw[key] for key in CONTEXT_FIELDS if key in raw}


def build_context(
    *,
    file: Path | None = None,
    age_years: float | None = None,
    sex: str | None = None,
    history: list[str] | None = None,
    history_absent: list[str] | None = None,
    labs: list[str] | None = None,
) -> dict[str, Any]:
    """Merge a context file and command-line flags into validated case fields.

    Parameters
    ----------
    file : Path, optional
        Case-format JSON holding any of ``patient``, ``clinical``,
        ``clinical_absent``, ``labs`` (a whole case is accepted; its imaging is ignored).
    age_years, sex : optional
        Patient age in years and sex; override the file.
    history, history_absent : list of str, optional
        ``clinical`` values present or absent; added to the file's.
    labs : list of str, optional
        ``name=level`` items such as ``calcium=high``; override the file's.

    Returns
    -------
    dict
        Case-format ``patient``, ``clinical``, ``clinical_absent`` and ``labs`` (only those given).

    Raises
    ------
    CaseError
        With the field, the bad value and the allowed values.
    """
    context: dict[str, Any] = _read_context_file(file) if file is not None else {}
    patient = dict(context.get("patient", {}))
    if age_years is not None:
        patient["age_years"] = age_years
    if sex is not None:
        patient["sex"] = sex
    if patient:
        context["patient"] = patient
    for key, extra in (("clinical", history), ("clinical_absent", history_absent)):
        if extra:
            context[key] = list(dict.fromkeys([*context.get(key, []), *extra]))
    if labs:
        merged = dict(context.get("labs", {}))
        for item in labs:
            name, sep, level = item.partition("=")
            if not sep:
                raise CaseError(f"--lab {item!r}: write it as name=level, e.g. calcium=high")
            merged[name.strip()] = level.strip()
        context["labs"] = merged
    parse_case({"format": CASE_FORMAT, **context})
    return context
