"""report.pdf through WeasyPrint, and a clear error when WeasyPrint is missing."""

import re
import sys
import zlib
from pathlib import Path

import pytest

from calcdx.errors import CalcdxError, InputError
from calcdx.report import ImageOptions, load_weasyprint, write_report


def _page_count(data: bytes) -> int:
    """Pages of a PDF, reading the page tree in plain or Flate-compressed object streams."""
    text = data
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            text += zlib.decompress(match.group(1))
        except zlib.error:
            continue
    tree = re.search(rb"/Type\s*/Pages\b(.*?)>>", text, re.S)
    assert tree is not None, "no page tree"
    count = re.search(rb"/Count\s+(\d+)", tree.group(1))
    assert count is not None, "page tree without /Count"
    return int(count.group(1))


def _weasyprint_works() -> bool:
    try:
        load_weasyprint()
    except CalcdxError:
        return False
    return True


@pytest.mark.skipif(not _weasyprint_works(),
                    reason="WeasyPrint or its system libraries (Pango) are not installed")
def test_pdf_is_written(analysed, tmp_path: Path):
    files = write_report(analysed.document, analysed.volume, analysed.result, tmp_path,
                         pdf=True, options=ImageOptions(max_groups=2))
    data = files["report_pdf"].read_bytes()
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    assert _page_count(data) >= 1
    assert files["report"].exists()


def test_missing_weasyprint_is_a_clear_error(analysed, tmp_path: Path, monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import now raises ImportError
    with pytest.raises(InputError, match="WeasyPrint"):
        write_report(analysed.document, analysed.volume, analysed.result, tmp_path / "out",
                     pdf=True)
    assert not (tmp_path / "out").exists(), "nothing is written when the PDF cannot be made"
