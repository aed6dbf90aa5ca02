"""Schema of a knowledge-base entry (one YAML file per entity).

Every file under ``kb/data/entities/`` is validated against :class:`Entity` when
the knowledge base is loaded and in the test suite. Field values must be
case-format vocabulary values; a frequency is a qualitative word from
``kb/data/scale.yaml`` or a published figure with its source.

Example
-------
.. code-block:: yaml

    id: myositis_ossificans
    name: Myositis ossificans
    synonyms: [myositis ossificans circumscripta]
    mechanism: ossification
    prior: {tier: common, basis: "most post-traumatic HO; qualitative (no population figure)"}
    findings:
      location: {muscle: usual, fascia_intermuscular: sometimes}
      pattern: {zonal_peripheral: {p: 0.8, source: R9, note: "mature lesions"}}
    references:
      - {key: R9, citation: "Author. Title. Journal 2000;1:1-2.", doi: "10.xxxx/yyyy"}
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from calcdx.case.vocabulary import load_vocabulary

__all__ = [
    "FREQUENCY_WORDS",
    "MECHANISMS",
    "PRIOR_TIERS",
    "SINGLE_VALUED",
    "Code",
    "Danger",
    "Entity",
    "Figure",
    "Findings",
    "Mimic",
    "Prior",
    "Range",
    "Reference",
    "Share",
    "icd10_code_problem",
    "snomed_id_problem",
    "verhoeff_valid",
]

FrequencyWord = Literal["always", "usual", "often", "sometimes", "occasional", "rare", "never"]
FREQUENCY_WORDS: tuple[str, ...] = FrequencyWord.__args__  # type: ignore[attr-defined]

PriorTier = Literal["very_common", "common", "uncommon", "rare", "very_rare"]
PRIOR_TIERS: tuple[str, ...] = PriorTier.__args__  # type: ignore[attr-defined]

Mechanism = Literal[
    "dystrophic",
    "metastatic",
    "idiopathic",
    "iatrogenic",
    "calciphylaxis",
    "crystal",
    "ossification",
    "neoplastic",
    "vascular",
    "parasitic",
    "granulomatous",
    "concretion",
    "degenerative_physiological",
    "genetic",
    "foreign_or_artefact",
    "mixed",
]
MECHANISMS: tuple[str, ...] = Mechanism.__args__  # type: ignore[attr-defined]

_ENTRY = ConfigDict(extra="forbid", frozen=True)


class Figure(BaseModel):
    """A published frequency.

    Attributes
    ----------
    p : float
        The proportion, 0 to 1.
    source : str
        Key of one of this entry's ``references``.
    note : str, optional
        Cohort, numerator/denominator, modality.
    """

    model_config = _ENTRY

    p: float = Field(ge=0.0, le=1.0)
    source: str
    note: str | None = None


Frequency = FrequencyWord | Figure

#: A share of a single-valued field: a word, a published figure, or a plain number (a
#: qualitative apportionment of the entity's cases over the field's values, not a figure).
Share = FrequencyWord | Figure | Annotated[float, Field(ge=0.0, le=1.0)]

#: Single-valued fields of :class:`Findings`: each is a categorical distribution.
SINGLE_VALUED: tuple[str, ...] = ("region", "location", "organ", "matrix", "extent", "evolution")


class Findings(BaseModel):
    """For each case-format field, the values seen with this entity and how often.

    Multi-valued fields (``pattern``, ``arrangement``, ``associated``,
    ``clinical``): each frequency is an independent P(value present | entity).
    Single-valued fields (``region``, ``location``, ``organ``, ``matrix``,
    ``extent``, ``evolution``): a categorical distribution, P(field = value |
    entity); the listed values sum to at most 1 (checked by the loader, which
    knows the numbers behind the words) and what they leave is spread over the
    unlisted values as ``scale.yaml`` states. A single-valued value may also be a
    plain number in [0, 1]: a qualitative share, not a published figure.
    """

    model_config = _ENTRY

    region: dict[str, Share] = Field(default_factory=dict)
    location: dict[str, Share] = Field(default_factory=dict)
    organ: dict[str, Share] = Field(default_factory=dict)
    matrix: dict[str, Share] = Field(default_factory=dict)
    pattern: dict[str, Frequency] = Field(default_factory=dict)
    extent: dict[str, Share] = Field(default_factory=dict)
    arrangement: dict[str, Frequency] = Field(default_factory=dict)
    associated: dict[str, Frequency] = Field(default_factory=dict)
    evolution: dict[str, Share] = Field(default_factory=dict)
    clinical: dict[str, Frequency] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _values_in_vocabulary(self) -> Findings:
        vocabulary = load_vocabulary()
        for field in type(self).model_fields:
            for value in getattr(self, field):
                if not vocabulary.allows(field, value):
                    allowed = ", ".join(vocabulary.values(field))
                    raise ValueError(
                        f"findings.{field}: {value!r} is not a {field} value of the case "
                        f"format; allowed: {allowed}"
                    )
        return self


class Range(BaseModel):
    """A typical range (about a 90 % interval), in the unit its field names."""

    model_config = _ENTRY

    min: float = Field(ge=0)
    max: float = Field(gt=0)
    source: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.max <= self.min:
            raise ValueError(f"range max ({self.max}) must be greater than min ({self.min})")
        return self


class Prior(BaseModel):
    """How common the entity is among soft-tissue calcifications.

    Attributes
    ----------
    tier : str
        One of ``very_common``, ``common``, ``uncommon``, ``rare``, ``very_rare``.
    basis : str
        The figure the tier rests on (with its reference key), or the words
        "qualitative" and why, when the literature gives no figure.
    """

    model_config = _ENTRY

    tier: PriorTier
    basis: str = Field(min_length=3)


class Danger(BaseModel):
    """Why this entity must not be missed; raises a red flag when it stays likely."""

    model_config = _ENTRY

    kind: Literal["malignancy", "urgent", "infection_mimic", "do_not_biopsy"]
    message: str = Field(min_length=10)


class Mimic(BaseModel):
    """Another entity that looks like this one, and how to tell them apart."""

    model_config = _ENTRY

    id: str
    how_to_tell: str = Field(min_length=10)


class Reference(BaseModel):
    """A citation with a DOI or a web address."""

    model_config = _ENTRY

    key: str = Field(min_length=1)
    citation: str = Field(min_length=10)
    doi: str | None = None
    url: str | None = None

    @field_validator("doi")
    @classmethod
    def _doi_shape(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("10."):
            raise ValueError(f"doi {value!r} must start with '10.' (give the bare DOI)")
        return value

    @model_validator(mode="after")
    def _locatable(self) -> Reference:
        if not self.doi and not self.url:
            raise ValueError(f"reference {self.key!r} needs a doi or a url")
        return self


#: FHIR ``system`` URIs of the code systems an entity may be coded in.
CodeSystem = Literal[
    "http://snomed.info/sct", "http://radlex.org", "http://hl7.org/fhir/sid/icd-10"
]

SNOMED_SYSTEM = "http://snomed.info/sct"
RADLEX_SYSTEM = "http://radlex.org"
ICD10_SYSTEM = "http://hl7.org/fhir/sid/icd-10"

# Verhoeff dihedral-group tables (multiplication D5 and the position permutation), as
# SNOMED CT's identifier specification uses for the check digit of every SCTID.
_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6), (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4), (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2), (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)

_SNOMED_SHAPE = re.compile(r"^[1-9]\d{5,17}$")
_RADLEX_SHAPE = re.compile(r"^RID\d+$")
#: WHO ICD-10: a letter, two digits, optionally a dot and one digit (no ICD-10-CM extensions).
_ICD10_SHAPE = re.compile(r"^[A-Z]\d{2}(\.\d)?$")


def verhoeff_valid(number: str) -> bool:
    """Whether a digit string ends in its correct Verhoeff check digit.

    Parameters
    ----------
    number : str
        Decimal digits, the last of which is the check digit (e.g. a SNOMED CT id).

    Returns
    -------
    bool
        True when the Verhoeff checksum over all digits is zero.
    """
    if not number.isdigit():
        return False
    check = 0
    for position, digit in enumerate(reversed(number)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[position % 8][int(digit)]]
    return check == 0


def snomed_id_problem(code: str) -> str | None:
    """Why `code` is not a SNOMED CT concept id, or None when it is well formed.

    A concept id (SCTID) is 6 to 18 digits without a leading zero, whose last digit
    is a Verhoeff check digit and whose two digits before it are the partition
    identifier of a concept: ``00`` (short format) or ``10`` (an extension's namespace).
    """
    if not _SNOMED_SHAPE.match(code):
        return "must be 6 to 18 digits without a leading zero"
    if not verhoeff_valid(code):
        return "fails its Verhoeff check digit (a mistyped or invented id)"
    if code[-3:-1] not in ("00", "10"):
        return (
            f"partition {code[-3:-1]!r} is not a concept's (00 or 10); "
            "is it a description or relationship id?"
        )
    return None


def icd10_code_problem(code: str) -> str | None:
    """Why `code` is not a WHO ICD-10 category or subcategory, or None when it is."""
    if not _ICD10_SHAPE.match(code):
        return (
            "must be a letter, two digits and optionally a dot and one digit "
            "(WHO ICD-10, e.g. M61.0; not ICD-10-CM's longer codes)"
        )
    return None


class Code(BaseModel):
    """A standard code of the entity, with where it was checked.

    Attributes
    ----------
    system : str
        ``http://snomed.info/sct`` (SNOMED CT concept id), ``http://radlex.org``
        (RadLex RID) or ``http://hl7.org/fhir/sid/icd-10`` (WHO ICD-10 category).
    code : str
        The concept id (digits), RID (``RID`` and digits) or ICD-10 code (a letter,
        two digits, optionally a dot and one digit, e.g. ``M61.0``).
    display : str
        The concept's term.
    match : {"exact", "broader", "partial"}
        How the code stands to the entity: ``exact`` (it means the same thing, the
        default), ``broader`` (the entity is one kind of it, e.g. *Chronic pancreatitis*
        for chronic calcific pancreatitis) or ``partial`` (it names one part or form of
        the entity). The note then starts with the same word and ``codes_note`` names
        the code. Only an exact SNOMED CT concept stands for the entity in the DICOM SR
        and alone in FHIR; otherwise the outputs add calcdx's own code.
    source : str
        Address of the page the code was read from.
    note : str, optional
        What the source shows (e.g. a listing of several ids).

    Notes
    -----
    The loader rejects a code that does not fit its system: a SNOMED CT id whose
    Verhoeff check digit is wrong or whose partition is not a concept's
    (:func:`snomed_id_problem`), an ICD-10 code not of WHO's shape
    (:func:`icd10_code_problem`), a RadLex id that is not ``RID`` and digits.
    """

    model_config = _ENTRY

    system: CodeSystem
    code: str = Field(pattern=r"^(\d{6,18}|RID\d+|[A-Z]\d{2}(\.\d)?)$")
    display: str = Field(min_length=3)
    match: Literal["exact", "broader", "partial"] = "exact"
    source: str = Field(pattern=r"^https?://")
    note: str | None = None

    @model_validator(mode="after")
    def _match_said_in_note(self) -> Code:
        note = (self.note or "").lower()
        said = (
            "broader" if note.startswith("broader")
            else "partial" if note.startswith("part of the entity") else "exact"
        )
        if said != self.match:
            raise ValueError(
                f"codes: {self.code!r} has match {self.match!r} but its note reads as {said!r}; "
                "a broader code's note starts 'broader:', a partial one's 'part of the entity:'"
            )
        return self

    @model_validator(mode="after")
    def _code_fits_its_system(self) -> Code:
        if self.system == SNOMED_SYSTEM:
            problem = snomed_id_problem(self.code)
            kind = "SNOMED CT concept id"
        elif self.system == ICD10_SYSTEM:
            problem = icd10_code_problem(self.code)
            kind = "ICD-10 code"
        else:
            problem = None if _RADLEX_SHAPE.match(self.code) else "must be RID and digits"
            kind = "RadLex id"
        if problem:
            raise ValueError(
                f"codes: {kind} {self.code!r} ({self.display}) {problem}; "
                "copy the id again from its source page"
            )
        return self


class Entity(BaseModel):
    """One diagnosis of the knowledge base.

    ``codes`` holds only codes read from a source (``Code.source``); an entity
    without a checked code says so in ``codes_note`` instead of guessing one.
    """

    model_config = _ENTRY

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(min_length=3)
    synonyms: list[str] = Field(default_factory=list)
    mechanism: Mechanism
    prior: Prior
    findings: Findings = Field(default_factory=Findings)
    labs: dict[str, dict[str, Frequency]] = Field(default_factory=dict)
    age_years: Range | None = None
    female: Frequency | None = None
    size_mm: Range | None = None
    danger: Danger | None = None
    red_flags: list[str] = Field(default_factory=list)
    mimics: list[Mimic] = Field(default_factory=list)
    next_steps: list[str] = Field(min_length=1)
    references: list[Reference] = Field(min_length=1)
    notes: str | None = None
    codes: list[Code] = Field(default_factory=list)
    codes_note: str | None = None

    @field_validator("labs")
    @classmethod
    def _labs_in_vocabulary(
        cls, labs: dict[str, dict[str, Frequency]]
    ) -> dict[str, dict[str, Frequency]]:
        vocabulary = load_vocabulary()
        for lab, levels in labs.items():
            if not vocabulary.allows("labs", lab):
                allowed = ", ".join(vocabulary.values("labs"))
                raise ValueError(f"{lab!r} is not a lab of the case format; allowed: {allowed}")
            for level in levels:
                if not vocabulary.allows("lab_level", level):
                    raise ValueError(f"labs.{lab}: {level!r} is not low, normal or high")
        return labs

    @model_validator(mode="after")
    def _coded_or_said_why_not(self) -> Entity:
        if not self.codes and not self.codes_note:
            raise ValueError(
                "codes: give a checked standard code, or codes_note saying why there is none"
            )
        return self

    @model_validator(mode="after")
    def _sources_resolve(self) -> Entity:
        keys = {reference.key for reference in self.references}
        if len(keys) != len(self.references):
            raise ValueError("references: two references share a key; keys must be unique")
        for where, figure in self.figures():
            if figure.source not in keys:
                raise ValueError(
                    f"{where}: source {figure.source!r} is not a key of this entry's "
                    f"references ({', '.join(sorted(keys))})"
                )
        for name, span in (("age_years", self.age_years), ("size_mm", self.size_mm)):
            if span is not None and span.source is not None and span.source not in keys:
                raise ValueError(f"{name}: source {span.source!r} is not a reference key")
        return self

    def figures(self) -> list[tuple[str, Figure]]:
        """List every published figure in the entry with where it stands."""
        found: list[tuple[str, Figure]] = []
        for field in Findings.model_fields:
            for value, frequency in getattr(self.findings, field).items():
                if isinstance(frequency, Figure):
                    found.append((f"findings.{field}.{value}", frequency))
        for lab, levels in self.labs.items():
            for level, frequency in levels.items():
                if isinstance(frequency, Figure):
                    found.append((f"labs.{lab}.{level}", frequency))
        if isinstance(self.female, Figure):
            found.append(("female", self.female))
        return found
