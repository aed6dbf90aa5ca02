"""Small, pure formatting helpers shared by the report's view model and template."""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["human", "number", "percent", "reference_link", "signed_mm"]

_DOI = re.compile(r"\bdoi:\s*(10\.\S+?)[.,;]?$", re.IGNORECASE)
_URL = re.compile(r"(https?://\S+?)[.,;)]?$")


def number(value: Any, digits: int = 1, *, missing: str = "—") -> str:
    """Format a number with thousands separators; `missing` for None, NaN or non-numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return missing
    if not math.isfinite(float(value)):
        return missing
    return f"{float(value):,.{digits}f}"


def percent(value: Any, digits: int = 1) -> str:
    """Format a probability in [0, 1] as a percentage."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return f"{100.0 * float(value):.{digits}f}%"


def signed_mm(value: Any) -> str:
    """Format a coordinate in mm with its sign."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return f"{float(value):+.1f}"


def human(value: Any) -> str:
    """Render a case-format term or list of terms for reading.

    ``zonal_peripheral`` becomes ``zonal peripheral``; None and empty values a dash.
    """
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(human(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("_", " ")


def reference_link(text: str) -> str | None:
    """The web address of a reference string (a DOI or an http(s) URL), if it has one."""
    doi = _DOI.search(text.strip())
    if doi:
        return "https://doi.org/" + doi.group(1)
    url = _URL.search(text.strip())
    return url.group(1) if url else None
