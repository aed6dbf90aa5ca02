"""The case format: vocabulary and validated case model (``calcdx-case/1``)."""

from calcdx.case.model import Case, Imaging, Patient, parse_case
from calcdx.case.vocabulary import (
    CASE_FORMAT,
    CATEGORICAL_FIELDS,
    MULTI_FIELDS,
    Vocabulary,
    load_vocabulary,
)

__all__ = [
    "CASE_FORMAT",
    "CATEGORICAL_FIELDS",
    "MULTI_FIELDS",
    "Case",
    "Imaging",
    "Patient",
    "Vocabulary",
    "load_vocabulary",
    "parse_case",
]
