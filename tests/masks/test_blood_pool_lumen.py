"""The lumen continuous with the blood pool (calcdx.masks.lumen), and bone_mask without it.

Synthetic: an enhanced aorta with a dense plaque arc lying against a vertebra (cortex and
marrow); the truth is the geometry drawn. Real: on the shared Siemens portal-venous series
the lumen found must lie in TotalSegmentator's aorta label (an independent segmentation).
"""

from pathlib import Path

import numpy as np
import pytest

from calcdx.masks.bone import bone_mask
from calcdx.masks.lumen import LumenMask, blood_pool_lumen, lumen_contact

SPACING = (2.0, 2.0, 3.0)  # in-plane voxels over BoneConfig.lumen_max_voxel_mm: step 2b off
SHAPE = (96, 96, 30)
LUMEN_HU = 300.0


def _scene(seed=0):
    """Aorta (lumen radius 10 voxels, 300 HU) beside a vertebral body (cortex 800, marrow 250).

    Radii in voxels: at 2 mm a large aorta 20 mm in radius, a 6 mm wall, the body 32 mm.
    """
    x, y = np.meshgrid(np.arange(SHAPE[0], dtype=float), np.arange(SHAPE[1], dtype=float),
                       indexing="ij")
    hu = np.full(SHAPE[:2], 40.0)
    r_v = np.hypot(x - 48, y - 30)
    hu[r_v <= 16] = 800.0  # cortex
    hu[r_v <= 13] = 250.0  # marrow
    r_a = np.hypot(x - 48, y - 59)  # the aorta's wall touches the cortex
    hu[(r_a > 10) & (r_a <= 12.5)] = 40.0  # aortic wall
    lumen = r_a <= 10
    hu[lumen] = LUMEN_HU
    plaque = (r_a > 8) & (r_a <= 10) & (x > 54)
    vol = np.repeat(hu[:, :, None], SHAPE[2], axis=2)
    plaque3 = np.zeros(SHAPE, bool)
    plaque3[:, :, 10:16] = plaque[:, :, None]
    vol[plaque3] = 900.0
    vol += np.random.default_rng(seed).normal(0.0, 10.0, SHAPE)
    lumen3 = np.repeat(lumen[:, :, None], SHAPE[2], axis=2) & ~plaque3
    marrow3 = np.repeat((r_v <= 13)[:, :, None], SHAPE[2], axis=2)
    seeds = np.array([[48, 59, k] for k in range(0, SHAPE[2], 3)])
    return vol, lumen3, plaque3, marrow3, seeds


def test_lumen_follows_the_pool_and_leaves_plaque_and_marrow():
    hu, lumen, plaque, marrow, seeds = _scene()
    found = blood_pool_lumen(hu, SPACING, seeds, LUMEN_HU, 10.0)
    inner = lumen & (np.hypot(*np.meshgrid(np.arange(96) - 48.0, np.arange(96) - 59.0,
                                             indexing="ij")) <= 9)[:, :, None]
    assert found[inner].mean() > 0.98
    assert not found[plaque].any()
    assert not found[marrow].any()


@pytest.mark.parametrize(("cortex_hu", "marrow_hu"), [(500.0, 220.0), (300.0, 160.0)])
def test_three_mm_voxels_aorta_on_the_spine_keeps_out_of_the_marrow(cortex_hu, marrow_hu):
    # Drawn at 0.5 mm and averaged to 3 mm voxels (partial volume as a 3 mm scan has it):
    # a portal-venous aorta (11 mm radius, 150 HU) whose 1 mm wall lies on a vertebral
    # body, its marrow normal or osteopenic (at the blood's density), its cortex 1 mm.
    x, y = np.meshgrid(np.arange(360) * 0.5, np.arange(360) * 0.5, indexing="ij")
    fine = np.full(x.shape, 40.0)
    r_body = np.hypot(x - 90, y - 70)
    fine[r_body <= 20] = cortex_hu
    fine[r_body <= 19] = marrow_hu
    fine[np.hypot(x - 90, y - 102) <= 11] = 150.0  # lumen from 91 mm: 1 mm of wall at 40 HU
    coarse = fine.reshape(60, 6, 60, 6).mean(axis=(1, 3))
    hu = np.repeat(coarse[:, :, None], 10, axis=2)
    hu += np.random.default_rng(0).normal(0.0, 12.0, hu.shape)
    seeds = np.array([[30, 34, k] for k in range(10)])
    found = blood_pool_lumen(hu, (3.0, 3.0, 3.0), seeds, 150.0, 10.0)
    xc, yc = np.meshgrid(np.arange(60) * 3 + 1.5, np.arange(60) * 3 + 1.5, indexing="ij")
    marrow = np.hypot(xc - 90, yc - 70) <= 16
    aorta = np.hypot(xc - 90, yc - 102) <= 8
    assert found[aorta[:, :, None] & np.ones(10, bool)].mean() > 0.95
    assert not found[marrow[:, :, None] & np.ones(10, bool)].any()


