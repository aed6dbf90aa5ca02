"""DICOM and NIfTI readers against a phantom written with known geometry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
)

from calcdx.errors import StudyError
from calcdx.io import list_series, read_volume
from calcdx.phantom import make_phantom, write_dicom_series, write_nifti
from calcdx.volume import Volume

SHAPE = (96, 96, 40)
SPACING = (0.8, 0.8, 2.0)


@pytest.fixture(scope="module")
def phantom_volume() -> Volume:
    return make_phantom(shape=SHAPE, spacing_mm=SPACING, seed=3).volume


@pytest.fixture(scope="module")
def dicom_dir(tmp_path_factory: pytest.TempPathFactory, phantom_volume: Volume) -> Path:
    folder = tmp_path_factory.mktemp("dicom")
    write_dicom_series(phantom_volume, folder, shuffle=True, seed=11)
    return folder


def test_shuffled_dicom_equals_nifti_and_source(
    tmp_path: Path, dicom_dir: Path, phantom_volume: Volume
) -> None:
    nifti = write_nifti(phantom_volume, tmp_path / "phantom.nii.gz")
    from_dicom = read_volume(dicom_dir)
    from_nifti = read_volume(nifti)
    assert from_dicom.hu.dtype == np.int16
    np.testing.assert_array_equal(from_dicom.hu, phantom_volume.hu)
    np.testing.assert_array_equal(from_nifti.hu, phantom_volume.hu)
    np.testing.assert_allclose(from_dicom.affine, from_nifti.affine, atol=1e-4)


def test_file_names_and_instance_numbers_do_not_follow_slice_order(dicom_dir: Path) -> None:
    files = sorted(dicom_dir.iterdir())
    z = [float(pydicom.dcmread(f).ImagePositionPatient[2]) for f in files]
    instance = [int(pydicom.dcmread(f).InstanceNumber) for f in files]
    assert z != sorted(z) and z != sorted(z, reverse=True)
    order_by_z = np.argsort(z)
    assert list(np.array(instance)[order_by_z]) != sorted(instance)


def test_affine_is_the_analytic_geometry(dicom_dir: Path) -> None:
    volume = read_volume(dicom_dir)
    sx, sy, sz = SPACING
    # Axis 0 runs to the patient's left (-x in RAS), axis 1 to posterior (-y), axis 2 up.
    np.testing.assert_allclose(volume.affine[:3, :3], np.diag([-sx, -sy, sz]), atol=1e-6)
    centre = volume.world_mm(np.array([(n - 1) / 2 for n in SHAPE]))
    np.testing.assert_allclose(centre, 0.0, atol=1e-4)
    assert volume.spacing_mm == pytest.approx(SPACING)


def _flip_axis(volume: Volume, axis: int) -> Volume:
    """The same image with voxel axis ``axis`` reversed; world positions unchanged."""
    hu = np.flip(volume.hu, axis=axis).copy()
    affine = volume.affine.copy()
    affine[:3, 3] += (volume.shape[axis] - 1) * affine[:3, axis]
    affine[:3, axis] *= -1
    return Volume(hu=hu, affine=affine)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_flipped_rows_or_columns_keep_world_coordinates(
    tmp_path: Path, phantom_volume: Volume, axis: int
) -> None:
    marked = phantom_volume.hu.copy()
    ijk = np.array([20, 61, 13])
    marked[tuple(ijk)] = 3071  # unique brightest voxel (phantom maximum is 3000 + noise in metal)
    marked[marked >= 3071] = 3000
    marked[tuple(ijk)] = 3071
    original = Volume(hu=marked, affine=phantom_volume.affine)
    expected_world = original.world_mm(ijk)
    flipped = _flip_axis(original, axis)
    write_dicom_series(flipped, tmp_path / "flipped", seed=5)
    read = read_volume(tmp_path / "flipped")
    found = np.argwhere(read.hu == 3071)
    assert found.shape == (1, 3)
    np.testing.assert_allclose(read.world_mm(found[0]), expected_world, atol=1e-4)
    # Flipping the in-plane axes mirrors the image: the determinant sign of the affine
    # must follow, so every voxel maps to the same world point as before.
    grid = np.argwhere(np.ones((2, 2, 2), dtype=bool)) * 7
    world_read = read.world_mm(grid)
    back = np.linalg.solve(original.affine, np.c_[world_read, np.ones(len(grid))].T).T[:, :3]
    back_idx = np.rint(back).astype(int)
    np.testing.assert_array_equal(read.hu[tuple(grid.T)], original.hu[tuple(back_idx.T)])


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless, DeflatedExplicitVRLittleEndian])
def test_lossless_copy_decodes_to_identical_hu(
    tmp_path: Path, dicom_dir: Path, phantom_volume: Volume, syntax: str
) -> None:
    small = Volume(hu=phantom_volume.hu[:, :, 10:16].copy(), affine=phantom_volume.affine)
    write_dicom_series(small, tmp_path / "compressed", transfer_syntax=syntax)
    assert (
        pydicom.dcmread(next((tmp_path / "compressed").iterdir())).file_meta.TransferSyntaxUID
        == syntax
    )
    np.testing.assert_array_equal(read_volume(tmp_path / "compressed").hu, small.hu)


def test_series_choice_and_series_option(tmp_path: Path, phantom_volume: Volume) -> None:
    big = Volume(hu=phantom_volume.hu[:, :, :12].copy(), affine=phantom_volume.affine)
    small = Volume(hu=phantom_volume.hu[:, :, 20:25].copy(), affine=phantom_volume.affine)
    write_dicom_series(big, tmp_path / "a", series_uid="1.2.3.1")
    write_dicom_series(small, tmp_path / "b" / "nested", series_uid="1.2.3.2")
    write_dicom_series(small, tmp_path / "c", series_uid="1.2.3.3", modality="MR")
    (tmp_path / "readme.txt").write_text("not an image\n")

    volume = read_volume(tmp_path)
    assert volume.metadata["series_uid"] == "1.2.3.1"
    assert volume.shape[2] == 12
    assert "1.2.3.1" in volume.metadata["series_choice"]
    assert "most slices" in volume.metadata["series_choice"]
    assert any("not DICOM" in w for w in volume.metadata["warnings"])

    chosen = read_volume(tmp_path, series_uid="1.2.3.2")
    np.testing.assert_array_equal(chosen.hu, small.hu)

    with pytest.raises(StudyError, match=r"not in the study.*1\.2\.3\.1.*") as err:
        read_volume(tmp_path, series_uid="9.9.9")
    assert "1.2.3.3" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(StudyError, match=r"is MR, calcdx analyses CT only.*--series"):
        read_volume(tmp_path, series_uid="1.2.3.3")
    # a start of several UIDs lists them (a unique start: tests/cli)
    with pytest.raises(StudyError, match=r"--series 1\.2\.3\. is the start of 3 series") as err:
        read_volume(tmp_path, series_uid="1.2.3.")
    assert all(uid in str(err.value) for uid in ("1.2.3.1", "1.2.3.2", "1.2.3.3"))

    listed = {s.uid: s for s in list_series(tmp_path)}
    assert set(listed) == {"1.2.3.1", "1.2.3.2", "1.2.3.3"}
    assert (listed["1.2.3.1"].n_slices, listed["1.2.3.2"].n_slices) == (12, 5)
    assert listed["1.2.3.3"].modality == "MR"
    assert listed["1.2.3.1"].orientation == "axial"


def test_single_slice_uses_slice_thickness(tmp_path: Path, phantom_volume: Volume) -> None:
    one = Volume(hu=phantom_volume.hu[:, :, 7:8].copy(), affine=phantom_volume.affine)
    (path,) = write_dicom_series(one, tmp_path / "one")
    volume = read_volume(path)
    assert volume.shape == (SHAPE[0], SHAPE[1], 1)
    assert volume.spacing_mm[2] == pytest.approx(SPACING[2])
    np.testing.assert_array_equal(volume.hu, one.hu)


def test_single_slice_without_thickness_defaults_to_1mm_with_warning(
    tmp_path: Path, phantom_volume: Volume
) -> None:
    one = Volume(hu=phantom_volume.hu[:, :, 7:8].copy(), affine=phantom_volume.affine)
    (path,) = write_dicom_series(one, tmp_path / "one")
    ds = pydicom.dcmread(path)
    del ds.SliceThickness
    del ds.SpacingBetweenSlices
    ds.save_as(path)
    volume = read_volume(path)
    assert volume.spacing_mm[2] == pytest.approx(1.0)
    assert any("1 mm" in w for w in volume.metadata["warnings"])


def test_metadata_holds_no_patient_identifiers(dicom_dir: Path) -> None:
    volume = read_volume(dicom_dir)
    text = repr(volume.metadata)
    header = pydicom.dcmread(next(dicom_dir.iterdir()))
    for value in (str(header.PatientName), header.PatientID, header.PatientBirthDate):
        assert value not in text
    assert volume.metadata["modality"] == "CT"
    assert volume.metadata["source"] == "dicom"
    assert volume.metadata["slice_thickness_mm"] == pytest.approx(SPACING[2])


def test_small_jitter_is_accepted_with_a_warning(tmp_path: Path, phantom_volume: Volume) -> None:
    part = Volume(hu=phantom_volume.hu[:, :, :8].copy(), affine=phantom_volume.affine)
    paths = write_dicom_series(part, tmp_path / "jitter", shuffle=False)
    ds = pydicom.dcmread(paths[3])
    ds.ImagePositionPatient[2] = float(ds.ImagePositionPatient[2]) + 0.01  # 0.5 % of 2 mm
    ds.save_as(paths[3])
    volume = read_volume(tmp_path / "jitter")
    assert any("jitters" in w for w in volume.metadata["warnings"])
    np.testing.assert_array_equal(volume.hu, part.hu)


def test_nifti_scaling_is_applied(tmp_path: Path) -> None:
    import nibabel as nib

    # stored values 0 to 46 * 23: HU -1024 (air) to +1092 (bone) once scaled
    stored = (np.arange(2 * 3 * 4, dtype=np.int16) * 46).reshape(2, 3, 4)
    image = nib.Nifti1Image(stored, np.diag([0.7, 0.7, 3.0, 1.0]))
    image.header.set_slope_inter(2.0, -1024.0)
    nib.save(image, tmp_path / "scaled.nii")
    volume = read_volume(tmp_path / "scaled.nii")
    np.testing.assert_allclose(volume.hu, stored * 2.0 - 1024.0)
    assert volume.spacing_mm == pytest.approx((0.7, 0.7, 3.0))
