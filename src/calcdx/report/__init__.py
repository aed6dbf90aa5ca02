"""The human-readable report: key images, self-contained HTML and optional PDF."""

from calcdx.report.html import NOT_FOR_CLINICAL_USE, render_report, report_view
from calcdx.report.images import MIP_KEY, ImageOptions, default_groups, key_images
from calcdx.report.pdf import load_weasyprint, write_pdf
from calcdx.report.write import write_report

__all__ = [
    "MIP_KEY",
    "NOT_FOR_CLINICAL_USE",
    "ImageOptions",
    "default_groups",
    "key_images",
    "load_weasyprint",
    "render_report",
    "report_view",
    "write_pdf",
    "write_report",
]
