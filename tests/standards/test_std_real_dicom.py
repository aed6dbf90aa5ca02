"""SEG and SR from a real anonymised DICOM series: written, valid by dciodvfy, never a crash."""

import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest

from calcdx.study import run_study

SERIES = Path(__file__).resolve().parents[2] / ".." / "shared" / "realct" / "ts_chest_abdomen_dicom"
DCIODVFY = shutil.which("dciodvfy")

pytestmark = pytest.mark.skipif(not SERIES.is_dir(), reason="the shared real CT scans are not here")


def _errors(path: Path) -> list[str]:
    assert DCIODVFY is not None
    run = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, timeout=120,
                         check=False)
    return [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")]


@pytest.fixture(scope="module")
def real_outcome(tmp_path_factory: pytest.TempPathFactory):
    return run_study(SERIES, tmp_path_factory.mktemp("real") / "out")


def test_the_real_series_gets_seg_sr_and_says_what_was_generated(real_outcome):
    assert {"seg", "sr", "result", "report", "labels", "fhir"} <= set(real_outcome.files)
    warnings = " ".join(real_outcome.document["warnings"])
    # the anonymiser blanked these; the file meta holds SOP class and instance
    assert "blank SOPClassUID; taken from their file meta information" in warnings
    assert "no StudyInstanceUID" in warnings and "no SeriesInstanceUID" in warnings
    seg = pydicom.dcmread(real_outcome.files["seg"])
    source = pydicom.dcmread(next(SERIES.iterdir()), stop_before_pixels=True)
    referenced = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]
    assert referenced.ReferencedSOPClassUID == source.file_meta.MediaStorageSOPClassUID
    assert seg.FrameOfReferenceUID == source.FrameOfReferenceUID


@pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (Debian dicom3tools) is not installed")
def test_seg_and_sr_from_the_real_series_pass_dciodvfy(real_outcome):
    assert _errors(real_outcome.files["seg"]) == []
    assert _errors(real_outcome.files["sr"]) == []


@pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (Debian dicom3tools) is not installed")
def test_a_series_stripped_further_still_completes(tmp_path: Path):
    stripped = tmp_path / "series"
    stripped.mkdir()
    for n, file in enumerate(sorted(SERIES.iterdir())):
        ds = pydicom.dcmread(file)
        for keyword in ("FrameOfReferenceUID", "PatientBirthDate", "StudyDate", "PatientID"):
            if keyword in ds:
                delattr(ds, keyword)
        ds.save_as(stripped / f"{n:03d}.dcm")
    outcome = run_study(stripped, tmp_path / "out")
    assert (tmp_path / "out" / "result.json").is_file()
    assert "no FrameOfReferenceUID" in " ".join(outcome.document["warnings"])
    assert _errors(outcome.files["seg"]) == []
