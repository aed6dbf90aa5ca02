"""Masks on a small synthetic CT: body without table, bone filled, deposit kept apart."""

import numpy as np
import pytest

from calcdx.analysis import AnalysisParameters, analyze_volume
from calcdx.masks.body import compute_body
from calcdx.masks.bone import BoneConfig, fill_holes_2d_3d
from calcdx.volume import Volume

SPACING = (1.0, 1.0, 2.0)


def synthetic_ct(*, deposit_on_bone=True, metal=False, lumen_hu=None):
    """96 x 96 x 24 CT: round body of muscle and fat, a table, a long bone, deposits."""
    shape = (96, 96, 24)
    x, y = np.meshgrid(np.arange(96) - 48.0, np.arange(96) - 44.0, indexing="ij")
    hu = np.full(shape, -1000, dtype=np.int16)
    body = x**2 / 40**2 + y**2 / 34**2 <= 1
    hu[body] = -100
    hu[x**2 / 36**2 + y**2 / 30**2 <= 1] = 50
    hu[(y >= 40) & (y <= 44) & (np.abs(x) < 46)] = 450  # table, 6 mm below the body
    r_bone = np.hypot(x + 12, y)
    hu[r_bone <= 9] = 1200  # cortex
    hu[r_bone <= 6] = 300  # trabecular marrow (>= 130, must not be reported)
    if deposit_on_bone:
        hu[(np.hypot(x + 12, y + 12.5) <= 3.5)] = 350  # juxtacortical deposit touching cortex
    hu[np.hypot(x - 18, y - 6) <= 3, 8:14] = 500  # free deposit in muscle
    if metal:
        hu[np.hypot(x - 15, y + 15) <= 2, 4:20] = 3000
    if lumen_hu is not None:
        hu[np.hypot(x - 5, y + 20) <= 6] = lumen_hu  # enhanced vessel through all slices
        hu[(np.hypot(x - 5, y + 20) > 5) & (np.hypot(x - 5, y + 20) <= 6) & (x > 8), 10:14] = 900
    hu[np.hypot(x + 12, y) > 9, 0] = np.where(body, 50, -1000)[np.hypot(x + 12, y) > 9]
    return Volume(hu, np.diag([*SPACING, 1.0]))


def test_body_excludes_table_and_air():
    vol = synthetic_ct()
    body = compute_body(vol.hu, SPACING)
    full = body.grid.upsample(body.coarse)
    assert not full[48, 86, 12]  # table (y index 44 + 42)
    assert full[48, 44, 12] and not full[2, 2, 12]
    assert body.skin_distance_mm.max() > 20


def test_fill_holes_fills_marrow():
    m = np.zeros((20, 20, 6), bool)
    m[4:16, 4:16] = True
    m[7:13, 7:13, 1:5] = False
    filled = fill_holes_2d_3d(m)
    assert filled[10, 10, 3] and not filled[1, 1, 3]


def labels_at(result, ijk_mask):
    return set(np.unique(result.label_map[ijk_mask])) - {0}


def test_nothing_on_bone_table_deposit_kept_apart():
    vol = synthetic_ct()
    res = analyze_volume(vol, AnalysisParameters(bone=BoneConfig(min_volume_mm3=500.0)))
    x, y = np.meshgrid(np.arange(96) - 48.0, np.arange(96) - 44.0, indexing="ij")
    deposit = np.hypot(x + 12, y + 12.5) <= 3.5
    bone = (np.hypot(x + 12, y) <= 9) & ~deposit  # the deposit replaced a bit of cortex
    assert not np.any(res.label_map[bone[:, :, None] & np.ones(24, bool)])
    table = (y >= 40) & (y <= 44)
    assert not np.any(res.label_map[table])
    found = labels_at(res, deposit[:, :, None] & np.ones(24, bool))
    assert len(found) == 1
    lesion = res.lesions[found.pop() - 1]
    assert lesion.context.touches_bone and lesion.origin == "bone_adjacent"
    # The deposit outside the cortex (r > 9) minus a 1-voxel rim is kept.
    outside = deposit & (np.hypot(x + 12, y) > 10)
    assert lesion.volume_mm3 >= 0.6 * outside.sum() * 24 * 2.0
    free = np.hypot(x - 18, y - 6) <= 3
    assert len(labels_at(res, free[:, :, None] & np.ones(24, bool))) == 1
    assert res.totals.n_lesions == 2


def test_metal_reported_not_lesion():
    params = AnalysisParameters(bone=BoneConfig(min_volume_mm3=500.0))
    res = analyze_volume(synthetic_ct(metal=True), params)
    assert len(res.foreign_material) == 1
    assert res.foreign_material[0].peak_hu >= 2500
    x, y = np.meshgrid(np.arange(96) - 48.0, np.arange(96) - 44.0, indexing="ij")
    near = np.hypot(x - 15, y + 15) <= 6
    assert not np.any(res.label_map[near])


@pytest.mark.xfail(
    strict=True,
    reason="measured: the study is called native. The 6 mm lumen is narrower than the "
    "blood pool search's least radius (8 mm, the aorta: ContrastConfig.radius_mm), so no "
    "blood pool and no lumen is found before the skeleton (calcdx.masks.lumen seeds from "
    "the pool's tubes); with the phase from a header agent the lumen, holding a 900 HU "
    "plaque arc (no smooth iodine region) with edges as sharp as its cortex-like arc, is "
    "still sealed and taken as bone (17,342 mm^3 of skeleton). Letting the search take "
    "5 mm tubes finds a false 4 mm tube at 450 HU here (the density of the table), so it "
    "was not widened",
)
def test_contrast_lumen_suppressed_plaque_kept():
    vol = synthetic_ct(deposit_on_bone=False, lumen_hu=300)
    res = analyze_volume(vol, AnalysisParameters(bone=BoneConfig(min_volume_mm3=500.0)))
    assert res.contrast.enhanced
    x, y = np.meshgrid(np.arange(96) - 48.0, np.arange(96) - 44.0, indexing="ij")
    lumen = np.hypot(x - 5, y + 20) <= 4.5
    assert not np.any(res.label_map[lumen])
    plaques = [les for les in res.lesions if les.origin == "vessel_wall_plaque"]
    assert len(plaques) == 1 and plaques[0].location == "artery"


def test_plain_study_not_enhanced():
    res = analyze_volume(synthetic_ct(), AnalysisParameters(bone=BoneConfig(min_volume_mm3=500.0)))
    assert not res.contrast.enhanced and res.contrast.evidence


@pytest.mark.parametrize(("full", "factors"), [((8, 6, 4), (2, 3, 1)), ((7, 10, 5), (3, 4, 2))])
def test_upsample_gives_each_voxel_its_cell(full, factors):
    """Coarse cell c covers full voxels [c f, (c + 1) f): every voxel takes its cell's value,
    a short last cell included."""
    from calcdx.masks.grid import CoarseGrid

    grid = CoarseGrid(full_shape=full, factors=factors, full_spacing_mm=(1.0, 1.0, 1.0))
    coarse = np.random.default_rng(0).integers(0, 100, grid.shape)
    up = grid.upsample(coarse)
    assert up.shape == full
    for i, j, k in np.ndindex(*full):
        assert up[i, j, k] == coarse[i // factors[0], j // factors[1], k // factors[2]]
