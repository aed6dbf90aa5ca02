"""`calcdx analyze` outputs: all at once, never mixed with an earlier run, refused early."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from calcdx.cli.main import main

REAL = (Path(__file__).resolve().parents[2] / ".." / "shared" / "realct"
        / "ts_chest_cta_1p5mm.nii.gz")
CALCDX = [sys.executable, "-m", "calcdx.cli.main"]


@pytest.fixture(scope="module")
def nifti(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from calcdx.phantom import make_phantom, write_nifti

    phantom = make_phantom(shape=(96, 96, 48), spacing_mm=(1.6, 1.6, 4.0))
    return write_nifti(phantom, tmp_path_factory.mktemp("in") / "ct.nii.gz")


def test_an_existing_output_folder_is_refused_before_any_work(nifti: Path, tmp_path: Path,
                                                              capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "lesions.seg.dcm").write_text("an earlier run's SEG")
    started = time.perf_counter()
    assert main(["analyze", str(nifti), "--out", str(out)]) == 2
    assert time.perf_counter() - started < 2.0  # refused before reading or analysing
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "lesions.seg.dcm").read_text() == "an earlier run's SEG"


def test_overwrite_replaces_the_folder_whole(nifti: Path, tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "lesions.seg.dcm").write_text("an earlier run's SEG")
    assert main(["analyze", str(nifti), "--out", str(out), "--overwrite"]) == 0
    assert (out / "result.json").is_file()
    assert not (out / "lesions.seg.dcm").exists()  # NIfTI input: no SEG, and the old one gone
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_an_unwritable_output_place_is_a_clear_error_before_the_analysis(nifti: Path,
                                                                         tmp_path: Path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["analyze", str(nifti), "--out", str(blocker / "out")]) == 2
    err = capsys.readouterr().err
    assert "cannot write the output folder" in err and "Traceback" not in err


@pytest.mark.skipif(not REAL.is_file(), reason="the shared real CT scans are not here")
def test_ctrl_c_during_a_real_scan_leaves_a_complete_folder_or_none(tmp_path: Path):
    out = tmp_path / "out"
    proc = subprocess.Popen([*CALCDX, "analyze", str(REAL), "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(tmp_path.glob(".out.partial-*")):
        time.sleep(0.05)
    time.sleep(0.5)  # well inside the analysis
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err
    if out.exists():
        assert proc.returncode == 0 and (out / "report.html").is_file()
    else:
        assert proc.returncode == 130
    assert not list(tmp_path.glob(".out.*")), os.listdir(tmp_path)
