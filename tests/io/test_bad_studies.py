"""Every unusable input ends in one StudyError line naming the problem."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from calcdx.errors import StudyError
from calcdx.io import read_volume
from calcdx.phantom import make_phantom, write_dicom_series
from calcdx.volume import Volume


@pytest.fixture(scope="module")
def volume() -> Volume:
    full = make_phantom(shape=(64, 64, 40), spacing_mm=(1.2, 1.2, 2.5), seed=1).volume
    return Volume(hu=full.hu[:, :, 16:26].copy(), affine=full.affine)


def _series(tmp_path: Path, volume: Volume, **kwargs: object) -> list[Path]:
    return write_dicom_series(volume, tmp_path / "series", shuffle=False, **kwargs)  # type: ignore[arg-type]


def _raises(path: Path, pattern: str) -> str:
    with pytest.raises(StudyError, match=pattern) as err:
        read_volume(path)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_missing_path(tmp_path: Path) -> None:
    _raises(tmp_path / "nowhere", "does not exist")


def test_not_dicom_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.dcm"
    path.write_text("this is a text file, not an image\n")
    _raises(path, "not a DICOM image file")


def test_folder_without_dicom(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello\n")
    (tmp_path / "b.bin").write_bytes(bytes(range(256)) * 10)
    _raises(tmp_path, "no DICOM images among the 2 files")


def test_empty_folder(tmp_path: Path) -> None:
    _raises(tmp_path, "is empty")


def test_pixel_data_too_short(tmp_path: Path, volume: Volume) -> None:
    paths = _series(tmp_path, volume)
    ds = pydicom.dcmread(paths[4])
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]
    ds.save_as(paths[4])
    message = _raises(tmp_path / "series", "pixel data of .* cannot be decoded")
    assert paths[4].name in message


def test_truncated_file(tmp_path: Path, volume: Volume) -> None:
    paths = _series(tmp_path, volume)
    data = paths[2].read_bytes()
    paths[2].write_bytes(data[: len(data) - 3001])
    _raises(tmp_path / "series", "cannot be decoded|corrupt|truncated")


def test_corrupt_rle_stream(tmp_path: Path, volume: Volume) -> None:
    from pydicom.encaps import encapsulate
    from pydicom.uid import RLELossless

    paths = _series(tmp_path, volume, transfer_syntax=RLELossless)
    ds = pydicom.dcmread(paths[5])
    ds.PixelData = encapsulate([b"\x00" * 64])
    ds.save_as(paths[5])
    _raises(tmp_path / "series", "cannot be decoded")


def test_mr_series_is_refused(tmp_path: Path, volume: Volume) -> None:
    _series(tmp_path, volume, modality="MR")
    _raises(tmp_path / "series", "is MR, calcdx analyses CT only; pick a CT series with --series")


def test_missing_slice(tmp_path: Path, volume: Volume) -> None:
    paths = _series(tmp_path, volume)
    paths[6].unlink()
    message = _raises(tmp_path / "series", "slices are missing")
    assert "5.00 mm gap" in message and "2.50 mm" in message and "re-export" in message


def test_zero_pixel_spacing(tmp_path: Path, volume: Volume) -> None:
    for path in _series(tmp_path, volume):
        ds = pydicom.dcmread(path)
        ds.PixelSpacing = [0, 0]
        ds.save_as(path)
    _raises(tmp_path / "series", r"PixelSpacing \[0\.0, 0\.0\] is not two positive numbers")


def test_nan_position(tmp_path: Path, volume: Volume) -> None:
    paths = _series(tmp_path, volume)
    ds = pydicom.dcmread(paths[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom rightly warns that NaN is not a valid DS
        ds.ImagePositionPatient = ["nan", "0", "0"]
        ds.save_as(paths[1])
    _raises(tmp_path / "series", "ImagePositionPatient is not finite")


def test_duplicate_positions(tmp_path: Path, volume: Volume) -> None:
    paths = _series(tmp_path, volume)
    ds = pydicom.dcmread(paths[3])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.save_as(tmp_path / "series" / "copy.dcm")
    _raises(tmp_path / "series", "share the position")


def test_corrupt_nifti(tmp_path: Path) -> None:
    path = tmp_path / "broken.nii.gz"
    path.write_bytes(b"\x1f\x8b" + b"garbage" * 20)
    _raises(path, "cannot be read as NIfTI")


def test_4d_nifti(tmp_path: Path) -> None:
    import nibabel as nib

    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4, 3), dtype=np.int16), np.eye(4)), tmp_path / "t.nii")
    _raises(tmp_path / "t.nii", "needs one 3-D CT volume")


def _declare(path: Path, rows: int, columns: int) -> None:
    ds = pydicom.dcmread(path)
    ds.Rows, ds.Columns = rows, columns
    ds.save_as(path)


def test_rows_and_columns_lying_in_one_header(tmp_path: Path, volume: Volume) -> None:
    paths = _series(tmp_path, volume)
    _declare(paths[3], 60000, 60000)  # 7.2 GB of pixels declared over 8 kB
    message = _raises(tmp_path / "series", "header declares 60000 x 60000 pixels")
    assert paths[3].name in message and "7200000000 bytes" in message
    assert f"only {paths[3].stat().st_size} bytes long" in message


def test_rows_and_columns_lying_in_every_header(tmp_path: Path, volume: Volume) -> None:
    # all consistent, so only the bytes on disk tell: refused before 67 GiB are allocated
    for path in _series(tmp_path, volume):
        _declare(path, 60000, 60000)
    _raises(tmp_path / "series", "Rows or Columns in the header are wrong")


def test_rows_and_columns_lying_in_compressed_files(tmp_path: Path, volume: Volume) -> None:
    from pydicom.uid import RLELossless

    for path in _series(tmp_path, volume, transfer_syntax=RLELossless):
        _declare(path, 65535, 65535)
    _raises(tmp_path / "series", "cannot expand to that")


def test_a_slightly_wrong_header_is_a_decoding_error(tmp_path: Path, volume: Volume) -> None:
    paths = _series(tmp_path, volume)
    for path in paths:
        _declare(path, 64, 65)  # within the file's size, not its pixel count
    _raises(tmp_path / "series", "cannot be decoded")


def test_a_header_of_too_many_voxels_is_refused_before_reading(tmp_path: Path) -> None:
    from calcdx.io._limits import MAX_VOXELS

    bad_inputs = Path(__file__).resolve().parents[1] / "data" / "bad_inputs"
    bomb = bad_inputs / "nifti_bomb_1024cubed.nii.gz"
    message = _raises(bomb, "1024 x 1024 x 1024 = 1073741824 voxels")
    assert str(MAX_VOXELS) in message
