"""Calcified costal-cartilage segments standing apart from the ribs: a synthetic trunk.

The truth is the volume's construction (RAS+, x across, y antero-posterior, z along
the body): an elliptic trunk with a rib cage (solid mineral bars 20-28 mm below the
skin, on the right and left flanks and in the back), free cartilage segments on the
same ring in the front, 10-40 mm beyond the rib ends and apart from each other,
a liver-like organ deep to the right ribs holding a calcified granuloma, a
subcutaneous deposit in front, and a segment farther toward the midline lying
deeper than the ribs (the wall thickens there), joined to the others only by the
chain of segments.
"""

from itertools import pairwise

import cc3d
import numpy as np
import pytest

from calcdx.masks.body import compute_body
from calcdx.masks.bone import bone_mask
from calcdx.measure.costal import (
    ChestWall,
    CostalConfig,
    free_segment_call,
    link_segments,
)

SPACING = (1.5, 1.5, 3.0)
A_MM, B_MM = 150.0, 100.0  # trunk semi-axes (x, y)


def _ring(x, y, depth_lo, depth_hi):
    """Points between two ellipses inset `depth_lo` and `depth_hi` mm from the skin."""
    outer = (x / (A_MM - depth_lo)) ** 2 + (y / (B_MM - depth_lo)) ** 2 <= 1.0
    inner = (x / (A_MM - depth_hi)) ** 2 + (y / (B_MM - depth_hi)) ** 2 <= 1.0
    return outer & ~inner


def _trunk():
    n = [round(e / s) for e, s in zip((320.0, 220.0, 36.0), SPACING, strict=True)]
    axes = [(np.arange(k) - (k - 1) / 2) * s for k, s in zip(n, SPACING, strict=True)]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    hu = np.full(x.shape, -1000, dtype=np.int16)
    hu[(x / A_MM) ** 2 + (y / B_MM) ** 2 <= 1.0] = 40
    # the ellipse's parametric angle: 0 left, 90 front, 180 / -180 right, -90 back
    angle = np.degrees(np.arctan2(y / B_MM, x / A_MM))
    slab = np.abs(z) <= 6.0
    ring = _ring(x, y, 20.0, 28.0) & slab
    # ribs: flanks and back; their anterior ends at 40 and 140 degrees
    rib = ring & ((angle <= 40.0) | (angle >= 140.0))
    # a liver-like organ deep to the right ribs (45 mm and more below the skin)
    liver = ((x + 70.0) / 55.0) ** 2 + ((y - 5.0) / 45.0) ** 2 + (z / 30.0) ** 2 <= 1.0
    hu[liver] = 60
    hu[rib] = 700
    truth = {}

    def ball(cx, cy, r_mm, value, name):
        m = ((x - cx) ** 2 + (y - cy) ** 2 + z ** 2) <= r_mm ** 2
        hu[m] = value
        truth[name] = m

    # free cartilage segments on the ring in front, beyond the rib ends, both sides
    for deg, name in ((56.0, "seg_l1"), (68.0, "seg_l2"), (124.0, "seg_r1"),
                      (112.0, "seg_r2")):
        t = np.radians(deg)
        ball((A_MM - 24.0) * np.cos(t), (B_MM - 24.0) * np.sin(t), 3.0, 180, name)
    # toward the midline the wall thickens: a chain of segments each 1-1.5 mm deeper than
    # the one before, the last (33 mm) deeper than the ribs' inner surface (28 mm)
    insets = (26.5, 28.0, 29.5, 31.0, 32.0, 33.0)
    for k, inset in enumerate(insets, start=1):
        t = np.radians(68.0 + 3.5 * k)
        ball((A_MM - inset) * np.cos(t), (B_MM - inset) * np.sin(t), 2.5, 180,
             f"chain{k}" if k < len(insets) else "seg_deep")
    ball(-70.0, 20.0, 4.0, 400, "granuloma")  # inside the liver
    t = np.radians(96.0)
    ball((A_MM - 5.0) * np.cos(t), (B_MM - 5.0) * np.sin(t), 2.5, 300, "subcutaneous")
    affine = np.diag([*SPACING, 1.0])
    affine[:3, 3] = [a[0] for a in axes]
    return hu, affine, truth, rib


