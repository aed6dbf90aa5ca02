"""Gantry tilt and uneven slice spacing: resampled onto an orthogonal, even grid, and said so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from calcdx.errors import StudyError
from calcdx.io import read_volume
from calcdx.io._geometry import stack_geometry
from calcdx.io._resample import AIR_HU, plan_resampling, resample_stack
from calcdx.phantom import make_phantom, write_dicom_series
from calcdx.study import run_study
from calcdx.volume import Volume


@pytest.fixture(scope="module")
def upright() -> Volume:
    full = make_phantom(shape=(64, 64, 40), spacing_mm=(1.2, 1.2, 2.5), seed=1).volume
    return Volume(hu=full.hu[:, :, 14:26].copy(), affine=full.affine)


def _tilted_copy(upright: Volume, shift_px: int) -> Volume:
    """The same anatomy acquired with gantry tilt: slice k starts k * shift_px pixels
    further along the second array axis, so each slice sees the upright slice shifted."""
    hu = np.full(upright.shape, AIR_HU, dtype=upright.hu.dtype)
    n_j = upright.shape[1]
    for k in range(upright.shape[2]):
        s = k * shift_px
        hu[:, : n_j - s, k] = upright.hu[:, s:, k]
    affine = upright.affine.copy()
    affine[:3, 2] = affine[:3, 2] + shift_px * affine[:3, 1]
    return Volume(hu=hu, affine=affine)


def test_tilted_series_is_resampled_back_onto_the_upright_grid(tmp_path: Path, upright: Volume):
    tilted = _tilted_copy(upright, shift_px=1)  # 1.2 mm sideways per 2.5 mm step: 25.6 degrees
    write_dicom_series(tilted, tmp_path / "series")
    volume = read_volume(tmp_path / "series")

    assert "gantry tilt of 25.6 degrees" in volume.metadata["resampled"]
    assert any("gantry tilt" in w for w in volume.metadata["warnings"])
    # orthogonal grid with the upright spacing, widened to keep every acquired pixel
    np.testing.assert_allclose(volume.spacing_mm, upright.spacing_mm, atol=1e-6)
    lin = volume.affine[:3, :3] / np.asarray(volume.spacing_mm)
    np.testing.assert_allclose(lin.T @ lin, np.eye(3), atol=1e-6)
    assert volume.shape == (64, 64 + 11, 12)
    # every acquired voxel is back where the upright volume has it (integer shifts:
    # the linear interpolation is exact)
    to_out = np.linalg.inv(volume.affine) @ upright.affine
    np.testing.assert_allclose(to_out[:3, :3], np.eye(3), atol=1e-6)
    shift = np.rint(to_out[:3, 3]).astype(int)
    for k in range(upright.shape[2]):
        covered = slice(k, 64)  # upright columns the tilted slice k saw
        got = volume.hu[:, shift[1] + k : shift[1] + 64, k + shift[2]]
        np.testing.assert_array_equal(got, upright.hu[:, covered, k])


def test_tilted_study_runs_without_seg_and_sr(tmp_path: Path, upright: Volume):
    write_dicom_series(_tilted_copy(upright, shift_px=1), tmp_path / "series")
    outcome = run_study(tmp_path / "series", tmp_path / "out")
    assert {"result", "labels", "report", "fhir"} <= set(outcome.files)
    assert "seg" not in outcome.files and "sr" not in outcome.files
    assert any("gantry tilt" in w for w in outcome.document["warnings"])


def test_uneven_spacing_is_interpolated_between_slices(tmp_path: Path):
    depths = np.array([0.0, 2.4, 5.1, 7.5, 9.9, 12.6, 15.0])  # steps 2.4 and 2.7 mm
    affine = np.diag([1.0, 1.0, 2.4, 1.0])
    ramp = np.zeros((16, 16, len(depths)), dtype=np.int16)
    paths = write_dicom_series(Volume(hu=ramp, affine=affine), tmp_path / "series", shuffle=False)
    for path, depth in zip(paths, depths, strict=True):
        ds = pydicom.dcmread(path)
        position = [float(v) for v in ds.ImagePositionPatient]
        position[2] = float(depth)  # axial stack: LPS z is RAS z
        ds.ImagePositionPatient = position
        pixels = np.full((16, 16), 10.0 * depth - float(ds.RescaleIntercept))
        ds.PixelData = pixels.astype(np.uint16).tobytes()
        ds.save_as(path)

    volume = read_volume(tmp_path / "series")
    assert "uneven slice spacing (steps 2.400 to 2.700 mm)" in volume.metadata["resampled"]
    assert volume.shape == (16, 16, 7)  # 0 to 14.4 mm every 2.4 mm
    assert volume.spacing_mm[2] == pytest.approx(2.4)
    out_depth = np.arange(7) * 2.4
    # HU = 10 x depth is linear, so interpolation between slices recovers it exactly
    # (to the integer rounding of the stored HU)
    np.testing.assert_allclose(volume.hu[5, 5, :], 10.0 * out_depth, atol=0.51)


def test_plan_widens_the_field_of_view_for_both_drift_directions():
    lateral = np.array([[0.0, 0.0], [1.5, -0.5], [3.0, -1.0]])
    plan = plan_resampling(lateral, np.array([0.0, 2.0, 4.0]), (10, 10), 2.0, ("tilt",))
    assert plan.shape == (13, 11)
    assert plan.origin_shift_px == (0.0, -1.0)
    assert plan.n_slices == 3
    # input index = output index + offset: the first slice sits one pixel in along axis 1
    np.testing.assert_allclose(plan.offsets_px[0], [0.0, -1.0])
    hu = np.zeros((10, 10, 3), dtype=np.float32)
    hu[4, 4, :] = 100.0
    out = resample_stack(hu, plan)
    assert out.shape == (13, 11, 3)
    assert out[4, 5, 0] == pytest.approx(100.0)
    # slice 1 moved by (1.5, -0.5) px: its 100 HU spreads over four voxels, total kept
    assert float(out[:, :, 1][out[:, :, 1] > -1000].sum()) == pytest.approx(100.0, abs=1e-3)
    # voxels no input slice reaches are air: slice 0 ends at row 9, slice 2 starts at row 3
    assert out[12, 5, 0] == AIR_HU and out[0, 5, 2] == AIR_HU
    assert out[12, 5, 2] == 0.0 and out[0, 5, 0] == 0.0


def test_tilted_nifti_is_resampled_like_dicom(tmp_path: Path, upright: Volume):
    from calcdx.phantom import write_nifti

    tilted = _tilted_copy(upright, shift_px=2)
    path = write_nifti(tilted, tmp_path / "tilted.nii.gz")
    volume = read_volume(path)
    assert "gantry tilt" in volume.metadata["resampled"]
    to_out = np.linalg.inv(volume.affine) @ upright.affine
    np.testing.assert_allclose(to_out[:3, :3], np.eye(3), atol=1e-6)
    shift = np.rint(to_out[:3, 3]).astype(int)
    for k in range(upright.shape[2]):
        got = volume.hu[:, shift[1] + 2 * k : shift[1] + 64, k + shift[2]]
        np.testing.assert_array_equal(got, upright.hu[:, 2 * k :, k])


def test_upright_nifti_is_left_alone(tmp_path: Path, upright: Volume):
    from calcdx.phantom import write_nifti

    volume = read_volume(write_nifti(upright, tmp_path / "upright.nii.gz"))
    assert volume.metadata["resampled"] is None
    np.testing.assert_array_equal(volume.hu, upright.hu)
    np.testing.assert_allclose(volume.affine, upright.affine)


def _axial(depths: list[float]) -> np.ndarray:
    return np.column_stack([np.zeros(len(depths)), np.zeros(len(depths)), depths])


_AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@pytest.mark.parametrize("with_thickness", [True, False])
def test_two_runs_of_slices_are_one_volume_not_a_gap(with_thickness: bool):
    # a head series as acquired: 4 mm slices, a short step, then 7 mm slices
    depths = [4.0 * k for k in range(6)] + [21.0 + 7.0 * k for k in range(6)]
    thickness = [4.0] * 6 + [7.0] * 6 if with_thickness else None
    geometry = stack_geometry(_axial(depths), _AXIAL, (0.5, 0.5), in_plane_shape=(8, 8),
                              thickness_mm=thickness)
    assert geometry.resampling is not None
    assert geometry.step_mm == pytest.approx(float(np.median(np.diff(depths))))
    assert len(geometry.warnings) == 1
    assert "the largest gap 7.000 mm between sorted slices 7 and 8 of 12" in geometry.warnings[0]


def test_slices_missing_in_the_middle_of_a_run_are_refused():
    depths = [2.0 * k for k in range(8)] + [20.0 + 2.0 * k for k in range(5)]  # 14-18 mm gone
    with pytest.raises(StudyError, match="slices are missing") as err:
        stack_geometry(_axial(depths), _AXIAL, (0.5, 0.5), in_plane_shape=(8, 8),
                       thickness_mm=[2.0] * len(depths))
    message = str(err.value)
    assert "a 6.00 mm gap between sorted slices 8 and 9 of 13" in message
    assert "2.00 mm apart and 2.00 mm thick" in message and "about 2 slice(s) missing" in message


def test_a_step_the_slices_are_thick_enough_to_cover_is_not_a_gap():
    depths = [0.0, 3.0, 6.0, 12.0, 15.0, 18.0]  # 6 mm step, but each slice is 5 mm thick
    geometry = stack_geometry(_axial(depths), _AXIAL, (0.5, 0.5), in_plane_shape=(8, 8),
                              thickness_mm=[5.0] * 6)
    assert geometry.resampling is not None and geometry.step_mm == pytest.approx(3.0)
    with pytest.raises(StudyError, match="slices are missing"):
        stack_geometry(_axial(depths), _AXIAL, (0.5, 0.5), in_plane_shape=(8, 8),
                       thickness_mm=[3.0] * 6)
