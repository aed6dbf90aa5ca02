"""Decoding untrusted JSON text with bounds: nesting depth, number length, no NaN.

A case is an object three levels deep whose numbers are ages and sizes, so
anything nested deeper than :data:`MAX_DEPTH` or holding a number longer than
:data:`MAX_NUMBER_CHARS` is refused before (depth) or while (numbers) it is
parsed, with one line saying why. Python's own decoder would otherwise end a
100,000-deep ``[[[...]]]`` in a ``RecursionError`` and a 5,000-digit integer
in a ``ValueError``.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from calcdx.errors import InputError

__all__ = ["MAX_DEPTH", "MAX_NUMBER_CHARS", "JsonTextError", "loads_bounded"]

#: Deepest nesting of arrays and objects accepted (a case needs 3).
MAX_DEPTH: Final = 32
#: Longest number literal accepted, in characters (an age or a size needs a few).
MAX_NUMBER_CHARS: Final = 32

_STRING: Final = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET: Final = re.compile(r"[\[\]{}]")


class JsonTextError(InputError):
    """JSON text that is malformed or beyond the bounds; the message is one line."""


def nesting_depth(text: str, limit: int = MAX_DEPTH) -> int:
    """Return the deepest bracket nesting of JSON `text`, stopping once past `limit`.

    Parameters
    ----------
    text : str
        JSON text (strings are skipped, so brackets inside them do not count).
    limit : int
        Depth at which counting stops.

    Returns
    -------
    int
        The nesting depth, or ``limit + 1`` when it is deeper than `limit`.
    """
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            if depth > limit:
                return limit + 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _number(text: str) -> str:
    if len(text) > MAX_NUMBER_CHARS:
        raise JsonTextError(
            f"a number {len(text)} characters long; numbers in a case have at most "
            f"{MAX_NUMBER_CHARS} characters"
        )
    return text


def _int(text: str) -> int:
    return int(_number(text))


def _float(text: str) -> float:
    return float(_number(text))


def _constant(name: str) -> Any:
    raise JsonTextError(f"{name} is not a JSON number; give a finite number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise JsonTextError(
                f"the key {key!r} is given twice in one object; keep one (JSON readers "
                "differ on which one wins)"
            )
        seen[key] = value
    return seen


def loads_bounded(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Decode JSON text, refusing deep nesting, huge numbers and NaN/Infinity.

    Parameters
    ----------
    text : str or bytes
        The JSON text (bytes must be UTF-8).
    max_depth : int
        Deepest nesting of arrays and objects accepted.

    Returns
    -------
    Any
        The decoded value.

    Raises
    ------
    JsonTextError
        One line: not UTF-8, not JSON (with line and column), nested deeper
        than `max_depth`, a number literal too long, or a key repeated in one object.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise JsonTextError("not UTF-8 text; save the JSON as UTF-8") from None
    if nesting_depth(text, max_depth) > max_depth:
        raise JsonTextError(
            f"JSON nested deeper than {max_depth} levels; a case is an object a few levels deep"
        )
    try:
        return json.loads(
            text,
            parse_int=_int,
            parse_float=_float,
            parse_constant=_constant,
            object_pairs_hook=_unique_keys,
        )
    except json.JSONDecodeError as exc:
        raise JsonTextError(
            f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:  # cannot happen below max_depth; kept as a last guard
        raise JsonTextError(f"JSON nested deeper than {max_depth} levels") from None
