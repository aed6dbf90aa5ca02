"""Write ``report.html`` (and ``report.pdf``) next to ``result.json``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from calcdx.analysis import AnalysisResult
from calcdx.report.html import render_report
from calcdx.report.images import ImageOptions, key_images
from calcdx.report.pdf import load_weasyprint, write_pdf
from calcdx.volume import Volume

__all__ = ["write_report"]


def _groups(doc: Mapping[str, Any]) -> dict[str, list[int]] | None:
    groups = doc.get("groups") or []
    if not groups:
        return None
    return {str(g["id"]): [int(i) for i in g.get("lesion_ids", [])] for g in groups}


def write_report(
    result_doc: Mapping[str, Any],
    volume: Volume,
    result: AnalysisResult,
    out_dir: str | Path,
    *,
    pdf: bool = False,
    options: ImageOptions | None = None,
) -> dict[str, Path]:
    """Render the key images and write the report.

    Parameters
    ----------
    result_doc : mapping
        The ``result.json`` document; its ``groups`` (when present) choose the
        key images, otherwise each cluster and solitary lesion gets one.
    volume : Volume
        The analysed CT.
    result : AnalysisResult
        Its analysis (label map on the volume's grid).
    out_dir : str or Path
        Output folder (created when missing).
    pdf : bool
        Also write ``report.pdf`` with WeasyPrint.
    options : ImageOptions, optional
        Key image sizes.

    Returns
    -------
    dict of str to Path
        ``report`` (the HTML) and, with `pdf`, ``report_pdf``.

    Raises
    ------
    InputError
        If `pdf` is asked for and WeasyPrint or its system libraries are
        missing (checked before any file is written).
    """
    if pdf:
        load_weasyprint()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = key_images(volume, result, groups=_groups(result_doc), options=options)
    html = render_report(result_doc, images)
    files = {"report": out / "report.html"}
    files["report"].write_text(html, encoding="utf-8")
    if pdf:
        files["report_pdf"] = write_pdf(html, out / "report.pdf")
    return files
