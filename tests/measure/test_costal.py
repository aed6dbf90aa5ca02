"""Calcified costal cartilage told from the image: a synthetic trunk with a rib and its cartilage.

The truth is the volume's construction: a rib (cortex 700 HU round 200 HU marrow)
in the anterior wall of an elliptic trunk, continued toward the midline by a rod of
faint uniform mineral without cortex (calcified cartilage, 150 HU). The same rib and
rod in the posterior wall, a rod running along the body's axis and a ball are the
controls.
"""

import cc3d
import numpy as np
import pytest

from calcdx.masks.body import compute_body
from calcdx.masks.bone import BoneConfig, bone_mask
from calcdx.measure.costal import CostalConfig, costal_cartilage_call

SPACING = (0.8, 0.8, 2.0)


def _trunk(*, front: bool):
    """Trunk (x across, y antero-posterior, z along the body; RAS+) with a rib and its
    cartilage 40 mm inside the front (or back) skin, the cartilage toward the midline."""
    n = [round(e / s) for e, s in zip((320.0, 220.0, 30.0), SPACING, strict=True)]
    axes = [(np.arange(k) - (k - 1) / 2) * s for k, s in zip(n, SPACING, strict=True)]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    hu = np.full(x.shape, -1000, dtype=np.int16)
    hu[(x / 150.0) ** 2 + (y / 100.0) ** 2 <= 1.0] = 40
    y0 = 60.0 if front else -60.0
    rod = ((y - y0) / 5.0) ** 2 + (z / 4.0) ** 2 <= 1.0
    rib = rod & (x >= -115.0) & (x < -55.0)
    hu[rib] = 700
    hu[rib & (((y - y0) / 3.5) ** 2 + (z / 2.5) ** 2 <= 1.0)] = 200
    cartilage = rod & (x >= -55.0) & (x < -10.0)
    hu[cartilage] = 150
    affine = np.diag([*SPACING, 1.0])
    affine[:3, 3] = [a[0] for a in axes]
    return hu, affine, cartilage


def _deposit(hu):
    """The largest deposit the bone mask splits off, its voxels and their step 3b flags."""
    bone = bone_mask(hu, SPACING)
    dep = np.zeros(hu.shape, dtype=bool)
    o, s = bone.offset, bone.deposits.shape
    dep[o[0]:o[0] + s[0], o[1]:o[1] + s[1], o[2]:o[2] + s[2]] = bone.deposits
    lab = cc3d.connected_components(dep, connectivity=26)
    counts = np.bincount(lab.ravel())
    counts[0] = 0
    ijk = np.argwhere(lab == int(np.argmax(counts)))
    return ijk, bone.in_cartilage(ijk)


def test_cartilage_on_an_anterior_rib_end_is_called_costal_cartilage():
    hu, affine, cartilage = _trunk(front=True)
    ijk, cortexless = _deposit(hu)
    # the deposit is the cartilage's far end (over cortex_reach_mm from the rib)
    assert cartilage[tuple(ijk.T)].mean() >= 0.95
    assert len(ijk) * np.prod(SPACING) >= 0.5 * (45.0 - BoneConfig().cortex_reach_mm) * np.pi * 20
    call = costal_cartilage_call(ijk, affine, cortexless=cortexless, region="thorax",
                                 body=compute_body(hu, SPACING))
    assert call.accepted, call.failed
    assert call.side == "right"  # x < 0 in RAS+ is the patient's right
    assert call.anterior_fraction is not None and call.anterior_fraction > 0.7
    assert call.course_angle_deg > 80.0
    assert "costal cartilage" in call.evidence()


def test_the_call_follows_the_affine_not_the_voxel_order():
    """The grid stored back to front (antero-posterior axis reversed, affine to match):
    the same anatomy, the same call."""
    hu, affine, _ = _trunk(front=True)
    flipped = hu[:, ::-1, :].copy()
    aff = affine.copy()
    aff[1, 1] = -affine[1, 1]
    aff[1, 3] = -affine[1, 3]
    ijk, cortexless = _deposit(flipped)
    call = costal_cartilage_call(ijk, aff, cortexless=cortexless, region="thorax",
                                 body=compute_body(flipped, SPACING))
    assert call.accepted, call.failed


def test_the_same_rod_in_the_posterior_wall_or_a_limb_is_not():
    hu, affine, _ = _trunk(front=False)
    ijk, cortexless = _deposit(hu)
    body = compute_body(hu, SPACING)
    call = costal_cartilage_call(ijk, affine, cortexless=cortexless, region="thorax", body=body)
    assert not call.accepted
    assert call.failed == ("not in the anterior chest wall",)
    hu, affine, _ = _trunk(front=True)
    ijk, cortexless = _deposit(hu)
    call = costal_cartilage_call(ijk, affine, cortexless=cortexless, region="upper_arm",
                                 body=compute_body(hu, SPACING))
    assert call.failed == ("not at trunk levels",)


def test_a_rod_along_the_body_axis_a_ball_and_a_deposit_apart_are_not():
    hu, affine, _ = _trunk(front=True)
    body = compute_body(hu, SPACING)
    centre = np.array([150, 212, 7])  # x -40 mm, y +60 mm (anterior), z 0
    # a vessel-like rod along z (7 slices of 2 mm, 3 x 3 voxels across)
    along = centre + np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1)
                      for k in range(-7, 8)])
    along = along[(along[:, 2] >= 0) & (along[:, 2] < hu.shape[2])]
    call = costal_cartilage_call(along, affine, cortexless=np.ones(len(along), bool),
                                 region="thorax", body=body)
    assert "runs along the body's long axis" in call.failed
    # a ball of 5 mm radius
    g = np.argwhere(np.ones((15, 15, 7), bool)) - [7, 7, 3]
    ball = centre + g[np.sum((g * SPACING) ** 2, axis=1) <= 25.0]
    call = costal_cartilage_call(ball, affine, cortexless=np.ones(len(ball), bool),
                                 region="thorax", body=body)
    assert "not a bar" in call.failed
    # the cartilage's own shape, found apart from bone (no step 3b flag)
    _, _, cartilage = _trunk(front=True)
    ijk = np.argwhere(cartilage)
    call = costal_cartilage_call(ijk, affine, cortexless=np.zeros(len(ijk), bool),
                                 region="thorax", body=body)
    assert call.failed == ("not cortex-less on bone",)


def test_bad_input_is_refused_with_the_problem_named():
    hu, affine, _ = _trunk(front=True)
    body = compute_body(hu, SPACING)
    with pytest.raises(ValueError, match="one flag per voxel"):
        costal_cartilage_call(np.zeros((4, 3), int), affine, cortexless=np.ones(3, bool),
                              region="thorax", body=body)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        costal_cartilage_call(np.zeros((0, 3), int), affine, cortexless=np.ones(0, bool),
                              region="thorax", body=body)
    with pytest.raises(ValueError):
        CostalConfig(min_bar_ratio=0.5)
