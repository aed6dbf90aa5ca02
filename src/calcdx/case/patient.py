"""Patient age and sex from the DICOM header, merged with what the user gives.

Rules
-----
* Age: PatientAge (0010,1010), an Age String ``nnnD``, ``nnnW``, ``nnnM`` or
  ``nnnY`` (DICOM PS3.5 section 6.2, VR AS), in years (days / 365.25, weeks x
  7 / 365.25, months / 12); else PatientBirthDate (0010,0030) with the first of
  StudyDate, SeriesDate, AcquisitionDate, ContentDate (whole days / 365.25).
* An age outside 0-120 years (the case format's range; placeholder birth dates
  such as 1900-01-01 of anonymised series) is not known.
* Sex: PatientSex (0010,0040) ``M`` -> male, ``F`` -> female; ``O`` or empty
  is not known.
* The user's values (``--age``, ``--sex``, a context file) win over the header.
* Only age and sex are kept: no birth date or other identifier reaches
  ``result.json``.
* Where sex is not known, the differential marginalises over it (the naive-Bayes
  engine then applies no sex factor, which equals weighting the female and male
  posteriors by P(sex | findings)), and an entity that occurs in one sex only is
  flagged as such instead of being presented as if the sex were known.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "ONE_SEX",
    "PatientContext",
    "PatientHeader",
    "merge_patient",
    "one_sex_note",
    "patient_from_header",
]

Sex = Literal["female", "male"]

#: P(female | entity) at or above (or 1 minus it at or below): the entity occurs in one
#: sex only (the knowledge base's ``always`` / ``never``, kb/data/scale.yaml).
ONE_SEX = 0.95

#: Oldest age the case format accepts (``patient.age_years``); a header age beyond it
#: (a placeholder birth date) is taken as not known.
MAX_AGE_YEARS = 120.0

_AGE = re.compile(r"^\s*(\d{1,3})\s*([DWMY])\s*$", re.IGNORECASE)
_UNIT_YEARS = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0}


class PatientHeader(BaseModel):
    """Age and sex read from a DICOM header (no identifiers).

    Attributes
    ----------
    age_years : float or None
    sex : {"female", "male"} or None
    age_source, sex_source : str or None
        The attributes the values come from.
    """

    model_config = ConfigDict(frozen=True)

    age_years: float | None = None
    sex: Sex | None = None
    age_source: str | None = None
    sex_source: str | None = None


class PatientContext(BaseModel):
    """The patient context the differential used, with where each value came from."""

    model_config = ConfigDict(frozen=True)

    age_years: float | None = None
    sex: Sex | None = None
    age_source: str | None = None
    sex_source: str | None = None
    notes: list[str] = []


def _date(value: Any) -> date | None:
    text = str(value or "").strip()
    if not re.fullmatch(r"\d{8}", text):
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def patient_from_header(header: Any) -> PatientHeader:
    """Read patient age and sex from a DICOM dataset (or a mapping of keywords).

    Parameters
    ----------
    header : pydicom.Dataset or mapping
        Anything with ``.get(keyword)``.

    Returns
    -------
    PatientHeader
        Unknown values are None.
    """
    age = age_source = None
    match = _AGE.match(str(header.get("PatientAge", "") or ""))
    if match:
        age = round(int(match.group(1)) * _UNIT_YEARS[match.group(2).upper()], 2)
        age_source = "DICOM PatientAge"
    else:
        birth = _date(header.get("PatientBirthDate"))
        for key in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
            when = _date(header.get(key))
            if birth is not None and when is not None and when >= birth:
                age = round((when - birth).days / 365.25, 2)
                age_source = f"DICOM PatientBirthDate and {key}"
                break
    code = str(header.get("PatientSex", "") or "").strip().upper()
    sex: Sex | None = {"F": "female", "M": "male"}.get(code)  # type: ignore[assignment]
    if age is not None and not 0 <= age <= MAX_AGE_YEARS:
        age, age_source = None, None
    return PatientHeader(age_years=age, sex=sex, age_source=age_source,
                         sex_source="DICOM PatientSex" if sex else None)


def merge_patient(context: Mapping[str, Any], metadata: Mapping[str, Any]
                  ) -> tuple[dict[str, Any], PatientContext]:
    """Fill the context's patient age and sex from the header where the user gave none.

    Parameters
    ----------
    context : mapping
        Validated case-format context (``patient``, ``clinical``...).
    metadata : mapping
        Volume metadata; ``patient`` holds a :class:`PatientHeader` dump (DICOM).

    Returns
    -------
    context : dict
        A copy with ``patient`` completed.
    used : PatientContext
        The values and their sources, with notes for the report.
    """
    out = dict(context)
    patient = dict(out.get("patient", {}) or {})
    header = PatientHeader(**(metadata.get("patient") or {}))
    age_source = "given by the user" if patient.get("age_years") is not None else None
    sex_source = "given by the user" if patient.get("sex") is not None else None
    if age_source is None and header.age_years is not None:
        patient["age_years"], age_source = header.age_years, header.age_source
    if sex_source is None and header.sex is not None:
        patient["sex"], sex_source = header.sex, header.sex_source
    if patient:
        out["patient"] = patient
    where = "the DICOM header" if metadata.get("source") == "dicom" else (
        "the input (a NIfTI image has no patient header)")
    notes = []
    if patient.get("age_years") is None:
        notes.append(f"Patient age not known: not given and not in {where}; age is not used.")
    if patient.get("sex") is None:
        notes.append(
            f"Patient sex not known: not given and not in {where}; the differential weighs "
            "both sexes, and entities of one sex only are marked so.")
    used = PatientContext(age_years=patient.get("age_years"), sex=patient.get("sex"),
                          age_source=age_source, sex_source=sex_source, notes=notes)
    return out, used


def one_sex_note(p_female: float, sex: str | None) -> str | None:
    """The caveat for an entity of one sex only when the patient's sex is not known.

    Parameters
    ----------
    p_female : float
        P(female | entity).
    sex : str or None
        The patient's sex, if known.

    Returns
    -------
    str or None
    """
    if sex is not None:
        return None
    if p_female >= ONE_SEX:
        return "occurs in women only; the patient's sex is not known"
    if p_female <= 1 - ONE_SEX:
        return "occurs in men only; the patient's sex is not known"
    return None