@pytest.fixture(scope="module")
def scene():
    hu, affine, truth, rib = _trunk()
    body = compute_body(hu, SPACING)
    bone = bone_mask(hu, SPACING)
    full = bone.full(hu.shape)
    # the construction's ribs are the skeleton found (the test's premise)
    assert (full & rib).sum() >= 0.9 * rib.sum()
    wall = ChestWall.build(body, affine, SPACING, bone.surface_tree(SPACING))
    lesions = {}
    lab = cc3d.connected_components((hu >= 130) & ~full, connectivity=26)
    for name, m in truth.items():
        ids = np.unique(lab[m])
        assert len(ids) == 1 and ids[0] > 0, name  # each object is one lesion apart
        lesions[name] = np.argwhere(lab == ids[0])
    return affine, wall, lesions


def _call(scene, name):
    _, wall, lesions = scene
    return free_segment_call(lesions[name], region="abdomen", wall=wall)


@pytest.mark.parametrize("name", ["seg_l1", "seg_l2", "seg_r1", "seg_r2"])
def test_free_segments_at_the_rib_cage_depth_in_front_are_cartilage(scene, name):
    call = _call(scene, name)
    assert call.accepted, call.failed
    assert call.kind == "free"
    assert call.side == ("left" if name.startswith("seg_l") else "right")
    assert call.rib_gap_mm is not None and call.rib_gap_mm >= 5.0  # apart from the rib
    assert "costal cartilage" in call.evidence()


def test_a_granuloma_in_the_liver_deep_to_the_ribs_is_not(scene):
    call = _call(scene, "granuloma")
    assert not call.accepted
    assert call.failed == ("deeper than the rib cage (inside it)",)


def test_a_subcutaneous_deposit_is_not(scene):
    call = _call(scene, "subcutaneous")
    assert call.failed == ("shallower than the rib cage (subcutaneous)",)


def test_outside_the_trunk_or_in_the_back_it_is_not(scene):
    _, wall, lesions = scene
    call = free_segment_call(lesions["seg_l1"], region="upper_arm", wall=wall)
    assert call.failed == ("not at trunk levels",)
    back = lesions["seg_l1"].copy()
    back[:, 1] = wall.body.grid.full_shape[1] - 1 - back[:, 1]  # mirrored to the back
    call = free_segment_call(back, region="thorax", wall=wall)
    assert "not in the anterior chest wall" in call.failed


def test_a_deeper_segment_is_taken_along_the_chain_but_not_the_granuloma(scene):
    affine, wall, lesions = scene
    names = ["seg_l1", "seg_l2", "chain1", "chain2", "chain3", "chain4", "chain5",
             "seg_deep", "granuloma", "subcutaneous"]
    calls = [_call(scene, n) for n in names]
    depths = [c.depth_mm for c in calls]
    margin = CostalConfig().depth_margin_cells * max(wall.body.grid.spacing_mm)
    # the construction's premise: each step of the chain within the margin
    assert all(b is not None and a is not None and abs(b - a) <= margin
               for a, b in pairwise(depths[2:8])), str(depths)
    assert calls[7].failed == ("deeper than the rib cage (inside it)",)
    centroids = np.array([lesions[n].mean(axis=0) for n in names]) @ affine[:3, :3].T
    ids = list(range(1, len(names) + 1))
    linked = link_segments(calls, centroids, ids, margin_mm=margin)
    deep = linked[7]
    assert deep is not None and deep.accepted and deep.linked_to in ids[2:7]
    assert "same cartilage" in deep.evidence()
    for j in (8, 9):  # the granuloma and the subcutaneous deposit stay what they are
        assert linked[j] is not None and not linked[j].accepted
    # without the chain between them the deep segment is too deep for seg_l2's depth
    keep = [0, 1, 7, 8]
    alone = link_segments([calls[k] for k in keep], centroids[keep], [ids[k] for k in keep],
                          margin_mm=margin)
    assert alone[2] is not None and not alone[2].accepted
    assert alone[3] is not None and not alone[3].accepted


def test_bad_input_is_refused_with_the_problem_named(scene):
    _, wall, _ = scene
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        free_segment_call(np.zeros((0, 3), int), region="thorax", wall=wall)
    with pytest.raises(ValueError, match="one entry per lesion"):
        link_segments([None], np.zeros((2, 3)), [1], margin_mm=4.0)
    with pytest.raises(ValueError):
        CostalConfig(max_rib_gap_mm=0.0)
