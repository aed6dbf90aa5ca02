"""Mixing blood and the local blood rule (calcdx.masks.lumen, calcdx.lesions.detect).

Synthetic: an enhanced aorta (the blood pool) beside a right-heart chamber of mixing
contrast (fine swirls, SD 200 HU round 200 HU above the pool's density, a 3 mm wall) whose wall lies
on a vertebral body (cortex, marrow); the truth is the geometry drawn. Real: on the
shared CTA the superior vena cava's undiluted column and the right atrium's mixing
contrast (where they lie was read on its slices: the caval column at axial slices
78-100 right of the ascending aorta, the atrium at slices 25-65 in front of it) must
not be skeleton, and nothing reported may lie in the cardiac blood.
"""

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi

from calcdx.analysis import AnalysisParameters
from calcdx.lesions.detect import _above_local_blood
from calcdx.masks.bone import bone_mask
from calcdx.masks.lumen import LumenMask, blood_pool_lumen, local_blood, mixing_blood

SPACING = (1.0, 1.0, 2.0)
SHAPE = (110, 110, 24)


def _scene(pool_hu=400.0, pool_sd_hu=15.0, marrow_hu=250.0, cortex_hu=800.0, seed=0):
    """Aorta (r 10 mm), chamber (r 14 mm, 3 mm wall at 100 HU), vertebra (r 14 mm)."""
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.arange(SHAPE[0], dtype=float), np.arange(SHAPE[1], dtype=float),
                       indexing="ij")
    hu = np.full(SHAPE, 40.0)
    r_a = np.hypot(x - 80, y - 40)
    r_c = np.hypot(x - 35, y - 40)
    r_v = np.hypot(x - 35, y - 76)  # its cortex touches the chamber's wall
    aorta = r_a <= 10
    chamber = r_c <= 14
    hu[r_c <= 17] = 100.0
    swirl = ndi.gaussian_filter(rng.normal(0.0, 1.0, SHAPE), (1.5, 1.5, 1.0))
    swirl *= 200.0 / swirl.std()
    mix = np.clip(pool_hu + 200.0 + swirl, 100.0, 2500.0)
    hu[chamber] = mix[chamber]
    hu[aorta] = pool_hu
    hu[r_v <= 14] = cortex_hu
    hu[r_v <= 12] = marrow_hu
    hu += rng.normal(0.0, 10.0, SHAPE)
    seeds = np.array([[80, 40, k] for k in range(0, SHAPE[2], 2)])
    blood = blood_pool_lumen(hu, SPACING, seeds, pool_hu, pool_sd_hu, with_wall=False)
    deep = (r_c <= 11)[:, :, None] & np.ones(SHAPE[2], bool)  # beyond its edge's voxels
    vertebra = (r_v <= 14)[:, :, None] & np.ones(SHAPE[2], bool)
    return hu, blood, chamber[:, :, None] & np.ones(SHAPE[2], bool), deep, vertebra


def test_the_mixing_chamber_joins_the_blood_and_the_vertebra_does_not():
    hu, blood, _, deep, vertebra = _scene()
    assert not blood[deep].any()  # its swirls leave the pool's window: not followed by it
    mixing = mixing_blood(hu, blood, SPACING, 400.0, 15.0, within=hu >= 130)
    # measured 0.89: swirls below the window's bottom cut a few edge pieces narrower
    # than the neck's opening off the chamber
    assert mixing[deep & (hu >= 130)].mean() >= 0.85
    assert not mixing[vertebra].any()


@pytest.mark.parametrize(("pool_hu", "marrow_hu", "cortex_hu"),
                         [(150.0, 220.0, 500.0), (400.0, 450.0, 900.0)])
def test_marrow_denser_than_the_pool_is_not_mixing_blood(pool_hu, marrow_hu, cortex_hu):
    # portal venous (marrow above the pool at thin voxels) and arterial with dense marrow:
    # the vertebra is densest in its cortex, not inside
    hu, blood, *_, vertebra = _scene(pool_hu=pool_hu, marrow_hu=marrow_hu,
                                     cortex_hu=cortex_hu)
    mixing = mixing_blood(hu, blood, SPACING, pool_hu, 10.0, within=hu >= 130)
    assert not mixing[vertebra].any()


def test_the_skeleton_keeps_the_vertebra_and_not_the_chamber():
    hu, blood, _, deep, vertebra = _scene()
    mixing = mixing_blood(hu, blood, SPACING, 400.0, 15.0, within=hu >= 130)
    before = bone_mask(hu, SPACING, enhanced=True,
                       blood_lumen=LumenMask((0, 0, 0), blood, 400.0)).full(SHAPE)
    after = bone_mask(hu, SPACING, enhanced=True,
                      blood_lumen=LumenMask((0, 0, 0), blood | mixing, 400.0)).full(SHAPE)
    assert before[deep].mean() > 0.5  # the chamber on the vertebra was filled as bone
    assert after[deep].mean() < 0.2  # measured 0.12: those edge pieces
    marrow = vertebra & (hu < 600)
    assert after[marrow].mean() > 0.95


