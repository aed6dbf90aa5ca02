"""The phantom's planted lesions and anatomy match their analytic description."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from calcdx.io import read_volume
from calcdx.phantom import (
    LESION_KINDS,
    NOISE_SD_HU,
    Phantom,
    Tissue,
    make_phantom,
    write_phantom,
)

COMPARTMENT_TISSUE = {
    "muscle": {Tissue.MUSCLE},
    "periarticular": {Tissue.MUSCLE},
    "juxtacortical": {Tissue.MUSCLE},
    "subcutaneous": {Tissue.FAT},
    "pelvic_fat": {Tissue.PELVIC_FAT},
    "vessel_wall": {Tissue.VESSEL_WALL, Tissue.LUMEN},
}


@pytest.fixture(scope="module")
def phantom() -> Phantom:
    return make_phantom(seed=7)


def test_every_kind_is_planted(phantom: Phantom) -> None:
    assert {lesion.kind for lesion in phantom.truth} == set(LESION_KINDS)
    assert [lesion.id for lesion in phantom.truth] == list(range(1, len(phantom.truth) + 1))
    assert set(np.unique(phantom.labels)) == {0, *(lesion.id for lesion in phantom.truth)}


def test_voxel_volumes_and_centres_follow_the_label_map(phantom: Phantom) -> None:
    voxel = 0.8 * 0.8 * 2.0
    for lesion in phantom.truth:
        mask = phantom.labels == lesion.id
        assert lesion.voxel_count == int(mask.sum())
        assert lesion.volume_mm3 == pytest.approx(mask.sum() * voxel)
        centre = phantom.volume.world_mm(np.argwhere(mask).mean(axis=0))
        np.testing.assert_allclose(lesion.centre_mm, centre, atol=1e-6)


def test_analytic_volumes_from_formulas(phantom: Phantom) -> None:
    by_kind: dict[str, list[float]] = {}
    for lesion in phantom.truth:
        by_kind.setdefault(lesion.kind, []).append(lesion.analytic_volume_mm3)
    # Intramuscular zonal lesion: ellipsoid with semi-axes 9, 8, 12 mm.
    assert by_kind["zonal_rim"][0] == pytest.approx(4 / 3 * np.pi * 9 * 8 * 12)
    # Punctate dots: spheres of radius 1.5 mm.
    assert by_kind["punctate_dots"] == pytest.approx([4 / 3 * np.pi * 1.5**3] * 3)
    # Nine rice grains of semi-axes 1.2, 1.2, 4.5 mm.
    assert by_kind["rice_grain_cluster"][0] == pytest.approx(9 * 4 / 3 * np.pi * 1.2 * 1.2 * 4.5)
    # Phlebolith: shell between radii 3 and 1.5 mm.
    assert by_kind["phlebolith_ring"][0] == pytest.approx(4 / 3 * np.pi * (3**3 - 1.5**3))
    # Three aortic wall arcs between radii 7 and 9.5 mm: 40, 40 and 50 degrees, 10, 12, 8 mm long.
    arcs = sum(np.radians(a) * h for a, h in ((40, 10), (40, 12), (50, 8)))
    assert by_kind["vessel_wall_plaques"][0] == pytest.approx(0.5 * (9.5**2 - 7**2) * arcs)


def test_large_lesions_rasterise_close_to_their_analytic_volume(phantom: Phantom) -> None:
    for lesion in phantom.truth:
        if lesion.analytic_volume_mm3 >= 100:
            assert lesion.volume_mm3 == pytest.approx(lesion.analytic_volume_mm3, rel=0.10)


def test_lesions_sit_in_their_compartment(phantom: Phantom) -> None:
    for lesion in phantom.truth:
        codes = set(np.unique(phantom.tissue[phantom.labels == lesion.id]).tolist())
        assert codes <= COMPARTMENT_TISSUE[lesion.compartment], (lesion.kind, codes)


def test_only_the_juxtacortical_lesion_touches_bone(phantom: Phantom) -> None:
    skeleton = phantom.skeleton_mask()
    distance = ndimage.distance_transform_edt(~skeleton, sampling=(0.8, 0.8, 2.0))
    for lesion in phantom.truth:
        nearest = float(distance[phantom.labels == lesion.id].min())
        assert lesion.distance_to_bone_mm == pytest.approx(nearest)
        if lesion.compartment == "juxtacortical":
            assert lesion.touches_bone and nearest <= 0.8 + 1e-9
        else:
            assert not lesion.touches_bone and nearest >= 3.0, lesion.kind


def test_parts_are_separate_pieces(phantom: Phantom) -> None:
    parts = {lesion.kind: lesion.n_parts for lesion in phantom.truth}
    assert parts["rice_grain_cluster"] == 9
    assert parts["lobulated_periarticular_cluster"] == 5
    assert parts["vessel_wall_plaques"] == 3
    assert parts["serpiginous_linear"] == 1


def test_planted_hu_survive_noise(phantom: Phantom) -> None:
    for lesion in phantom.truth:
        values = phantom.volume.hu[phantom.labels == lesion.id].astype(float)
        tolerance = 5 * NOISE_SD_HU / np.sqrt(values.size)
        assert values.mean() == pytest.approx(lesion.mean_hu, abs=tolerance)
        assert lesion.peak_hu >= 130


def test_fluid_calcium_level_is_denser_posteriorly(phantom: Phantom) -> None:
    (cluster,) = [t for t in phantom.truth if t.kind == "lobulated_periarticular_cluster"]
    labelled, _ = ndimage.label(phantom.labels == cluster.id, structure=np.ones((3, 3, 3)))
    sizes = np.bincount(labelled.ravel())[1:]
    largest = np.argwhere(labelled == int(np.argmax(sizes)) + 1)
    j_mid = largest[:, 1].mean()
    hu = phantom.volume.hu.astype(float)
    anterior = hu[tuple(largest[largest[:, 1] < j_mid - 1].T)].mean()
    posterior = hu[tuple(largest[largest[:, 1] > j_mid + 1].T)].mean()
    assert anterior == pytest.approx(220, abs=10) and posterior == pytest.approx(600, abs=10)


def test_background_anatomy_values(phantom: Phantom) -> None:
    hu, tissue = phantom.volume.hu.astype(float), phantom.tissue
    muscle = hu[(tissue == Tissue.MUSCLE) & (phantom.labels == 0)]
    # Streaks touch a minority of muscle voxels; the median and MAD are robust to them.
    assert np.median(muscle) == pytest.approx(50, abs=1)
    mad_sd = 1.4826 * np.median(np.abs(muscle - np.median(muscle)))
    assert mad_sd == pytest.approx(NOISE_SD_HU, rel=0.05)
    assert np.median(hu[tissue == Tissue.FAT]) == pytest.approx(-100, abs=2)
    assert np.median(hu[tissue == Tissue.METAL]) >= 2900
    assert np.median(hu[tissue == Tissue.CORTEX]) >= 1000
    assert np.median(hu[tissue == Tissue.TABLE]) == pytest.approx(450, abs=5)
    assert np.median(hu[tissue == Tissue.AIR]) == pytest.approx(-1000, abs=2)
    assert np.median(hu[tissue == Tissue.LUMEN]) == pytest.approx(40, abs=2)
    # The table lies outside the body: no table voxel touches skin, fat or muscle.
    body = np.isin(tissue, (Tissue.SKIN, Tissue.FAT, Tissue.MUSCLE))
    assert not np.any(ndimage.binary_dilation(tissue == Tissue.TABLE) & body)


def test_contrast_enhances_lumen_and_kidneys() -> None:
    enhanced = make_phantom(shape=(96, 96, 48), spacing_mm=(1.6, 1.6, 4.0), contrast=True)
    hu = enhanced.volume.hu.astype(float)
    assert np.median(hu[enhanced.tissue == Tissue.LUMEN]) == pytest.approx(300, abs=3)
    assert np.median(hu[enhanced.tissue == Tissue.KIDNEY]) == pytest.approx(200, abs=3)
    assert enhanced.contrast


def test_other_spacing_draws_the_same_objects(phantom: Phantom) -> None:
    coarse = make_phantom(shape=(96, 96, 48), spacing_mm=(1.6, 1.6, 4.0), seed=7)
    fine = {(t.kind, t.region): t for t in phantom.truth}
    assert len(coarse.truth) >= len(phantom.truth) - 1  # a 3 mm dot can fall between 4 mm slices
    for lesion in coarse.truth:
        reference = fine[(lesion.kind, lesion.region)]
        assert lesion.analytic_volume_mm3 == pytest.approx(reference.analytic_volume_mm3, rel=0.02)
        np.testing.assert_allclose(lesion.centre_mm, reference.centre_mm, atol=4.0)


def test_seed_changes_noise_only() -> None:
    a = make_phantom(shape=(96, 96, 48), spacing_mm=(1.6, 1.6, 4.0), seed=1)
    b = make_phantom(shape=(96, 96, 48), spacing_mm=(1.6, 1.6, 4.0), seed=1)
    c = make_phantom(shape=(96, 96, 48), spacing_mm=(1.6, 1.6, 4.0), seed=2)
    np.testing.assert_array_equal(a.volume.hu, b.volume.hu)
    assert not np.array_equal(a.volume.hu, c.volume.hu)
    np.testing.assert_array_equal(a.labels, c.labels)


def test_write_phantom_round_trip(tmp_path: Path) -> None:
    shape, spacing = (96, 96, 48), (1.6, 1.6, 4.0)
    written = write_phantom(tmp_path, contrast=True, seed=4, shape=shape, spacing_mm=spacing)
    truth = json.loads(written["truth"].read_text())
    expected = make_phantom(shape=shape, spacing_mm=spacing, contrast=True, seed=4)
    assert truth["contrast"] is True
    assert [t["kind"] for t in truth["lesions"]] == [t.kind for t in expected.truth]
    from_dicom = read_volume(written["dicom"])
    from_nifti = read_volume(written["nifti"])
    np.testing.assert_array_equal(from_dicom.hu, expected.volume.hu)
    np.testing.assert_array_equal(from_nifti.hu, expected.volume.hu)
    np.testing.assert_allclose(from_dicom.affine, from_nifti.affine, atol=1e-4)
    # a label map, not a CT: read as plain data (read_volume refuses non-HU values)
    labels = np.asanyarray(nib.load(written["labels"]).dataobj)
    np.testing.assert_array_equal(labels, expected.labels)
