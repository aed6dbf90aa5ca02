"""The phantom read as a shuffled DICOM series and as NIfTI gives the same lesions."""

from __future__ import annotations

import numpy as np
import pytest

from calcdx.analysis import AnalysisResult, analyze_volume
from calcdx.io import read_volume
from calcdx.phantom import make_phantom, write_dicom_series, write_nifti
from calcdx.volume import Volume


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[
    tuple[Volume, AnalysisResult], tuple[Volume, AnalysisResult]
]:
    ph = make_phantom(shape=(96, 96, 48), spacing_mm=(1.6, 1.6, 4.0))
    root = tmp_path_factory.mktemp("phantom")
    write_dicom_series(ph.volume, root / "dicom", shuffle=True, seed=3)
    write_nifti(ph, root / "ct.nii.gz")
    dicom = read_volume(root / "dicom")
    nifti = read_volume(root / "ct.nii.gz")
    return (dicom, analyze_volume(dicom)), (nifti, analyze_volume(nifti))


def _world_sets(volume: Volume, result: AnalysisResult) -> dict[int, set[tuple[float, ...]]]:
    """Per lesion id, its voxel centres in world mm (rounded to 0.01 mm; NIfTI stores float32)."""
    out: dict[int, set[tuple[float, ...]]] = {}
    for les in result.lesions:
        ijk = np.argwhere(result.label_map == les.id)
        xyz = np.round(volume.world_mm(ijk.astype(np.float64)), 2) + 0.0
        out[les.id] = {tuple(float(v) for v in p) for p in xyz}
    return out


def test_same_grid_in_world(both) -> None:
    (dicom, _), (nifti, _) = both
    assert dicom.shape == nifti.shape
    corners = np.array([[0, 0, 0], [95, 0, 0], [0, 95, 0], [0, 0, 47]], dtype=np.float64)
    np.testing.assert_allclose(dicom.world_mm(corners), nifti.world_mm(corners), atol=1e-3)


def test_same_lesions_volumes_and_label_maps(both) -> None:
    (dicom, res_d), (nifti, res_n) = both
    assert res_d.totals.n_lesions == res_n.totals.n_lesions > 0
    assert [les.volume_mm3 for les in res_d.lesions] == pytest.approx(
        [les.volume_mm3 for les in res_n.lesions], rel=1e-6
    )
    assert [les.peak_hu for les in res_d.lesions] == [les.peak_hu for les in res_n.lesions]
    assert res_d.totals.agatston == pytest.approx(res_n.totals.agatston, rel=1e-6)
    assert res_d.contrast.enhanced == res_n.contrast.enhanced
    world_d = _world_sets(dicom, res_d)
    world_n = _world_sets(nifti, res_n)
    assert sorted(world_d.values(), key=sorted) == sorted(world_n.values(), key=sorted)
    for les_d, les_n in zip(res_d.lesions, res_n.lesions, strict=True):
        np.testing.assert_allclose(les_d.centroid_mm, les_n.centroid_mm, atol=1e-3)
