"""The cohort report as a researcher sees it: rendered by headless Chromium."""

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from calcdx.cohort import analyze_cohort

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p
                 and Path(p).exists()), None)
_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--no-first-run"]

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
def report(cohort_inputs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    manifest = tmp_path_factory.mktemp("m") / "m.csv"
    manifest.write_text("path,subject,timepoint\n"
                        f"{cohort_inputs / 'b0.nii.gz'},B,0\n{cohort_inputs / 'b1.nii.gz'},B,1\n"
                        f"{cohort_inputs / 'broken.nii.gz'},C,0\n")
    _, files = analyze_cohort(manifest, tmp_path_factory.mktemp("out"), n_workers=1)
    return files["report"]


def test_report_opens_with_summary_failures_plots_and_thumbnails(report: Path, tmp_path: Path):
    run = _chromium(["--dump-dom", report.as_uri()], tmp_path / "profile")
    dom = run.stdout.decode("utf-8", errors="replace")
    assert "</html>" in dom, run.stderr.decode(errors="replace")[-2000:]
    assert "3 studies: 2 analysed, 1 failed" in " ".join(dom.split())
    failures = dom[dom.index('id="failures"'):]
    assert "broken.nii.gz" in failures[:failures.index("</table>")]
    # three plots and one QC thumbnail per analysed study
    assert dom.count("data:image/png;base64,") == 3 + 2


def test_screenshot_is_not_blank(report: Path, tmp_path: Path):
    shot = tmp_path / "shot.png"
    run = _chromium([f"--screenshot={shot}", "--window-size=1200,1800", report.as_uri()],
                    tmp_path / "profile")
    assert shot.exists(), run.stderr.decode(errors="replace")[-2000:]
    pixels = np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("RGB"))
    assert pixels.shape[:2] == (1800, 1200)
    assert pixels.std() > 20.0
