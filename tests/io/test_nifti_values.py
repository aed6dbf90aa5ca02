"""A NIfTI whose values are not HU, or whose voxel size is unknown, is refused in one line.

The HU rule (calcdx.io.nifti.check_hu) is tested on every real CT of
``../shared/realct`` (README there: TotalSegmentator test files, Apache 2.0; dcm_qa_ct,
BSD 2-Clause), which must pass, and on non-HU versions of one of them made here the way
exports and preprocessing pipelines make them, which must be refused.
"""

from __future__ import annotations

import struct
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from calcdx.errors import StudyError
from calcdx.io import read_volume
from calcdx.io.nifti import check_hu

REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "realct"
NATIVE = REAL / "ts_abdomen_native_3mm.nii.gz"

needs_real = pytest.mark.skipif(
    not NATIVE.is_file(), reason="the shared real CT scans are not here"
)


@needs_real
@pytest.mark.parametrize(
    "name",
    ["ts_abdomen_native_3mm.nii.gz", "ts_chest_cta_1p5mm.nii.gz", "ts_chest_abdomen_dicom",
     "dcmqa_ge_head_tilt"],
)
def test_every_real_ct_passes(name: str):
    volume = read_volume(REAL / name)  # NIfTI are checked on reading
    check_hu(np.asarray(volume.hu), name)  # and DICOM volumes meet the same rule


@pytest.fixture(scope="module")
def native() -> nib.Nifti1Image:
    if not NATIVE.is_file():
        pytest.skip("the shared real CT scans are not here")
    return nib.load(NATIVE)


def _save(data: np.ndarray, template: nib.Nifti1Image, path: Path,
          slope_inter: tuple[float, float] | None = None) -> Path:
    image = nib.Nifti1Image(data, template.affine)
    if slope_inter is not None:
        image.header.set_slope_inter(*slope_inter)
    nib.save(image, path)
    return path


def _refused(path: Path, *fragments: str) -> str:
    with pytest.raises(StudyError) as err:
        read_volume(path)
    message = str(err.value)
    assert "\n" not in message
    assert path.name in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def _hu(image: nib.Nifti1Image) -> np.ndarray:
    return np.asarray(image.dataobj, dtype=np.float32)


def test_8bit_windowed_export_is_refused(native, tmp_path):
    hu = _hu(native)
    grey = np.clip((hu - (40 - 200)) / 400 * 255, 0, 255).astype(np.uint8)  # W400 L40
    _refused(_save(grey, native, tmp_path / "grey.nii.gz"), "grey levels or labels within 0-255",
             "stored as uint8", "not Hounsfield units", "dcm2niix")


def test_intensities_normalised_to_0_1_are_refused(native, tmp_path):
    hu = _hu(native)
    unit = (hu - hu.min()) / (hu.max() - hu.min())
    _refused(_save(unit, native, tmp_path / "unit.nii.gz"), "normalised to 0-1")


def test_intensities_normalised_to_minus1_1_are_refused(native, tmp_path):
    hu = _hu(native)
    scaled = 2 * (hu - hu.min()) / (hu.max() - hu.min()) - 1
    _refused(_save(scaled, native, tmp_path / "pm1.nii.gz"), "normalised to -1-1")


def test_z_scores_are_refused(native, tmp_path):
    hu = _hu(native)
    z = (hu - hu.mean()) / hu.std()
    _refused(_save(z.astype(np.float32), native, tmp_path / "z.nii.gz"), "z-scores",
             "mean 0.00, SD 1.00")


def test_stored_values_without_their_intercept_are_refused(native, tmp_path):
    stored = (np.asarray(native.dataobj) + 1024).clip(0).astype(np.uint16)
    _refused(_save(stored, native, tmp_path / "raw.nii.gz"), "without their rescale intercept",
             "scl_inter")
    # with the intercept stated in the header the same stored values are HU again
    fixed = read_volume(_save(stored, native, tmp_path / "fixed.nii.gz", (1.0, -1024.0)))
    assert float(fixed.hu.min()) <= -900


def test_windowed_hu_are_refused(native, tmp_path):
    hu = np.asarray(native.dataobj)
    _refused(_save(np.clip(hu, -160, 240).astype(np.int16), native, tmp_path / "w.nii.gz"),
             "no air")
    # the same window with air kept outside the body: the pile-up at 240 HU gives it away
    padded = np.where(hu < -900, hu, np.clip(hu, -160, 240)).astype(np.int16)
    _refused(_save(padded, native, tmp_path / "wp.nii.gz"), "clipped by a display window at 240")


def test_a_label_map_given_as_ct_is_refused(tmp_path):
    labels = REAL / "ts_abdomen_native_3mm_totalseg.nii.gz"
    if not labels.is_file():
        pytest.skip("the shared real CT scans are not here")
    _refused(labels, "a segmentation", "not Hounsfield units")


def test_saturated_metal_at_3071_is_real_data():
    hu = np.full((40, 40, 40), -1000.0, dtype=np.float32)
    hu[5:35, 5:35, 5:35] = 40.0
    hu[10:20, 10:20, 10:20] = 3071.0  # a prosthesis saturating a 12-bit scanner: 1.6 %
    check_hu(hu, "prosthesis.nii")


def _with_pixdim(tmp_path: Path, axis: int, value: float) -> Path:
    hu = np.full((20, 20, 10), -1000, dtype=np.int16)
    hu[4:16, 4:16, 2:8] = 40
    hu[8, 8, 5] = 900
    path = tmp_path / f"pixdim{axis}.nii"
    nib.save(nib.Nifti1Image(hu, np.diag([0.8, 0.8, 2.5, 1.0])), path)
    raw = bytearray(path.read_bytes())
    raw[76 + 4 * axis : 80 + 4 * axis] = struct.pack("<f", value)  # pixdim[axis]
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize("axis", [1, 2, 3])
@pytest.mark.parametrize("value", [0.0, -1.0, float("nan")])
def test_unknown_voxel_size_is_refused(tmp_path, axis: int, value: float):
    path = _with_pixdim(tmp_path, axis, value)
    _refused(path, f"pixdim[{axis}]", "not a positive number of mm", "set_zooms")


def test_a_good_voxel_size_is_read(tmp_path):
    volume = read_volume(_with_pixdim(tmp_path, 3, 2.5))
    assert volume.spacing_mm == pytest.approx((0.8, 0.8, 2.5))


def test_series_lists_a_nifti_from_its_header(tmp_path):
    from calcdx.io import list_series

    path = _with_pixdim(tmp_path, 3, 2.5)
    path.write_bytes(path.read_bytes()[:352 + 100])  # voxels cut short: the header still lists
    (item,) = list_series(path)
    assert item.n_slices == 10