def test_no_seed_in_the_lumen_finds_nothing():
    hu, *_ = _scene()
    assert not blood_pool_lumen(hu, SPACING, np.array([[5, 5, 5]]), LUMEN_HU, 10.0).any()
    with pytest.raises(ValueError, match="same grid"):
        blood_pool_lumen(hu, SPACING, np.array([[5, 5, 5]]), LUMEN_HU, 10.0,
                         within=np.ones((2, 2, 2), bool))


def test_bone_mask_keeps_the_lumen_out_and_the_vertebra_in():
    hu, lumen, _, marrow, seeds = _scene()
    without = bone_mask(hu, SPACING, enhanced=True).full(SHAPE)
    found = blood_pool_lumen(hu, SPACING, seeds, LUMEN_HU, 10.0)
    given = LumenMask(offset=(0, 0, 0), mask=found, median_hu=LUMEN_HU)
    with_lumen = bone_mask(hu, SPACING, enhanced=True, blood_lumen=given).full(SHAPE)
    # The aorta holds dense plaque: without its lumen, lumen and plaque are taken as bone.
    assert without[lumen].mean() > 0.5
    assert not with_lumen[lumen].any()
    assert with_lumen[marrow].mean() > 0.95


def test_contact_tells_a_spike_in_the_blood_from_wall_plaque():
    hu, _, plaque, _, seeds = _scene()
    found = blood_pool_lumen(hu, SPACING, seeds, LUMEN_HU, 10.0)
    given = LumenMask(offset=(0, 0, 0), mask=found, median_hu=LUMEN_HU)
    spike = np.array([[46, 59, 20], [47, 59, 20]])  # inside the blood, off the wall
    assert lumen_contact(spike, given, SHAPE).fraction == 1.0
    assert lumen_contact(np.argwhere(plaque), given, SHAPE).fraction < 0.9


def test_contact_names_the_density_of_the_tube_touched():
    # two lumens of their own density side by side (aorta 300 HU, pulmonary trunk 500 HU);
    # a deposit on the second's wall is judged against 500 HU, not the pool's 300
    tube = np.zeros((20, 10, 4), np.uint8)
    tube[0:8] = 1
    tube[12:20] = 2
    lumen = LumenMask(offset=(0, 0, 0), mask=tube > 0, median_hu=300.0, tube=tube,
                      tube_median_hu=(300.0, 500.0))
    on_second = np.array([[11, 4, 1], [11, 5, 1]])  # its +i neighbours lie in tube 2
    contact = lumen_contact(on_second, lumen, (20, 10, 4))
    assert contact.median_hu == 500.0
    assert 0 < contact.fraction < 0.9
    apart = np.array([[10, 4, 1]])  # between the two, touching neither
    assert lumen_contact(apart, lumen, (20, 10, 4)).median_hu is None
    assert lumen_contact(np.array([[30, 30, 30]]), lumen, (40, 40, 40)).fraction == 0.0


FOLDER = Path(__file__).resolve().parents[2] / ".." / "shared" / "realct"
SIEMENS = FOLDER / "ts_chest_abdomen_dicom"


@pytest.mark.skipif(not SIEMENS.is_dir(), reason="the shared real-CT folder is absent")
def test_siemens_pool_lumen_is_totalsegmentators_aorta():
    import nibabel as nib

    from calcdx.analysis import AnalysisParameters
    from calcdx.io import read_volume
    from calcdx.lesions.detect import detect_lesions
    from calcdx.phantom.realct import CLASS_TABLE, labels_on_grid, load_class_table

    vol = read_volume(SIEMENS)
    det = detect_lesions(vol.hu, vol.affine, AnalysisParameters())
    assert det.summary.get("blood_pool_lumen_volume_mm3", 0.0) > 1000.0
    image = nib.load(FOLDER / "ts_chest_abdomen_dicom_totalseg.nii.gz")
    labels = labels_on_grid(np.asarray(image.dataobj), image.affine, vol.affine, vol.shape)
    (aorta,) = [c for c, n in load_class_table(FOLDER / CLASS_TABLE).items() if n == "aorta"]
    lumen = det.blood_pool_lumen
    assert lumen is not None
    o = lumen.offset
    box = tuple(slice(a, a + n) for a, n in zip(o, lumen.mask.shape, strict=True))
    # its mineral (what the skeleton would otherwise take), beyond the grown wall
    mineral = lumen.mask & (np.asarray(vol.hu[box]) >= 130)
    in_aorta = labels[box][mineral] == aorta
    assert in_aorta.mean() >= 0.9
    # ... and it is most of that label's mineral-density lumen in view
    aorta_mask = labels[box] == aorta
    assert lumen.mask[aorta_mask].mean() >= 0.5
