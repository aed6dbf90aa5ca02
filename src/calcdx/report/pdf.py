"""PDF output of the report through WeasyPrint (optional dependency ``calcdx[pdf]``)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from calcdx.errors import InputError

__all__ = ["load_weasyprint", "write_pdf"]


def load_weasyprint() -> Any:
    """Import WeasyPrint, or explain what is missing.

    Returns
    -------
    module
        The ``weasyprint`` module.

    Raises
    ------
    InputError
        If WeasyPrint is not installed or its system libraries (Pango, HarfBuzz)
        cannot be loaded.
    """
    try:
        return importlib.import_module("weasyprint")
    except ImportError as exc:
        raise InputError(
            "PDF output needs WeasyPrint: install it with `pip install 'calcdx[pdf]'` "
            f"(or drop --pdf); import failed: {exc}"
        ) from exc
    except OSError as exc:
        raise InputError(
            "PDF output needs WeasyPrint's system libraries (Pango, HarfBuzz, fontconfig); "
            "install them (Debian/Ubuntu: `apt-get install libpango-1.0-0 libpangoft2-1.0-0 "
            f"libharfbuzz0b`) or drop --pdf; loading failed: {exc}"
        ) from exc


def write_pdf(html: str, path: str | Path) -> Path:
    """Write the report HTML as a PDF.

    Parameters
    ----------
    html : str
        Self-contained report HTML (images as data URIs).
    path : str or Path
        Output file.

    Returns
    -------
    Path

    Raises
    ------
    InputError
        If WeasyPrint or its system libraries are missing.
    """
    weasyprint = load_weasyprint()
    path = Path(path)
    weasyprint.HTML(string=html, base_url=None).write_pdf(str(path))
    return path
