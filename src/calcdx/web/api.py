"""The REST API over the Python API: ``POST /api/ddx``, ``GET /api/kb``, ``GET /api/kb/{id}``."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from calcdx.case.jsontext import JsonTextError, loads_bounded
from calcdx.case.model import parse_case
from calcdx.case.vocabulary import Vocabulary
from calcdx.errors import CaseError, TextError
from calcdx.kb.schema import Entity
from calcdx.web.schemas import DifferentialOut, ErrorOut, KbSummary, case_json_schema
from calcdx.web.state import WebState, get_state

__all__ = ["api_router", "diagnose_json", "entity_summary", "parse_json", "read_json_body"]


class BodyError(Exception):
    """A request body that is not JSON (answered 400)."""


async def read_json_body(request: Request) -> Any:
    """Decode the request body as JSON, bounded (see :func:`calcdx.case.jsontext.loads_bounded`).

    Raises
    ------
    BodyError
        When it is not UTF-8 JSON, is nested too deep or holds a huge number.
    """
    raw = await request.body()
    try:
        return loads_bounded(raw)
    except JsonTextError as exc:
        raise BodyError(f"the request body: {exc}; send one case-format object") from None


def diagnose_json(state: WebState, data: Any) -> dict[str, Any]:
    """Validate a case-format mapping and rank its differential.

    Parameters
    ----------
    state : WebState
    data : Any
        Decoded JSON.

    Returns
    -------
    dict
        The ``calcdx-differential/1`` document.

    Raises
    ------
    CaseError
        With the one-line message the CLI prints.
    """
    return state.engine.diagnose(parse_case(data)).to_dict()


def entity_summary(entity: Entity) -> dict[str, Any]:
    """The listing form of an entity, as ``calcdx kb list --json``."""
    return {
        "id": entity.id,
        "name": entity.name,
        "synonyms": list(entity.synonyms),
        "mechanism": entity.mechanism,
        "references": [r.model_dump(exclude_none=True) for r in entity.references],
    }


class ReadingOut(BaseModel):
    """``calcdx-reading/1``: the case read from a description and the words behind it."""

    format: str
    case: dict[str, Any]
    fields: list[dict[str, Any]]
    set_aside: list[dict[str, Any]]
    not_understood: list[dict[str, Any]]


_PARSE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["text"],
                    "additionalProperties": False,
                    "properties": {
                        "text": {
                            "type": "string",
                            "maxLength": 20000,
                            "description": "The finding described in plain English",
                        }
                    },
                }
            }
        },
    }
}


def parse_json(data: Any) -> dict[str, Any]:
    """Read the description in ``{"text": "..."}`` into a ``calcdx-reading/1`` document.

    Parameters
    ----------
    data : Any
        Decoded JSON.

    Returns
    -------
    dict
        The reading (case, words per field, set aside, not understood).

    Raises
    ------
    TextError
        When the body has no text, or the text is empty or off-topic.
    """
    from calcdx.text import read_text

    if not isinstance(data, dict) or not isinstance(data.get("text"), str) or set(data) != {
        "text"
    }:
        raise TextError('send {"text": "the finding described in words"}, and nothing else')
    return read_text(data["text"]).to_dict()


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def api_router(vocabulary: Vocabulary) -> APIRouter:
    """Build the API routes.

    Parameters
    ----------
    vocabulary : Vocabulary
        For the documented case schema.

    Returns
    -------
    APIRouter
    """
    router = APIRouter(prefix="/api")
    case_body = {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": case_json_schema(vocabulary)}},
        }
    }

    @router.post(
        "/ddx",
        tags=["differential"],
        summary="Rank the differential diagnosis of a case",
        response_class=JSONResponse,
        responses={
            200: {"model": DifferentialOut, "description": "calcdx-differential/1"},
            400: {"model": ErrorOut, "description": "The body is not JSON"},
            413: {"model": ErrorOut, "description": "The body is too large"},
            422: {"model": ErrorOut, "description": "The case does not follow the case format"},
        },
        openapi_extra=case_body,
    )
    async def ddx(request: Request) -> Response:
        """Validate a ``calcdx-case/1`` case and return its ``calcdx-differential/1``.

        An invalid case is answered 422 with the one-line message ``calcdx ddx`` prints.
        """
        try:
            data = await read_json_body(request)
        except BodyError as exc:
            return _error(400, str(exc))
        try:
            body = orjson.dumps(diagnose_json(get_state(request), data))
            return Response(body, media_type="application/json")
        except CaseError as exc:
            return _error(422, str(exc))

    @router.post(
        "/parse",
        tags=["differential"],
        summary="Read a finding described in words into a case",
        response_class=JSONResponse,
        responses={
            200: {"model": ReadingOut, "description": "calcdx-reading/1"},
            400: {"model": ErrorOut, "description": "The body is not JSON"},
            413: {"model": ErrorOut, "description": "The body is too large"},
            422: {"model": ErrorOut, "description": "No text, or nothing in it understood"},
        },
        openapi_extra=_PARSE_BODY,
    )
    async def parse(request: Request) -> Response:
        """Read ``{"text": "..."}`` into a case; every field with the words it came from.

        Words the reader cannot map are listed under ``not_understood``; an empty
        or off-topic text is answered 422 with the message ``calcdx parse`` prints.
        """
        try:
            data = await read_json_body(request)
        except BodyError as exc:
            return _error(400, str(exc))
        try:
            return Response(orjson.dumps(parse_json(data)), media_type="application/json")
        except TextError as exc:
            return _error(422, str(exc))

    @router.get(
        "/kb",
        tags=["knowledge base"],
        summary="List or search the knowledge base",
        response_model=list[KbSummary],
        responses={422: {"model": ErrorOut, "description": "Invalid query"}},
    )
    async def kb_list(
        request: Request,
        q: str = Query("", max_length=200, description="Part of an id, name or synonym"),
    ) -> JSONResponse:
        """Entities whose id, name or a synonym contains `q` (all when `q` is empty)."""
        kb = get_state(request).kb
        found = kb.search(q) if q.strip() else list(kb)
        return JSONResponse([entity_summary(entity) for entity in found])

    @router.get(
        "/kb/{entity_id}",
        tags=["knowledge base"],
        summary="One knowledge-base entity",
        response_class=JSONResponse,
        responses={
            200: {"model": Entity, "description": "The entity's full entry"},
            404: {"model": ErrorOut, "description": "No such entity"},
            422: {"model": ErrorOut, "description": "Invalid request"},
        },
    )
    async def kb_entity(request: Request, entity_id: str) -> JSONResponse:
        """The full entry: findings, labs, red flags, mimics, next steps, references."""
        entity = get_state(request).kb.entities.get(entity_id)
        if entity is None:
            return _error(
                404,
                f"no entity {entity_id!r} in the knowledge base; GET /api/kb lists the ids",
            )
        return JSONResponse(entity.model_dump(mode="json"))

    return router
