"""From a case to evidence: one likelihood vector per stated finding.

Unknown (unstated) findings contribute nothing; stated values contribute
P(value | e); findings listed in ``clinical_absent`` or
``imaging.associated_absent`` contribute P(absent | e) = 1 - P(present | e).
Where the entity's file does not list the stated value (though it describes the
field), the likelihood is multiplied by the calibration's reporting factor
(``unlisted_present`` for a stated value, ``unlisted_absent`` for a stated
absence; see
:mod:`calcdx.reasoning.model`); both are 1 in plain naive Bayes. Each item
carries its evidence group, whose exponent the calibration applies.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from calcdx.case.model import Case
from calcdx.case.vocabulary import CATEGORICAL_FIELDS
from calcdx.reasoning.model import LAB_PREFIX, LikelihoodModel, evidence_group

__all__ = ["Evidence", "gather_evidence"]


class Evidence(NamedTuple):
    """One stated finding and its likelihood under every entity.

    Attributes
    ----------
    key : str
        Machine-readable finding, e.g. ``pattern=zonal_peripheral``,
        ``associated_absent=cleft_from_bone``, ``labs.phosphate=high``,
        ``age_years=34``.
    label : str
        The finding in words for explanations.
    likelihood : (E,) ndarray
        P(finding | e), times the reporting factor where the value is unlisted.
    unlisted : (E,) ndarray of bool, or None
        Entities whose file does not list the value though it describes the field
        (None for age, size and sex).
    group : str
        Its evidence group (:data:`calcdx.reasoning.model.EVIDENCE_GROUPS`), whose
        exponent the calibration applies: ``presentation`` for the presenting
        complaint and signs, ``clinical`` for the rest of the clinical history and the
        labs, ``size`` for the size, ``imaging`` for the rest.
    """

    key: str
    label: str
    likelihood: NDArray[np.float64]
    unlisted: NDArray[np.bool_] | None = None
    group: str = "imaging"


def _fmt(number: float) -> str:
    return f"{number:g}"


def gather_evidence(case: Case, model: LikelihoodModel) -> list[Evidence]:
    """List the evidence a case states, in a fixed order.

    Parameters
    ----------
    case : Case
        A validated case.
    model : LikelihoodModel
        Compiled likelihood tables.

    Returns
    -------
    list of Evidence
        One item per stated finding; ``modality`` and ``id`` carry no evidence.
    """
    evidence: list[Evidence] = []
    imaging = case.imaging
    stated, stated_absent, unlisted = model.stated, model.stated_absent, model.unlisted
    for field in CATEGORICAL_FIELDS:
        value = getattr(imaging, field)
        if value is not None:
            key = (field, value)
            evidence.append(
                Evidence(f"{field}={value}", f"{field} {value}", stated[key], unlisted[key])
            )
    for field, values in (
        ("pattern", imaging.pattern),
        ("arrangement", imaging.arrangement),
        ("associated", imaging.associated),
        ("clinical", case.clinical),
    ):
        for value in values:
            key = (field, value)
            evidence.append(
                Evidence(
                    f"{field}={value}",
                    f"{field} {value}",
                    stated[key],
                    unlisted[key],
                    evidence_group(field, value),
                )
            )
    for field, values in (
        ("associated", imaging.associated_absent),
        ("clinical", case.clinical_absent),
    ):
        for value in values:
            key = (field, value)
            evidence.append(
                Evidence(
                    f"{field}_absent={value}",
                    f"no {value} ({field})",
                    stated_absent[key],
                    unlisted[key],
                    evidence_group(field, value),
                )
            )
    for lab, level in case.labs.items():
        key = (LAB_PREFIX + lab, level)
        evidence.append(
            Evidence(
                f"{LAB_PREFIX}{lab}={level}",
                f"{lab} {level}",
                stated[key],
                unlisted[key],
                "clinical",
            )
        )
    if imaging.size_mm is not None:
        evidence.append(
            Evidence(
                f"size_mm={_fmt(imaging.size_mm)}",
                f"size {_fmt(imaging.size_mm)} mm",
                model.size.likelihood(imaging.size_mm),
                None,
                "size",
            )
        )
    patient = case.patient
    if patient.age_years is not None:
        evidence.append(
            Evidence(
                f"age_years={_fmt(patient.age_years)}",
                f"age {_fmt(patient.age_years)} y",
                model.age.likelihood(patient.age_years),
            )
        )
    if patient.sex is not None:
        likelihood = model.female if patient.sex == "female" else 1.0 - model.female
        evidence.append(Evidence(f"sex={patient.sex}", patient.sex, likelihood))
    return evidence
