"""The case-format vocabulary: every allowed value of every field.

The values live in ``vocabulary.yaml`` beside this module (data, not code) and
are read once per process by :func:`load_vocabulary`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Final

import yaml

__all__ = [
    "CASE_FORMAT",
    "CATEGORICAL_FIELDS",
    "MULTI_FIELDS",
    "Vocabulary",
    "load_vocabulary",
]

CASE_FORMAT: Final = "calcdx-case/1"

#: Imaging fields that hold one value per case (a categorical variable).
CATEGORICAL_FIELDS: Final = ("region", "location", "organ", "matrix", "extent", "evolution")

#: Fields that hold zero or more values (each value a present/absent finding).
MULTI_FIELDS: Final = ("pattern", "arrangement", "associated", "clinical")


@dataclass(frozen=True)
class Vocabulary:
    """Allowed values of the case format, field by field.

    Attributes
    ----------
    fields : dict of str to tuple of str
        Field name (``region``, ``pattern``, ``clinical``, ``labs``, ...) to its
        allowed values, in the order of the contract.
    """

    fields: dict[str, tuple[str, ...]]

    def values(self, field: str) -> tuple[str, ...]:
        """Return the allowed values of `field`.

        Parameters
        ----------
        field : str
            A vocabulary field name such as ``"pattern"`` or ``"lab_level"``.

        Returns
        -------
        tuple of str
            The allowed values, in contract order.
        """
        return self.fields[field]

    def allows(self, field: str, value: str) -> bool:
        """Tell whether `value` is an allowed value of `field`."""
        return value in self.fields.get(field, ())


@lru_cache(maxsize=1)
def load_vocabulary() -> Vocabulary:
    """Read the packaged vocabulary file (once per process).

    Returns
    -------
    Vocabulary
        The case-format vocabulary.
    """
    text = resources.files("calcdx.case").joinpath("vocabulary.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)
    fields = {key: tuple(value) for key, value in raw.items() if isinstance(value, list)}
    return Vocabulary(fields=fields)
