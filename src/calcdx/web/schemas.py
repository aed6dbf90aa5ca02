"""Request and response shapes of the REST API, for its OpenAPI document.

The routes validate cases with :func:`calcdx.case.parse_case` (so errors read
exactly as on the command line); the models here describe the JSON for readers
of the schema and for schemathesis.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from calcdx.case.vocabulary import CASE_FORMAT, Vocabulary

__all__ = [
    "ContributionOut",
    "DifferentialOut",
    "ErrorOut",
    "JobOut",
    "KbSummary",
    "NextFindingOut",
    "RankedOut",
    "ReferenceOut",
    "case_json_schema",
]


class ErrorOut(BaseModel):
    """Every 4xx answer: one line saying what is wrong and how to fix it."""

    detail: str


class ContributionOut(BaseModel):
    """How much one finding moved one entity."""

    finding: str
    likelihood_ratio: float
    log10_lr: float


class RankedOut(BaseModel):
    """One entity of the differential."""

    entity: str
    name: str
    probability: float = Field(ge=0, le=1)
    prior: float
    supports: list[str]
    against: list[str]
    contributions: list[ContributionOut]
    red_flags: list[str]
    next_steps: list[str]
    references: list[str]


class RankingOut(BaseModel):
    """One entity of the whole ranking, with its probability."""

    entity: str
    probability: float = Field(ge=0, le=1)


class NextFindingOut(BaseModel):
    """A finding worth checking next."""

    field: str
    value: str
    information_bits: float
    why: str


class DifferentialOut(BaseModel):
    """A ``calcdx-differential/1`` document."""

    format: Literal["calcdx-differential/1"]
    case_id: str | None
    differential: list[RankedOut]
    ranking: list[RankingOut] = Field(
        description="every entity of the knowledge base, most probable first"
    )
    next_findings: list[NextFindingOut]
    red_flags: list[str]
    probability_floor: float


class ReferenceOut(BaseModel):
    """A citation with its DOI or address."""

    key: str
    citation: str
    doi: str | None = None
    url: str | None = None


class KbSummary(BaseModel):
    """One knowledge-base entity in a listing (as ``calcdx kb list --json``)."""

    id: str
    name: str
    synonyms: list[str]
    mechanism: str
    references: list[ReferenceOut]


class JobOut(BaseModel):
    """A study analysis job."""

    id: str
    status: Literal["queued", "running", "done", "failed"]
    step: str | None
    progress: float = Field(ge=0, le=1)
    created: str
    updated: str
    error: str | None
    result_url: str | None = Field(description="GET it once status is 'done'")


def _enum(vocabulary: Vocabulary, name: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(vocabulary.values(name))}


def _list(vocabulary: Vocabulary, name: str) -> dict[str, Any]:
    return {"type": "array", "items": _enum(vocabulary, name), "uniqueItems": True}


def case_json_schema(vocabulary: Vocabulary) -> dict[str, Any]:
    """JSON Schema of a ``calcdx-case/1`` case, with every allowed value.

    Parameters
    ----------
    vocabulary : Vocabulary
        The case-format vocabulary.

    Returns
    -------
    dict
        A JSON Schema object (OpenAPI 3.1 dialect).
    """
    nullable = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    imaging: dict[str, Any] = {
        name: {"anyOf": [_enum(vocabulary, name), {"type": "null"}]}
        for name in ("modality", "region", "location", "organ", "matrix", "extent", "evolution")
    }
    imaging |= {
        "pattern": _list(vocabulary, "pattern"),
        "arrangement": _list(vocabulary, "arrangement"),
        "associated": _list(vocabulary, "associated"),
        "associated_absent": _list(vocabulary, "associated"),
        "size_mm": {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0, "maximum": 2000},
                {"type": "null"},
            ]
        },
    }
    return {
        "title": "Case",
        "description": (
            "A case in the calcdx case format. Everything but 'format' is optional; a "
            "missing field means 'not known'. A value may not be both present and absent."
        ),
        "type": "object",
        "additionalProperties": False,
        "required": ["format"],
        "properties": {
            "format": {"type": "string", "const": CASE_FORMAT},
            "id": nullable,
            "patient": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "age_years": {
                        "anyOf": [
                            {"type": "number", "minimum": 0, "maximum": 120},
                            {"type": "null"},
                        ]
                    },
                    "sex": {"anyOf": [_enum(vocabulary, "sex"), {"type": "null"}]},
                },
            },
            "clinical": _list(vocabulary, "clinical"),
            "clinical_absent": _list(vocabulary, "clinical"),
            "labs": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    lab: _enum(vocabulary, "lab_level") for lab in vocabulary.values("labs")
                },
            },
            "imaging": {"type": "object", "additionalProperties": False, "properties": imaging},
        },
        "example": {
            "format": CASE_FORMAT,
            "id": "example",
            "patient": {"age_years": 34, "sex": "male"},
            "clinical": ["trauma_recent"],
            "imaging": {"region": "thigh", "location": "muscle", "pattern": ["zonal_peripheral"]},
        },
    }