def _tube(noise_hu, speck_hu, seed=1):
    """A lumen 10 mm in radius of 500 HU blood spread by `noise_hu`, one voxel of `speck_hu`."""
    x, y = np.meshgrid(np.arange(40.0), np.arange(40.0), indexing="ij")
    lumen = np.repeat((np.hypot(x - 20, y - 20) <= 10)[:, :, None], 6, axis=2)
    hu = np.where(lumen, 500.0, 40.0) + np.random.default_rng(seed).normal(0, 1, lumen.shape) * \
        np.where(lumen, noise_hu, 10.0)
    hu[20, 20, 3] = speck_hu
    return hu, LumenMask((0, 0, 0), lumen, 500.0, blood=lumen)


def test_local_blood_measures_the_blood_beside_a_set():
    hu, lumen = _tube(60.0, 800.0)
    blood = local_blood(np.array([[20, 20, 3]]), lumen, hu, width_vox=2)
    assert blood.n_voxels == 24
    assert abs(blood.median_hu - 500.0) < 40.0 and 30.0 < blood.robust_sd_hu < 90.0
    assert local_blood(np.array([[1, 1, 3]]), lumen, hu).n_voxels == 0


def test_a_speck_of_streaked_blood_is_no_deposit_and_plaque_is():
    params = AnalysisParameters()
    # blood spread by 60 HU (streaks): a 750 HU voxel is inside its spread (5 x 60 above)
    hu, lumen = _tube(60.0, 750.0)
    speck = (np.array([[20, 20, 3]]), np.array([750.0]), "bone_adjacent")
    assert not _above_local_blood(speck, lumen, hu, params, 10.0, SPACING)
    # homogeneous blood (SD 15 HU): a 900 HU plaque voxel stands clear of it
    hu, lumen = _tube(15.0, 900.0)
    plaque = (np.array([[20, 20, 3]]), np.array([900.0]), "bone_adjacent")
    assert _above_local_blood(plaque, lumen, hu, params, 10.0, SPACING)


CTA = Path(__file__).resolve().parents[2] / ".." / "shared" / "realct" / "ts_chest_cta_1p5mm.nii.gz"


@pytest.mark.skipif(not CTA.is_file(), reason="the shared real CT is absent")
def test_cta_caval_column_and_right_atrium_are_not_skeleton_nor_lesions():
    from calcdx.io import read_volume
    from calcdx.lesions.detect import detect_lesions

    vol = read_volume(CTA)
    det = detect_lesions(vol.hu, vol.affine, AnalysisParameters(), metadata=vol.metadata)
    hu = np.asarray(vol.hu)
    bone = det.bone.full(vol.shape)
    svc = np.zeros(vol.shape, bool)
    svc[25:45, 45:68, 78:100] = True
    svc &= hu >= 1000  # undiluted contrast in the superior vena cava
    atrium = np.zeros(vol.shape, bool)
    atrium[25:55, 15:55, 25:65] = True
    atrium &= hu >= 700  # the atrium's swirls of mixing contrast
    # measured: 2 % and 0.5 % (before mixing blood left the mineral: 100 % and 100 %)
    assert bone[svc].mean() < 0.1
    assert bone[atrium].mean() < 0.05
    # the caval column's undiluted contrast (up to 3,209 HU) is not metal
    # (calcdx.masks.injected.dense_contrast); the sternal wires in front stay metal
    pts = np.c_[det.metal.points_mm, np.ones(len(det.metal.points_mm))]
    metal_ijk = np.rint((np.linalg.inv(vol.affine) @ pts.T)[:3].T).astype(int)
    assert len(metal_ijk) > 0
    # the column: the region at half the metal threshold holding the box's densest voxel
    # (the few dots in the fat beside it, surgical clips or wires, stay metal)
    lab, _ = ndi.label(hu >= 1250, structure=np.ones((3, 3, 3)))
    densest = np.unravel_index(np.argmax(np.where(svc, hu, -np.inf)), hu.shape)
    column = lab == lab[densest]
    assert not column[tuple(metal_ijk.T)].any()
    assert det.summary["dense_contrast_volume_mm3"] >= (
        np.count_nonzero(column & svc & (hu >= 2500)) * abs(np.linalg.det(vol.affine[:3, :3])))
    lumen = det.blood_pool_lumen
    assert lumen is not None
    for les in det.lesions:  # nothing reported lies in the cardiac blood
        assert not lumen.blood_on_box(np.zeros(3, np.intp), np.asarray(vol.shape))[
            les.ijk[:, 0], les.ijk[:, 1], les.ijk[:, 2]].any()
