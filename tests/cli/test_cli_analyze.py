"""`calcdx analyze`: status 2 and one stderr line for unusable input, 0 with outputs otherwise."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from calcdx.cli.main import main
from calcdx.phantom import make_phantom, write_dicom_series
from calcdx.volume import Volume


@pytest.fixture(scope="module")
def small_volume() -> Volume:
    full = make_phantom(shape=(64, 64, 40), spacing_mm=(1.2, 1.2, 2.5), seed=2).volume
    return Volume(hu=full.hu[:, :, 14:26].copy(), affine=full.affine)


def _series(folder: Path, volume: Volume) -> list[Path]:
    return write_dicom_series(volume, folder, shuffle=False)


def _fails(capsys: pytest.CaptureFixture[str], path: Path, out: Path, *words: str) -> str:
    status = main(["analyze", str(path), "--out", str(out)])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2, err
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], lines[0]
    assert not (out / "result.json").exists()
    return lines[0]


def test_text_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.dcm"
    path.write_text("not an image\n")
    _fails(capsys, path, tmp_path / "out", "not a DICOM")


def test_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    _fails(capsys, tmp_path / "empty", tmp_path / "out", "empty")


def test_truncated_pixel_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_volume: Volume
) -> None:
    paths = _series(tmp_path / "series", small_volume)
    ds = pydicom.dcmread(paths[3])
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 3]
    ds.save_as(paths[3])
    line = _fails(capsys, tmp_path / "series", tmp_path / "out", "pixel data")
    assert paths[3].name in line


def test_mr_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = get_testdata_file("MR_small.dcm")
    if found is None:
        pytest.skip("MR_small.dcm is not installed")
    _fails(capsys, Path(str(found)), tmp_path / "out", "MR", "CT")


def test_missing_slice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_volume: Volume
) -> None:
    paths = _series(tmp_path / "series", small_volume)
    paths[5].unlink()
    _fails(capsys, tmp_path / "series", tmp_path / "out", "missing")


def test_zero_pixel_spacing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_volume: Volume
) -> None:
    for path in _series(tmp_path / "series", small_volume):
        ds = pydicom.dcmread(path)
        ds.PixelSpacing = [0, 0]
        ds.save_as(path)
    _fails(capsys, tmp_path / "series", tmp_path / "out", "PixelSpacing")


def test_lying_rows_and_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_volume: Volume
) -> None:
    for path in _series(tmp_path / "series", small_volume):
        ds = pydicom.dcmread(path)
        ds.Rows = ds.Columns = 65535
        ds.save_as(path)
    _fails(capsys, tmp_path / "series", tmp_path / "out", "65535 x 65535", "re-export")


def _nifti(path: Path, volume: Volume, data: object) -> Path:
    import nibabel as nib
    import numpy as np

    nib.save(nib.Nifti1Image(np.asarray(data), volume.affine), path)
    return path


def test_nifti_not_in_hu(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_volume: Volume
) -> None:
    unit = (small_volume.hu.astype("float32") + 1024) / 4096  # normalised to about 0-1
    path = _nifti(tmp_path / "unit.nii.gz", small_volume, unit)
    _fails(capsys, path, tmp_path / "out", "normalised", "not Hounsfield units", "dcm2niix")


def test_nifti_without_a_voxel_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_volume: Volume
) -> None:
    import struct

    path = _nifti(tmp_path / "ct.nii", small_volume, small_volume.hu)
    raw = bytearray(path.read_bytes())
    raw[84:88] = struct.pack("<f", 0.0)  # pixdim[2]
    path.write_bytes(bytes(raw))
    _fails(capsys, path, tmp_path / "out", "pixdim[2]", "is 0")


def test_phantom_folder_succeeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_volume: Volume
) -> None:
    write_dicom_series(small_volume, tmp_path / "series", shuffle=True)
    out = tmp_path / "out"
    status = main(["analyze", str(tmp_path / "series"), "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert (out / "result.json").is_file()
    assert (out / "lesions.nii.gz").is_file()


def test_a_localizer_is_not_a_volume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], small_volume: Volume
) -> None:
    """A scout (ImageType LOCALIZER, DICOM PS3.3 C.8.2.1.1.1) alone: one line, no output."""
    paths = _series(tmp_path / "series", small_volume)
    for path in paths[1:]:
        path.unlink()
    ds = pydicom.dcmread(paths[0])
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    ds.save_as(paths[0])
    line = _fails(capsys, tmp_path / "series", tmp_path / "out", "localizer", "axial CT series")
    assert not (tmp_path / "out").exists()
    assert "--series" in line
