"""A dense arterial phase drawn analytically: every enhanced structure and where plaque is.

Truth is the geometry drawn here (0.8 x 0.8 x 1 mm voxels, noise SD 15 HU, no blur):

* a trunk of muscle (40 HU) in fat (-100 HU) and a vertebral body (2 mm cortex at
  700 HU round 250 HU marrow, 15 mm radius, along the slices);
* the aorta (lumen 11.4 mm radius, 500 HU) through every slice, with a renal artery to
  each side (5 mm across, 550 HU, in the slice plane), a mesenteric artery (6 mm across,
  500 HU) running forward and then down;
* a heart: a left ventricle (22 mm radius, 480 HU) in enhancing myocardium (10 mm,
  140 HU: just over the mineral threshold, so chamber and wall are one mineral
  component), in epicardial fat (6 mm) carrying a coronary artery (3.5 mm across,
  500 HU) with a 1,000 HU plaque on its outer wall;
* an arm vein through every slice holding undiluted contrast (core 2,800 HU, as dense as
  metal; rim 1,200 HU), as the injected vein of a trunk scan;
* a nitinol stent graft on the aortic wall (Z-stent of 1,500 HU struts over 35 mm) with
  a 900 HU plaque on the wall beside the struts, mid-graft, and an 800 HU plaque on the
  aortic wall below the graft.

What must come out: an arterial phase; one stent and no other foreign material; no
lumen, chamber, myocardium, vein or strut voxel reported; the three plaques each found
at their drawn volume; the vertebra skeleton and the heart not.
"""

import numpy as np
import pytest
from scipy import ndimage as ndi

from calcdx.analysis import analyze_volume
from calcdx.volume import Volume

SPACING = (0.8, 0.8, 1.0)
EXTENT = (200.0, 180.0, 100.0)
AORTA = (25.0, -25.0)
HEART = (-45.0, 25.0, 50.0)


