"""The real GE head series as exports deliver it: a scout under the series' UID, a
second series beside it, an exam-summary screenshot, shuffled file names.

Built from ``../shared/realct/dcmqa_ge_head_tilt`` (dcm_qa_ct, BSD 2-Clause, Copyright (c)
2019 Chris Rorden; provided by Aliza Medical Imaging). The truth is the DICOM standard:
an image whose ImageType holds LOCALIZER is a projection, not a slice (PS3.3 C.8.2.1.1.1),
a Secondary Capture image (SOP class 1.2.840.10008.5.1.4.1.1.7) without a place in
the patient (no ImagePositionPatient) is a picture, not a slice, and the slices' order
is that of ImagePositionPatient along the normal.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from calcdx.errors import StudyError
from calcdx.io import read_volume
from calcdx.io.dicom import read_series_headers

SERIES = Path(__file__).resolve().parents[2] / ".." / "shared" / "realct" / "dcmqa_ge_head_tilt"

pytestmark = pytest.mark.skipif(not SERIES.is_dir(), reason="the shared real CT scans are not here")


def _files() -> list[Path]:
    return sorted(SERIES.iterdir())


def _copy(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for file in _files():
        shutil.copy(file, folder / file.name)
    return folder


def _scout(path: Path, *, labelled: bool = True) -> None:
    """A coronal projection made from one of the series' files, under the same series UID."""
    ds = pydicom.dcmread(_files()[0])
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER" if labelled else "AXIAL"]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 0.0, -1.0]
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path)


@pytest.fixture(scope="module")
def plain():
    return read_volume(SERIES)


def test_a_scout_under_the_series_uid_is_left_out_with_a_warning(tmp_path: Path, plain):
    folder = _copy(tmp_path / "series")
    _scout(folder / "scout.dcm")
    volume = read_volume(folder)
    assert volume.metadata["n_slices"] == len(_files())  # the 28 axial images, no more
    np.testing.assert_array_equal(volume.hu, plain.hu)
    np.testing.assert_array_equal(volume.affine, plain.affine)
    said = [w for w in volume.metadata["warnings"] if "localizer" in w]
    assert len(said) == 1 and "scout.dcm" in said[0]
    headers = read_series_headers(folder)  # what SEG and SR would reference
    assert len(headers) == len(_files())
    assert all("LOCALIZER" not in list(ds.ImageType) for ds in headers)


def test_an_unlabelled_stray_image_is_named_in_the_error(tmp_path: Path):
    folder = _copy(tmp_path / "series")
    _scout(folder / "stray.dcm", labelled=False)
    with pytest.raises(StudyError, match=r"different orientations: 1 of 29 images \(stray\.dcm\)"):
        read_volume(folder)


def test_a_folder_of_scouts_only_is_refused(tmp_path: Path):
    folder = tmp_path / "scouts"
    folder.mkdir()
    _scout(folder / "scout.dcm")
    with pytest.raises(StudyError, match=r"only localizer .* axial CT series") as err:
        read_volume(folder)
    assert "\n" not in str(err.value)


def _as_secondary_capture(file: Path, out: Path, *, placed: bool) -> None:
    ds = pydicom.dcmread(file)
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    if not placed:  # a screenshot: no place in the patient
        del ds.ImagePositionPatient
        ds.SeriesDescription = "Exam Summary"
    ds.save_as(out)


def test_secondary_captures_are_not_a_volume(tmp_path: Path):
    folder = tmp_path / "summary"
    folder.mkdir()
    for n, file in enumerate(_files()[:3]):
        _as_secondary_capture(file, folder / f"{n}.dcm", placed=False)
    with pytest.raises(StudyError, match=r"Exam Summary.*only secondary capture"):
        read_volume(folder)
    # beside the real series, the screenshots are passed over for it
    for file in _files():
        shutil.copy(file, folder / f"ct_{file.name}")
    volume = read_volume(folder)
    assert volume.metadata["n_slices"] == len(_files())


def test_a_secondary_capture_stack_with_its_geometry_is_still_a_volume(tmp_path: Path, plain):
    folder = tmp_path / "converted"
    folder.mkdir()
    for file in _files():
        _as_secondary_capture(file, folder / file.name, placed=True)
    volume = read_volume(folder)
    np.testing.assert_array_equal(volume.hu, plain.hu)


def test_a_second_series_is_named_in_a_warning(tmp_path: Path, plain):
    folder = _copy(tmp_path / "study")
    other = generate_uid()
    for file in _files()[:6]:  # six slices exported again as their own series
        ds = pydicom.dcmread(file)
        ds.SeriesInstanceUID = other
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(folder / f"again_{file.name}")
    volume = read_volume(folder)
    np.testing.assert_array_equal(volume.hu, plain.hu)  # the 28-slice series was analysed
    said = [w for w in volume.metadata["warnings"] if "CT series found" in w]
    assert len(said) == 1
    assert other in said[0] and "6 slices" in said[0] and "--series" in said[0]


def test_file_names_carry_no_order(tmp_path: Path, plain):
    """Random names in a random order: the order comes from ImagePositionPatient."""
    folder = tmp_path / "shuffled"
    folder.mkdir()
    rng = random.Random(13)
    files = _files()
    rng.shuffle(files)
    for file in files:
        shutil.copy(file, folder / f"x{rng.getrandbits(40):010x}")
    volume = read_volume(folder)
    np.testing.assert_array_equal(volume.hu, plain.hu)
    headers = read_series_headers(folder)
    iop = np.asarray(headers[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    depth = [float(np.asarray(ds.ImagePositionPatient, float) @ normal) for ds in headers]
    assert len(depth) == len(files) and np.all(np.diff(depth) > 0)


def test_of_two_reconstructions_with_the_same_slices_the_soft_kernel_is_read(tmp_path: Path,
                                                                              plain):
    """The same slices reconstructed again with GE's BONEPLUS kernel, under a series UID
    that sorts after the original's: the original (kernel STD+, soft) is analysed, and
    the choice says why."""
    folder = _copy(tmp_path / "study")
    original = str(pydicom.dcmread(_files()[0]).SeriesInstanceUID)
    bone = str(generate_uid(prefix=None))  # 2.25.<uuid>
    assert bone > original  # the UID alone (the last tie-break) would pick the bone series
    for file in _files():
        ds = pydicom.dcmread(file)
        ds.SeriesInstanceUID = bone
        ds.ConvolutionKernel = "BONEPLUS"
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        pixels = ds.pixel_array.astype(np.int32)
        ds.PixelData = np.clip(pixels + 7, 0, np.iinfo(ds.pixel_array.dtype).max).astype(
            ds.pixel_array.dtype).tobytes()  # told apart from the original by 7 HU
        ds.save_as(folder / f"bone_{file.name}")
    volume = read_volume(folder)
    np.testing.assert_array_equal(volume.hu, plain.hu)
    assert volume.metadata["convolution_kernel"] == "STD+"
    assert "kernel is named smoothest (STD+" in volume.metadata["series_choice"]
    chosen = read_volume(folder, series_uid=bone)  # still reachable with --series
    assert chosen.metadata["convolution_kernel"] == "BONEPLUS"
