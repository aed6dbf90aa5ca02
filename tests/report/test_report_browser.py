"""The report as a person sees it: rendered by headless Chromium (Debian's package)."""

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from calcdx.report import write_report

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p
                 and Path(p).exists()), None)
_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None,
                       reason="Chromium is not installed (Debian: apt-get install chromium)"),
]


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[bytes]:
    assert CHROMIUM is not None
    return subprocess.run([CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def report(analysed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("browser")
    files = write_report(analysed.document, analysed.volume, analysed.result, out)
    return files["report"]


def test_screenshot_is_not_blank(report: Path, tmp_path: Path):
    shot = tmp_path / "shot.png"
    run = _chromium([f"--screenshot={shot}", "--window-size=1280,2000",
                     report.as_uri()], tmp_path / "profile")
    assert shot.exists(), run.stderr.decode(errors="replace")[-2000:]
    pixels = np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("RGB"))
    assert pixels.shape[:2] == (2000, 1280)
    assert pixels.std() > 20.0
    colours = np.unique(pixels.reshape(-1, 3)[::7], axis=0)
    assert len(colours) > 50


def test_page_text_holds_every_lesion_id(analysed, report: Path, tmp_path: Path):
    run = _chromium(["--dump-dom", report.as_uri()], tmp_path / "profile")
    dom = run.stdout.decode("utf-8", errors="replace")
    assert "</html>" in dom, run.stderr.decode(errors="replace")[-2000:]
    assert "not for clinical use" in dom.lower()
    for lesion in analysed.result.lesions:
        assert f'<td class="n"><b>{lesion.id}</b></td>' in dom
    assert dom.count("data:image/png;base64,") == 3