def _segment_distance(p, a, b):
    """Distance (mm) of points `p` (..., 3) from the segment a-b."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ab = b - a
    t = np.clip(((p - a) @ ab) / float(ab @ ab), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[..., None] * ab), axis=-1)


def _scene(seed=0):
    n = [round(e / s) for e, s in zip(EXTENT, SPACING, strict=True)]
    axes = [(np.arange(k) - (k - 1) / 2) * s for k, s in zip(n[:2], SPACING[:2], strict=True)]
    axes.append(np.arange(n[2]) * SPACING[2])
    x, y, z = np.meshgrid(*axes, indexing="ij")
    p = np.stack([x, y, z], axis=-1)
    hu = np.full(x.shape, -1000.0)
    hx, hy = EXTENT[0] / 2 - 5.0, EXTENT[1] / 2 - 5.0
    hu[(x / hx) ** 2 + (y / hy) ** 2 <= 1.0] = -100.0
    hu[(x / (hx - 5.0)) ** 2 + (y / (hy - 5.0)) ** 2 <= 1.0] = 40.0
    truth = {}
    # vertebral body
    rv = np.hypot(x, y + 55.0)
    truth["vertebra"] = rv <= 15.0
    hu[rv <= 15.0] = 700.0
    hu[rv <= 13.0] = 250.0
    # heart: chamber, myocardium, epicardial fat, coronary artery with a plaque
    rh = np.linalg.norm(p - np.asarray(HEART), axis=-1)
    hu[rh <= 38.0] = -100.0
    truth["myocardium"] = (rh > 22.0) & (rh <= 32.0)
    truth["chamber"] = rh <= 22.0
    hu[truth["myocardium"]] = 140.0
    hu[truth["chamber"]] = 480.0
    # the coronary: a half circle of radius 35 mm round the heart in its mid slice
    angle = np.arctan2(y - HEART[1], x - HEART[0])
    ring = np.hypot(np.hypot(x - HEART[0], y - HEART[1]) - 35.0, z - HEART[2])
    truth["coronary"] = (ring <= 1.75) & (angle >= 0.0)
    hu[truth["coronary"]] = 500.0
    at = np.asarray([HEART[0], HEART[1] + 35.0 + 2.6, HEART[2]])  # outer wall, angle pi/2
    truth["coronary_plaque"] = (np.linalg.norm(p - at, axis=-1) <= 1.5) & ~truth["coronary"]
    hu[truth["coronary_plaque"]] = 1000.0
    # aorta and branches
    ra = np.hypot(x - AORTA[0], y - AORTA[1])
    theta = np.arctan2(y - AORTA[1], x - AORTA[0])
    branches = (
        (_segment_distance(p, (AORTA[0], AORTA[1], 30.0), (AORTA[0] + 50.0, AORTA[1], 30.0))
         <= 2.5, 550.0),
        (_segment_distance(p, (AORTA[0], AORTA[1], 35.0), (-40.0, AORTA[1], 35.0))
         <= 2.5, 550.0),
        ((_segment_distance(p, (AORTA[0], AORTA[1], 50.0), (AORTA[0], 30.0, 50.0)) <= 3.0)
         | (_segment_distance(p, (AORTA[0], 30.0, 50.0), (AORTA[0], 30.0, 10.0)) <= 3.0),
         500.0),
    )
    truth["branches"] = np.zeros(x.shape, dtype=bool)
    for where, value in branches:
        hu[where] = value
        truth["branches"] |= where
    truth["aorta"] = ra <= 11.4
    hu[truth["aorta"]] = 500.0
    # stent graft: Z-stent rings (8 apices, 15 mm tall) on the wall, z 60-95 mm
    height = np.mod(z - 60.0, 15.0) / 15.0
    zigzag = np.abs((theta / (2.0 * np.pi) * 8.0) % 1.0 - 0.5) * 2.0
    truth["wire"] = ((np.abs(ra - 12.0) <= 0.6) & (np.abs(zigzag - height) <= 0.06)
                     & (z >= 60.0) & (z <= 95.0))
    hu[truth["wire"]] = 1500.0
    graft_plaque = ((ra > 12.8) & (ra <= 15.0) & (np.abs(theta - 1.2) <= 0.4)
                    & (np.abs(z - 78.0) <= 3.0))
    truth["graft_plaque"] = graft_plaque & ~ndi.binary_dilation(truth["wire"], iterations=3)
    hu[truth["graft_plaque"]] = 900.0
    truth["aortic_plaque"] = ((ra > 11.4) & (ra <= 13.5) & (np.abs(theta + 2.0) <= 0.5)
                              & (np.abs(z - 12.0) <= 3.0))
    hu[truth["aortic_plaque"]] = 800.0
    # injected arm vein through every slice
    rvn = np.hypot(x + 60.0, y + 45.0)
    truth["vein"] = rvn <= 5.0
    hu[truth["vein"]] = 1200.0
    hu[rvn <= 3.0] = 2800.0
    hu += np.random.default_rng(seed).normal(0.0, 15.0, hu.shape)
    return Volume(np.round(hu).astype(np.int16), np.diag([*SPACING, 1.0])), truth


@pytest.fixture(scope="module")
def dense():
    volume, truth = _scene()
    return volume, truth, analyze_volume(volume)


def test_the_phase_is_arterial_and_the_only_implant_is_the_stent(dense):
    _, _, result = dense
    assert result.contrast.phase.phase == "arterial"
    assert [m.matrix for m in result.foreign_material] == ["stent"]
    (stent,) = result.foreign_material
    assert stent.length_mm == pytest.approx(35.0, abs=3.0)
    assert stent.radius_mm == pytest.approx(12.0, abs=1.0)


@pytest.mark.parametrize("structure", ["aorta", "branches", "chamber", "myocardium",
                                       "coronary", "vein"])
def test_enhanced_structures_are_never_reported(dense, structure):
    _, truth, result = dense
    assert not np.any(result.label_map[truth[structure]])


def test_the_struts_and_their_blooming_are_not_lesions(dense):
    _, truth, result = dense
    assert not np.any(result.label_map[ndi.binary_dilation(truth["wire"], iterations=2)])


@pytest.mark.parametrize("plaque", ["coronary_plaque", "graft_plaque", "aortic_plaque"])
def test_each_plaque_is_found_at_its_drawn_volume(dense, plaque):
    _, truth, result = dense
    found = set(np.unique(result.label_map[truth[plaque]])) - {0}
    assert len(found) == 1
    drawn = float(truth[plaque].sum()) * float(np.prod(SPACING))
    assert result.lesions[found.pop() - 1].volume_mm3 == pytest.approx(drawn, rel=0.25)


def test_nothing_but_the_plaques_is_reported(dense):
    _, truth, result = dense
    plaques = truth["coronary_plaque"] | truth["graft_plaque"] | truth["aortic_plaque"]
    assert result.totals.n_lesions == 3
    assert set(np.unique(result.label_map[plaques])) - {0} == {1, 2, 3}


def test_the_vertebra_is_skeleton_and_the_heart_is_not(dense):
    volume, truth, result = dense
    from calcdx.lesions.detect import detect_lesions

    bone = detect_lesions(volume.hu, volume.affine, result.parameters).bone.full(volume.shape)
    assert bone[truth["vertebra"]].mean() >= 0.9
    heart = truth["chamber"] | truth["myocardium"]
    assert bone[heart].mean() <= 0.02
    assert bone[truth["aorta"] | truth["vein"]].mean() <= 0.02
