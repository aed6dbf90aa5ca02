"""Injected veins (calcdx.masks.injected): undiluted contrast is excluded, calcification kept.

Synthetic candidates are built voxel by voxel with the geometry each rule speaks of
(a filled tube densest inside, a calcified ring, a plaque arc on an enhanced lumen, a
round phlebolith); the real check is the shared Siemens portal-venous series, whose
left-arm vein holds undiluted contrast (its README and issue 13: about 40 mm along the
arm, cut by both ends of the scan, peak 1,839 HU) while TotalSegmentator's aorta label
marks where wall plaque must still be found.
"""

from pathlib import Path

import numpy as np
import pytest

from calcdx.masks.injected import InjectedVeinConfig, injected_vein

SPACING = (1.0, 1.0, 2.0)
SHAPE = (64, 64, 20)
POOL_HU = 150.0  # a portal venous blood pool


def _tube(radius_mm, *, core_hu, rim_hu, k_range=(0, 20), hollow_hu=None, axis=2,
          length=None):
    """Voxels and HU of a round tube along `axis` centred in the grid (HU >= 130 kept)."""
    ii, jj, kk = np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij")
    xyz = [ii * SPACING[0], jj * SPACING[1], kk * SPACING[2]]
    centre = [32.0, 32.0, 20.0]
    across = [a for a in range(3) if a != axis]
    r = np.hypot(xyz[across[0]] - centre[across[0]], xyz[across[1]] - centre[across[1]])
    along = xyz[axis] / SPACING[axis]
    lo, hi = k_range if length is None else (0, length)
    inside = (r <= radius_mm) & (along >= lo) & (along < hi)
    hu = np.where(r <= 0.5 * radius_mm, core_hu, rim_hu).astype(float)
    if hollow_hu is not None:  # a calcified wall: dense ring, lumen of hollow_hu
        hu = np.where(r <= radius_mm - 1.5, hollow_hu, core_hu)
    mask = inside & (hu >= 130)
    return np.argwhere(mask), hu[mask]


def _judge(ijk, hu, pool=POOL_HU):
    return injected_vein(ijk, hu, SPACING, SHAPE, blood_pool_hu=pool)


def test_filled_dense_tube_through_the_scan_is_an_injected_vein():
    ijk, hu = _tube(3.0, core_hu=1200.0, rim_hu=250.0)
    out = _judge(ijk, hu)
    assert out.injected, out.reason
    assert out.length_mm == pytest.approx(40.0, abs=2.5)
    assert out.diameter_mm == pytest.approx(6.0, abs=1.0)


def test_in_plane_tube_is_judged_along_its_own_axis():
    # an arm vein running across the slices, through the in-plane field of view
    ijk, hu = _tube(3.0, core_hu=1200.0, rim_hu=250.0, axis=0, length=SHAPE[0])
    assert ijk[:, 0].min() == 0 and ijk[:, 0].max() == SHAPE[0] - 1
    assert 0 < ijk[:, 2].min() and ijk[:, 2].max() < SHAPE[2] - 1
    out = _judge(ijk, hu)
    assert out.injected, out.reason
    assert out.length_mm == pytest.approx(64.0, abs=2.5)


def test_a_dense_tube_cut_at_one_end_only_is_kept():
    # a solid calcified artery running out of the first slice and ending in the scan
    ijk, hu = _tube(3.0, core_hu=800.0, rim_hu=250.0, k_range=(0, 12))
    out = _judge(ijk, hu)
    assert not out.injected
    assert out.dense_reaches_edge and "one end only" in out.reason


def test_calcified_vessel_wall_is_kept():
    # rail-track calcification: the dense voxels are the wall, the lumen under 130 HU
    ijk, hu = _tube(4.0, core_hu=900.0, rim_hu=900.0, hollow_hu=40.0)
    out = _judge(ijk, hu)
    assert not out.injected
    assert out.reason == "densest on its wall, not at its centre"


def test_plaque_arc_on_an_enhanced_lumen_is_kept():
    ijk, hu = _tube(4.0, core_hu=300.0, rim_hu=300.0)
    i0, j0 = 32.0, 32.0
    on_arc = (np.hypot(ijk[:, 0] - i0, ijk[:, 1] - j0) >= 3.0) & (ijk[:, 0] > i0 + 1)
    hu = np.where(on_arc, 900.0, hu)
    out = _judge(ijk, hu)
    assert not out.injected


