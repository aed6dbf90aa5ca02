"""Server-rendered pages: the differential form and the knowledge base."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from calcdx.case.vocabulary import CASE_FORMAT
from calcdx.errors import CaseError
from calcdx.kb.schema import Entity, Figure, Findings
from calcdx.web.api import BodyError, diagnose_json, read_json_body
from calcdx.web.forms import finding_control, label
from calcdx.web.state import get_state, render

__all__ = ["differential_view", "entity_view", "pages_router"]


def differential_view(document: dict[str, Any]) -> dict[str, Any]:
    """Add what the template needs (form controls of the next findings) to a differential."""
    suggestions = []
    for item in document["next_findings"]:
        control = finding_control(item["field"], item["value"])
        if control is not None:
            suggestions.append({**item, "control": control})
    return {**document, "suggestions": suggestions}


def _frequency(value: Any) -> str:
    if isinstance(value, Figure):
        return f"{value.p:.0%} [{value.source}]"
    return str(value)


def entity_view(entity: Entity) -> dict[str, Any]:
    """Typical findings and labs of an entity as (field, [(value, frequency)]) rows."""
    findings = []
    for name in Findings.model_fields:
        values = getattr(entity.findings, name)
        if values:
            rows = [(label(value), _frequency(freq)) for value, freq in values.items()]
            findings.append((label(name), rows))
    labs = [
        (label(lab), [(level, _frequency(freq)) for level, freq in levels.items()])
        for lab, levels in entity.labs.items()
    ]
    return {"findings": findings, "labs": labs, "female": _frequency(entity.female)}


def pages_router() -> APIRouter:
    """Build the page routes (left out of the OpenAPI document)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    async def differential_page(request: Request) -> Response:
        state = get_state(request)
        document = diagnose_json(state, {"format": CASE_FORMAT})
        return render(
            request,
            "ddx.html",
            {"sections": state.form, "result": differential_view(document), "error": None},
        )

    @router.post("/ui/differential")
    async def differential_fragment(request: Request) -> Response:
        state = get_state(request)
        try:
            document = diagnose_json(state, await read_json_body(request))
        except (CaseError, BodyError) as exc:
            return render(request, "_differential.html", {"result": None, "error": str(exc)}, 422)
        return render(
            request,
            "_differential.html",
            {"result": differential_view(document), "error": None},
        )

    @router.get("/kb")
    async def kb_page(request: Request, q: str = Query("", max_length=200)) -> Response:
        kb = get_state(request).kb
        found = kb.search(q) if q.strip() else list(kb)
        return render(request, "kb_list.html", {"q": q, "entities": found, "total": len(kb)})

    @router.get("/kb/{entity_id}")
    async def entity_page(request: Request, entity_id: str) -> Response:
        kb = get_state(request).kb
        entity = kb.entities.get(entity_id)
        if entity is None:
            message = f"no entity {entity_id!r} in the knowledge base; search for it below"
            return render(
                request,
                "kb_list.html",
                {"q": "", "entities": list(kb), "total": len(kb), "error": message},
                404,
            )
        return render(
            request,
            "kb_entity.html",
            {"entity": entity, "view": entity_view(entity), "names": kb.entities},
        )

    return router
