"""The case: what a radiologist (or the CT pipeline) observed, as validated data.

:func:`parse_case` turns a JSON-like mapping into a :class:`Case` or raises
:class:`~calcdx.errors.CaseError` with one line naming the field, the bad value
and the allowed values. A missing field means "not known"; absence is stated
only through ``clinical_absent`` and ``imaging.associated_absent``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from calcdx.case.vocabulary import CASE_FORMAT, load_vocabulary
from calcdx.errors import CaseError

__all__ = ["Case", "Imaging", "Patient", "parse_case"]


def _term(field: str) -> Any:
    """The type of one vocabulary value: a ``Literal`` of the allowed values (checked in Rust)."""
    return Literal[load_vocabulary().values(field)]


def _no_duplicates(values: list[str]) -> list[str]:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{value!r} is listed twice; list each value once")
        seen.add(value)
    return values


def _terms(field: str) -> Any:
    item: Any = _term(field)
    return Annotated[list[item], AfterValidator(_no_duplicates)]


_STRICT = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Patient(BaseModel):
    """Demographics.

    Attributes
    ----------
    age_years : float or None
        Age in years, 0 to 120: a JSON number (``true`` or ``"45"`` are refused).
    sex : {'female', 'male'} or None
        Sex.
    """

    model_config = _STRICT

    age_years: float | None = Field(default=None, ge=0, le=120, strict=True)
    sex: _term("sex") | None = None  # type: ignore[valid-type]


class Imaging(BaseModel):
    """What the images show; see the case-format vocabulary for each field."""

    model_config = _STRICT

    modality: _term("modality") | None = None  # type: ignore[valid-type]
    region: _term("region") | None = None  # type: ignore[valid-type]
    location: _term("location") | None = None  # type: ignore[valid-type]
    organ: _term("organ") | None = None  # type: ignore[valid-type]
    matrix: _term("matrix") | None = None  # type: ignore[valid-type]
    pattern: _terms("pattern") = Field(default_factory=list)  # type: ignore[valid-type]
    extent: _term("extent") | None = None  # type: ignore[valid-type]
    arrangement: _terms("arrangement") = Field(default_factory=list)  # type: ignore[valid-type]
    size_mm: float | None = Field(default=None, gt=0, le=2000, strict=True)
    associated: _terms("associated") = Field(default_factory=list)  # type: ignore[valid-type]
    associated_absent: _terms("associated") = Field(default_factory=list)  # type: ignore[valid-type]
    evolution: _term("evolution") | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _present_or_absent(self) -> Imaging:
        both = sorted(set(self.associated) & set(self.associated_absent))
        if both:
            raise ValueError(
                f"{both[0]!r} is in both associated and associated_absent; keep it in one"
            )
        return self


class Case(BaseModel):
    """One case in the calcdx case format (``calcdx-case/1``)."""

    model_config = _STRICT

    format: str
    id: str | None = None
    patient: Patient = Field(default_factory=Patient)
    clinical: _terms("clinical") = Field(default_factory=list)  # type: ignore[valid-type]
    clinical_absent: _terms("clinical") = Field(default_factory=list)  # type: ignore[valid-type]
    labs: dict[_term("labs"), _term("lab_level")] = Field(default_factory=dict)  # type: ignore[valid-type]
    imaging: Imaging = Field(default_factory=Imaging)

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value != CASE_FORMAT:
            raise ValueError(f"{value!r} is not a supported format; use {CASE_FORMAT!r}")
        return value

    @model_validator(mode="after")
    def _check(self) -> Case:
        both = sorted(set(self.clinical) & set(self.clinical_absent))
        if both:
            raise ValueError(f"{both[0]!r} is in both clinical and clinical_absent; keep it in one")
        return self

    def to_json_dict(self) -> dict[str, Any]:
        """Return the case as a case-format mapping, leaving out unknown fields."""
        return self.model_dump(mode="json", exclude_defaults=True) | {"format": self.format}


def _location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]" if parts else f"[{item}]"
        elif item.startswith(("function-after", "constrained-str", "[key]")):
            continue
        else:
            parts.append(item)
    return ".".join(parts)


def _describe(error: Any, data: Mapping[str, Any]) -> str:
    loc = tuple(error["loc"])
    where = _location(loc) or "case"
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        parent = loc[:-1]
        allowed = _field_names(parent)
        return f"{where}: unknown field; allowed fields here: {', '.join(allowed)}"
    if kind == "missing":
        return f'{where}: required field is missing (every case needs "format": "{CASE_FORMAT}")'
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "literal_error":
        expected = str(error.get("ctx", {}).get("expected", ""))
        choices = ", ".join(re.findall(r"'([^']*)'", expected))
        return f"{where}: {value!r} is not an allowed value; allowed values: {choices}"
    if kind in {"value_error", "assertion_error"}:
        return f"{where}: {message}"
    return f"{where}: {value!r} is not valid: {message}"


def _field_names(parent: tuple[int | str, ...]) -> list[str]:
    model: type[BaseModel] = Case
    for item in parent:
        if item == "patient":
            model = Patient
        elif item == "imaging":
            model = Imaging
    return list(model.model_fields)


def parse_case(data: Any) -> Case:
    """Validate a case-format mapping.

    Parameters
    ----------
    data : mapping
        The decoded JSON object of one case.

    Returns
    -------
    Case
        The validated case.

    Raises
    ------
    CaseError
        With one line naming the field, the bad value and the allowed values.
    """
    if not isinstance(data, Mapping):
        raise CaseError(
            f"a case must be a JSON object, got {type(data).__name__}; "
            f'start from {{"format": "{CASE_FORMAT}"}}'
        )
    try:
        return Case.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise CaseError(_describe(first, data)) from None
