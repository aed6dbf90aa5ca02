"""A series anonymised harder than any real one still gets valid SEG and SR, and says so."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest

from calcdx.phantom import make_phantom, write_dicom_series
from calcdx.study import run_study

DCIODVFY = shutil.which("dciodvfy")


def _errors(path: Path) -> list[str]:
    assert DCIODVFY is not None
    run = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, timeout=120,
                         check=False)
    return [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")]


@pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (Debian dicom3tools) is not installed")
def test_no_birth_date_no_frame_of_reference_no_sop_class_anywhere(tmp_path: Path):
    phantom = make_phantom(shape=(64, 64, 24), spacing_mm=(1.5, 1.5, 3.0), seed=3)
    paths = write_dicom_series(phantom.volume, tmp_path / "in")
    for path in paths:
        ds = pydicom.dcmread(path)
        for keyword in ("FrameOfReferenceUID", "PatientBirthDate", "PatientAge", "PatientSex",
                        "StudyDate", "PatientID", "PatientName"):
            if keyword in ds:
                delattr(ds, keyword)
        ds.SOPClassUID = ""
        ds.SOPInstanceUID = ""
        ds.file_meta.MediaStorageSOPClassUID = ""
        ds.file_meta.MediaStorageSOPInstanceUID = ""
        ds.save_as(path)
    outcome = run_study(tmp_path / "in", tmp_path / "out")
    assert {"seg", "sr", "result", "report"} <= set(outcome.files)
    assert _errors(outcome.files["seg"]) == [] and _errors(outcome.files["sr"]) == []
    warnings = outcome.document["warnings"]
    said = [w for w in warnings if "no SOP class or instance UID" in w]
    assert len(said) == 1 and said[0].startswith(f"{len(paths)} source image(s)")
    assert any("no FrameOfReferenceUID" in w for w in warnings)