def test_phlebolith_and_short_tube_are_kept():
    ball = np.argwhere(np.ones((5, 5, 3), bool)) + np.array([30, 30, 9])
    ball_hu = np.full(len(ball), 800.0)
    ball_hu[len(ball) // 2] = 1000.0
    assert not _judge(ball, ball_hu).injected
    ijk, hu = _tube(3.0, core_hu=1200.0, rim_hu=250.0, k_range=(0, 6))  # 12 mm long
    out = _judge(ijk, hu)
    assert not out.injected and out.reason.startswith("shorter")


def test_a_dense_tube_inside_the_scan_is_kept():
    # the undiluted column runs in from outside the field of view; one that does not
    # reach the edge of the grid is not taken for it
    ijk, hu = _tube(3.0, core_hu=1200.0, rim_hu=250.0, k_range=(3, 17))
    out = _judge(ijk, hu)
    assert not out.injected
    assert out.reason == "its dense column does not reach the edge of the grid"


def test_an_enhanced_tube_at_blood_density_is_kept():
    # no cross-section far above the blood pool: an enhanced vessel of the phase is for
    # the contrast rules, not this one; an arterial pool raises the bar
    ijk, hu = _tube(3.0, core_hu=260.0, rim_hu=200.0)
    assert not _judge(ijk, hu).injected
    ijk, hu = _tube(3.0, core_hu=600.0, rim_hu=250.0)
    assert _judge(ijk, hu, pool=150.0).injected
    assert not _judge(ijk, hu, pool=500.0).injected


def test_config_is_validated_and_voxels_match_values():
    with pytest.raises(ValueError):
        InjectedVeinConfig(min_occupancy=1.5)
    ijk, hu = _tube(3.0, core_hu=1200.0, rim_hu=250.0)
    with pytest.raises(ValueError, match="one HU per voxel"):
        injected_vein(ijk, hu[:-1], SPACING, SHAPE, blood_pool_hu=POOL_HU)


FOLDER = Path(__file__).resolve().parents[2] / ".." / "shared" / "realct"
SIEMENS = FOLDER / "ts_chest_abdomen_dicom"


@pytest.mark.skipif(not SIEMENS.is_dir(), reason="the shared real-CT folder is absent")
def test_siemens_arm_vein_excluded_aortic_plaque_kept():
    import nibabel as nib

    from calcdx.analysis import analyze_volume
    from calcdx.io import read_volume
    from calcdx.phantom.realct import CLASS_TABLE, labels_on_grid, load_class_table

    vol = read_volume(SIEMENS)
    res = analyze_volume(vol)
    assert res.contrast.enhanced
    hu = np.asarray(vol.hu)
    # The undiluted vein: the scan's densest voxel outside TotalSegmentator's labels
    # whose column of mineral spans every slice (README: 1,839 HU, cut by both ends).
    image = nib.load(FOLDER / "ts_chest_abdomen_dicom_totalseg.nii.gz")
    labels = labels_on_grid(np.asarray(image.dataobj), image.affine, vol.affine, vol.shape)
    peak = np.unravel_index(int(np.argmax(np.where(labels == 0, hu, -2000))), hu.shape)
    assert hu[peak] >= 1500
    column = hu[peak[0] - 2:peak[0] + 3, peak[1] - 2:peak[1] + 3, :].max(axis=(0, 1))
    assert (column >= 130).all(), "the densest unlabelled voxel is not the arm vein"
    assert res.label_map[peak] == 0
    assert res.masks.excluded["injected_vein_components"] >= 1
    assert any("injected vein" in n for n in res.masks.notes)
    # Plaque denser than the enhanced aorta is still found (TotalSegmentator's aorta).
    classes = load_class_table(FOLDER / CLASS_TABLE)
    (aorta,) = [c for c, n in classes.items() if n == "aorta"]
    on_aorta = [les for les in res.lesions if np.any(labels[res.label_map == les.id] == aorta)]
    assert on_aorta and max(les.peak_hu for les in on_aorta) > 600
