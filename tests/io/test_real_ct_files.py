"""Real CT files shipped with pydicom and pydicom-data read without error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from calcdx.io import read_volume


def _file(name: str) -> Path:
    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"{name} is not installed (pydicom-data)")
    return Path(str(path))


def _reference_hu(path: Path) -> np.ndarray:
    """HU computed independently with pydicom's own modality LUT, as (columns, rows)."""
    from pydicom.pixels import apply_modality_lut

    ds = pydicom.dcmread(path)
    return np.asarray(apply_modality_lut(ds.pixel_array, ds)).T


@pytest.mark.parametrize("name", ["CT_small.dcm", "693_UNCR.dcm", "693_J2KR.dcm", "693_UNCI.dcm"])
def test_real_ct_slice(name: str) -> None:
    path = _file(name)
    volume = read_volume(path)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert ds.Modality == "CT"
    assert volume.shape == (int(ds.Columns), int(ds.Rows), 1)
    np.testing.assert_array_equal(volume.hu[:, :, 0], _reference_hu(path))
    row_spacing, col_spacing = (float(v) for v in ds.PixelSpacing)
    assert volume.spacing_mm[:2] == pytest.approx((col_spacing, row_spacing))
    # The first pixel sits at ImagePositionPatient (LPS), i.e. (-x, -y, z) in RAS.
    x, y, z = (float(v) for v in ds.ImagePositionPatient)
    np.testing.assert_allclose(volume.world_mm(np.zeros(3)), [-x, -y, z], atol=1e-4)
    assert volume.metadata["modality"] == "CT"


def test_jpeg2000_lossless_equals_uncompressed() -> None:
    plain = read_volume(_file("693_UNCR.dcm"))
    j2k = read_volume(_file("693_J2KR.dcm"))
    np.testing.assert_array_equal(plain.hu, j2k.hu)
    np.testing.assert_array_equal(plain.affine, j2k.affine)
    assert j2k.metadata["transfer_syntaxes"] == ["1.2.840.10008.1.2.4.90"]


def test_enhanced_multiframe_ct() -> None:
    path = _file("eCT_Supplemental.dcm")
    volume = read_volume(path)
    ds = pydicom.dcmread(path)
    assert volume.shape == (int(ds.Columns), int(ds.Rows), int(ds.NumberOfFrames))
    iop = np.array(
        ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient,
        dtype=float,
    )
    normal = np.cross(iop[:3], iop[3:])
    ipp = np.array(
        [
            g.PlanePositionSequence[0].ImagePositionPatient
            for g in ds.PerFrameFunctionalGroupsSequence
        ],
        dtype=float,
    )
    positions = ipp @ normal
    assert volume.spacing_mm[2] == pytest.approx(abs(positions[1] - positions[0]))
    rescale = ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0]
    frames = ds.pixel_array * float(rescale.RescaleSlope) + float(rescale.RescaleIntercept)
    order = np.argsort(positions)
    np.testing.assert_array_equal(volume.hu, np.transpose(frames[order], (2, 1, 0)))
