"""Coverage of the knowledge base by standard codes, as a Markdown table.

``docs/kb-codes.md`` is this table; a test keeps it equal to the entity files.
"""

from __future__ import annotations

from calcdx.kb.loader import KnowledgeBase
from calcdx.kb.schema import ICD10_SYSTEM, RADLEX_SYSTEM, SNOMED_SYSTEM, Entity

__all__ = ["coverage_markdown"]

_HEADER = """# Standard codes of the knowledge-base entities

Generated from `src/calcdx/kb/data/entities/*.yaml` (`codes`, `codes_note`) by
`calcdx.kb.coverage.coverage_markdown`; a test fails when this file and the entity files
differ. Each code was read with its term from the source named in its entity file; the
loader rejects a SNOMED CT id whose Verhoeff check digit or partition is wrong and an
ICD-10 code not of WHO's shape. *exact*: the concept means the entity; *broader*: the
entity is one kind of it; *partial*: it names one part or form of the entity. Only an exact
SNOMED CT concept stands for the entity in the DICOM SR (else the private `99CALCDX` code,
value the entity id); FHIR carries every code and adds calcdx's own coding
(`urn:calcdx:codes`, the entity id) when there is no exact SNOMED CT concept. No entity has a
RadLex id: no RadLex term list or term page could be searched for this work.

"""


def _cell(entity: Entity, system: str) -> str:
    parts = [
        f"{code.code} {code.display}" + ("" if code.match == "exact" else f" ({code.match})")
        for code in entity.codes
        if code.system == system
    ]
    return "; ".join(parts) or "-"


def coverage_markdown(kb: KnowledgeBase) -> str:
    """The coverage document: counts, then one row per entity (id order).

    Parameters
    ----------
    kb : KnowledgeBase
        The loaded knowledge base.

    Returns
    -------
    str
        Markdown text ending in a newline.
    """
    entities = sorted(kb, key=lambda e: e.id)

    def having(system: str, exact: bool = False) -> int:
        return sum(
            any(c.system == system and (c.match == "exact" or not exact) for c in e.codes)
            for e in entities
        )

    lines = [
        _HEADER.rstrip("\n"),
        "",
        f"- entities: {len(entities)}",
        f"- with a SNOMED CT concept: {having(SNOMED_SYSTEM)} "
        f"(exact: {having(SNOMED_SYSTEM, exact=True)})",
        f"- with an ICD-10 code: {having(ICD10_SYSTEM)} (exact: {having(ICD10_SYSTEM, True)})",
        f"- with a RadLex id: {having(RADLEX_SYSTEM)}",
        f"- with no standard code: {sum(not e.codes for e in entities)}",
        "",
        "| entity | SNOMED CT | ICD-10 | output code (SR) |",
        "| --- | --- | --- | --- |",
    ]
    for entity in entities:
        exact = next(
            (c for c in entity.codes if c.system == SNOMED_SYSTEM and c.match == "exact"), None
        )
        output = f"SCT {exact.code}" if exact else f"99CALCDX {entity.id}"
        lines.append(
            f"| {entity.id} | {_cell(entity, SNOMED_SYSTEM)} | {_cell(entity, ICD10_SYSTEM)} "
            f"| {output} |"
        )
    return "\n".join(lines) + "\n"
