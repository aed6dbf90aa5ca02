"""The real GE head series with gantry tilt and two slice spacings loads and analyses.

``../shared/realct/dcmqa_ge_head_tilt`` (dcm_qa_ct, BSD 2-Clause, Copyright (c) 2019
Chris Rorden; provided by Aliza Medical Imaging): 28 axial slices of a GE HiSpeed,
GantryDetectorTilt +18.5 degrees, 14 slices 4 mm thick then 14 slices 7 mm thick.
The truth the tests use is the series' own header: positions, orientation, tilt and
thickness, read here with pydicom independently of calcdx.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from scipy import ndimage

from calcdx.io import read_volume
from calcdx.study import StudyOutcome, run_study
from calcdx.volume import LPS_TO_RAS

SERIES = Path(__file__).resolve().parents[2] / ".." / "shared" / "realct" / "dcmqa_ge_head_tilt"

pytestmark = pytest.mark.skipif(not SERIES.is_dir(), reason="the shared real CT scans are not here")


def _headers() -> list[pydicom.Dataset]:
    """The slices sorted along their normal, as the DICOM standard defines it."""
    datasets = [pydicom.dcmread(path) for path in sorted(SERIES.iterdir())]
    iop = np.asarray(datasets[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    return sorted(
        datasets, key=lambda ds: float(np.asarray(ds.ImagePositionPatient, float) @ normal)
    )


@pytest.fixture(scope="module")
def headers() -> list[pydicom.Dataset]:
    return _headers()


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> StudyOutcome:
    return run_study(SERIES, tmp_path_factory.mktemp("ge") / "out")


def _depths(headers: list[pydicom.Dataset]) -> np.ndarray:
    iop = np.asarray(headers[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    return np.array([np.asarray(ds.ImagePositionPatient, float) @ normal for ds in headers])


def test_the_series_is_what_its_readme_says(headers):
    steps = np.diff(_depths(headers))
    assert len(headers) == 28
    assert float(headers[0].GantryDetectorTilt) == pytest.approx(18.5)
    assert steps.min() == pytest.approx(1.08, abs=0.01)
    assert steps.max() == pytest.approx(6.999, abs=0.01)


def test_it_loads_on_an_even_orthogonal_grid_with_one_warning(headers):
    volume = read_volume(SERIES)
    steps = np.diff(_depths(headers))
    step = float(np.median(steps))
    spacing = np.asarray(volume.spacing_mm)
    assert spacing[2] == pytest.approx(step, abs=1e-3)
    lin = volume.affine[:3, :3] / spacing
    np.testing.assert_allclose(lin.T @ lin, np.eye(3), atol=1e-6)  # orthogonal
    # the whole acquired depth is kept, at the median step
    assert volume.shape[2] == int(np.floor((steps.sum()) / step + 1e-6)) + 1
    resampling = [w for w in volume.metadata["warnings"] if "resampled" in w]
    assert len(resampling) == 1
    line = resampling[0]
    assert "gantry tilt of 18.5 degrees" in line  # the header says +18.5
    assert f"the largest gap {steps.max():.3f} mm" in line
    assert "SEG and SR are not written" in line


def test_resampled_hu_lie_where_the_scanner_put_them(headers):
    """Each source pixel's world position, mapped into the output grid, finds its HU."""
    volume = read_volume(SERIES)
    to_voxel = np.linalg.inv(volume.affine)
    errors = []
    for index in (0, 5, 13):  # the 4 mm part lies on the output grid's slices
        ds = headers[index]
        iop = np.asarray(ds.ImageOrientationPatient, dtype=float)
        row_spacing, col_spacing = (float(v) for v in ds.PixelSpacing)
        rows, cols = np.mgrid[100:400:7, 100:400:7]
        lps = (np.asarray(ds.ImagePositionPatient, float)[:, None]
               + np.outer(iop[:3], cols.ravel()) * col_spacing
               + np.outer(iop[3:], rows.ravel()) * row_spacing)
        ras = LPS_TO_RAS[:3, :3] @ lps
        ijk = to_voxel[:3, :3] @ ras + to_voxel[:3, 3:4]
        got = ndimage.map_coordinates(volume.hu.astype(np.float32), ijk, order=1)
        source = ds.pixel_array[rows.ravel(), cols.ravel()] * float(ds.RescaleSlope) + float(
            ds.RescaleIntercept
        )
        errors.append(np.abs(got - source))
        assert abs(ijk[2].mean() - round(ijk[2].mean())) < 0.01  # on an output slice
    error = np.concatenate(errors)
    # sub-pixel in-plane interpolation of a 0.49 mm grid: soft tissue within a few HU,
    # a wrong geometry (shift, tilt sign, flipped axis) puts skull on brain (~1000 HU)
    assert float(np.median(error)) < 2.0
    assert float(np.percentile(error, 95)) < 40.0


def test_analyze_completes_without_seg_and_sr(outcome: StudyOutcome):
    files = outcome.files
    assert {"result", "report", "labels", "fhir"} <= set(files)
    assert "seg" not in files and "sr" not in files
    assert all(path.is_file() for path in files.values())
    said = [w for w in outcome.document["warnings"] if "SEG" in w]
    assert len(said) == 1 and "gantry tilt" in said[0]


def test_the_skull_is_not_reported_wholesale(outcome: StudyOutcome):
    masks = outcome.document["masks"]
    reported = outcome.document["totals"]["volume_mm3"]
    assert masks["skeleton_volume_mm3"] > 300_000  # the skull was found as bone (> 300 mL)
    assert reported < 0.02 * masks["skeleton_volume_mm3"]


def test_no_skull_fragments_are_reported(outcome: StudyOutcome):
    touching = [les for les in outcome.document["lesions"] if les["context"]["touches_bone"]]
    assert sum(les["volume_mm3"] for les in touching) < 1_000.0


def test_the_choroid_plexus_calcifications_are_kept(outcome: StudyOutcome):
    """Read on the images: a pair of calcifications in the trigones of the lateral
    ventricles, one on either side of the midline at the same height, far inside the
    skull. The skull rules must not take such real findings away."""
    deep = [les for les in outcome.document["lesions"]
            if les["context"]["bone_distance_mm"] > 20.0 and les["volume_mm3"] >= 20.0]
    pairs = [(a, b) for a in deep for b in deep
             if a["centroid_mm"][0] < 0.0 < b["centroid_mm"][0]
             and abs(a["centroid_mm"][2] - b["centroid_mm"][2]) < 5.0]
    assert pairs


def test_anonymised_copy_still_completes(tmp_path: Path, headers):
    """No birth date, no frame of reference, blank SOP class: the tilted series still
    analyses, and SEG/SR are skipped with one line."""
    stripped = tmp_path / "series"
    stripped.mkdir()
    for n, ds in enumerate(headers):
        for keyword in ("FrameOfReferenceUID", "PatientBirthDate", "PatientID", "StudyDate"):
            if keyword in ds:
                delattr(ds, keyword)
        ds.SOPClassUID = ""
        ds.save_as(stripped / f"{n:03d}.dcm")
    result = run_study(stripped, tmp_path / "out")
    assert (tmp_path / "out" / "result.json").is_file()
    assert (tmp_path / "out" / "report.html").is_file()
    assert "seg" not in result.files and "sr" not in result.files
    assert len([w for w in result.document["warnings"] if "SEG" in w]) == 1
