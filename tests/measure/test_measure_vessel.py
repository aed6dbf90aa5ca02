"""Vessel walls without contrast: circle fit and rules against synthetic truth."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from calcdx.findings.patterns import lesion_patterns
from calcdx.measure.context import compartment_guess
from calcdx.measure.shape import measure_shape
from calcdx.measure.vessel import (
    VesselRules,
    WallCandidate,
    arc_coverage_deg,
    find_vessel_walls,
    fit_circle,
    is_plate,
)

SPACING = (0.8, 0.8, 2.0)
AFFINE = np.diag([*SPACING, 1.0])
CENTRE = (30.3, 29.7)  # mm, off the voxel lattice


def grid(shape):
    i, j, k = (np.arange(n) * s for n, s in zip(shape, SPACING, strict=True))
    return np.meshgrid(i, j, k, indexing="ij")


def annulus(shape, centre, radii, angles_deg, z_mm):
    """Voxels of a cylindrical wall sector: r0 <= r <= r1, angle and z within ranges."""
    x, y, z = grid(shape)
    r = np.hypot(x - centre[0], y - centre[1])
    a = np.degrees(np.arctan2(y - centre[1], x - centre[0]))
    return ((r >= radii[0]) & (r <= radii[1]) & (a >= angles_deg[0]) & (a <= angles_deg[1])
            & (z >= z_mm[0]) & (z <= z_mm[1]))


def vessel_ct(shape=(80, 80, 30), *, inside_hu=40.0, radius=8.25, wall=2.5, around_hu=45.0,
              centre=CENTRE):
    """Soft tissue with a tube of `radius` (mid-wall) whose inside has `inside_hu`."""
    x, y, _ = grid(shape)
    hu = np.full(shape, around_hu, dtype=np.float32)
    hu[np.hypot(x - centre[0], y - centre[1]) <= radius - wall / 2] = inside_hu
    return hu


def candidates(mask, hu):
    """One WallCandidate per 26-connected component of `mask`, measured like the pipeline."""
    labels, n = ndi.label(mask, structure=np.ones((3, 3, 3)))
    out = []
    for lid in range(1, n + 1):
        ijk = np.argwhere(labels == lid)
        lo = np.maximum(ijk.min(axis=0) - 2, 0)
        hi = np.minimum(ijk.max(axis=0) + 3, mask.shape)
        box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        shape = measure_shape(labels[box] == lid, hu[box], AFFINE)
        out.append(WallCandidate(lid, ijk, shape, touches_bone=False))
    return out


def plaques(shape=(80, 80, 30), radius=8.25, wall=2.5, centre=CENTRE):
    """Three aortic-wall plaques like the phantom's: 40-50 degree arcs, separated in z."""
    radii = (radius - wall / 2, radius + wall / 2)
    mask = np.zeros(shape, dtype=bool)
    for angles, z_mm in (((-150, -110), (4, 14)), ((-80, -40), (24, 36)),
                         ((-125, -75), (44, 52))):
        mask |= annulus(shape, centre, radii, angles, z_mm)
    return mask


def analyse(mask, hu, *, enhanced=False):
    hu = hu.copy()
    hu[mask] = 600.0
    return find_vessel_walls(candidates(mask, hu), hu, AFFINE, enhanced=enhanced)


# ---- the circle fit ---------------------------------------------------------------------

def test_fit_circle_exact_points():
    t = np.linspace(0.3, 2.0, 12)
    fit = fit_circle(np.column_stack([5 + 7 * np.cos(t), -2 + 7 * np.sin(t)]))
    assert fit.radius == pytest.approx(7.0, abs=1e-6)
    assert fit.centre == pytest.approx([5.0, -2.0], abs=1e-6)
    assert fit.rms == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("radius", [4.0, 8.0, 15.0])
@pytest.mark.parametrize("arc_deg", [150, 200])
def test_fit_circle_on_voxelised_arcs_within_half_a_millimetre(radius, arc_deg):
    mask = annulus((80, 80, 1), CENTRE, (radius - 1.0, radius + 1.0), (-160, -160 + arc_deg),
                   (-1, 1))
    x, y, _ = grid((80, 80, 1))
    fit = fit_circle(np.column_stack([x[mask], y[mask]]))
    assert fit.radius == pytest.approx(radius, abs=0.5)
    assert np.hypot(*(fit.centre - CENTRE)) <= 0.5
    assert fit.rms <= 0.7  # a 2 mm wall: about 2 / sqrt(12) plus the pixel lattice


def test_fit_circle_needs_three_points():
    with pytest.raises(ValueError):
        fit_circle(np.zeros((2, 2)))


def test_arc_coverage():
    t = np.radians(np.arange(-45.0, 45.5, 1.0))
    assert arc_coverage_deg(np.column_stack([np.cos(t), np.sin(t)]), np.zeros(2)) == \
        pytest.approx(90.0, abs=0.01)
    t = np.radians(np.arange(0.0, 360.0, 2.0))
    assert arc_coverage_deg(np.column_stack([np.cos(t), np.sin(t)]), np.zeros(2)) == \
        pytest.approx(358.0, abs=0.01)


# ---- members --------------------------------------------------------------------------

def test_rods_dots_and_balls_are_not_plates():
    shape = (40, 40, 20)
    x, y, z = grid(shape)
    ball = np.hypot(np.hypot(x - 16, y - 16), z - 20) <= 4.0
    rod = (np.hypot(x - 16, y - 16) <= 1.2) & (np.abs(z - 20) <= 6)  # a rice grain
    dot = np.hypot(np.hypot(x - 16, y - 16), z - 20) <= 1.6
    plate = (np.abs(x - 16) <= 1.0) & (np.abs(y - 16) <= 5.0) & (np.abs(z - 20) <= 6)
    hu = np.full(shape, 600.0, dtype=np.float32)
    for mask, want in ((ball, False), (rod, False), (dot, False), (plate, True)):
        (cand,) = candidates(mask, hu)
        assert is_plate(cand.shape) is want


# ---- the rules ------------------------------------------------------------------------

def test_phantom_like_plaques_on_plain_ct_are_a_vessel_wall():
    mask = plaques()
    walls = analyse(mask, vessel_ct(inside_hu=40.0))
    assert len(walls) == 3
    for wall in walls.values():
        assert wall.accepted, wall.failed_rules
        assert wall.pool_lesion_ids == (1, 2, 3)
        assert wall.radius_mm == pytest.approx(8.25, abs=0.5)
        assert wall.rms_residual_mm <= 1.0
        assert 100 <= wall.coverage_deg <= 130  # arcs span -150 to -40 degrees
        assert wall.lumen_mean_hu == pytest.approx(40.0, abs=1.0)
        assert "radius 8." in wall.evidence() and "lumen mean 40 HU" in wall.evidence()


def test_contrast_study_needs_an_enhanced_lumen():
    mask = plaques()
    walls = analyse(mask, vessel_ct(inside_hu=300.0), enhanced=True)
    assert all(w.accepted for w in walls.values())
    walls = analyse(mask, vessel_ct(inside_hu=40.0), enhanced=True)
    assert not any(w.accepted for w in walls.values())
    assert all(any("not enhanced" in f for f in w.failed_rules) for w in walls.values())


def test_fat_inside_is_not_a_lumen():
    walls = analyse(plaques(), vessel_ct(inside_hu=-100.0))
    assert walls
    for wall in walls.values():
        assert not wall.accepted
        assert wall.lumen_mean_hu == pytest.approx(-100.0, abs=1.0)
        assert len(wall.failed_rules) == 1 and "not blood" in wall.failed_rules[0]


def test_a_closed_ring_is_rejected_by_the_coverage_rule():
    shape = (80, 80, 30)
    ring = annulus(shape, CENTRE, (7.0, 9.5), (-180, 180), (20, 24))
    walls = analyse(ring, vessel_ct(inside_hu=40.0))
    (wall,) = walls.values()
    assert wall.coverage_deg > 350
    assert not wall.accepted
    assert len(wall.failed_rules) == 1 and "closed ring" in wall.failed_rules[0]


def test_a_large_radius_sheet_is_rejected_by_the_radius_rule():
    # A 60-degree arc of a 40 mm circle: a sheet curving like the body wall.
    shape = (128, 64, 30)
    centre = (51.0, 60.0)
    sheet = annulus(shape, centre, (39.0, 41.0), (-120, -60), (20, 34))
    walls = analyse(sheet, vessel_ct(shape, inside_hu=40.0, radius=40.0, centre=centre))
    (wall,) = walls.values()
    assert wall.radius_mm == pytest.approx(40.0, abs=2.0)
    assert not wall.accepted
    assert len(wall.failed_rules) == 1 and "radius" in wall.failed_rules[0]
    assert wall.lumen_mean_hu is None  # sampled only inside vessel-sized circles


def test_a_straight_plate_is_not_a_vessel_wall():
    shape = (80, 80, 30)
    x, y, z = grid(shape)
    plate = (np.abs(x - 30.3) <= 1.2) & (np.abs(y - 29.7) <= 6.0) & (z >= 10) & (z <= 30)
    walls = analyse(plate, vessel_ct(inside_hu=40.0))
    assert all(not w.accepted for w in walls.values())
    for wall in walls.values():
        assert any("radius" in f or "bows" in f for f in wall.failed_rules)


def test_one_plaque_alone_does_not_bow_enough():
    shape = (80, 80, 30)
    mask = annulus(shape, CENTRE, (7.0, 9.5), (-150, -110), (4, 14))
    walls = analyse(mask, vessel_ct(inside_hu=40.0))
    assert all(not w.accepted for w in walls.values())


def test_a_stray_plate_off_the_circle_is_dropped_and_the_wall_kept():
    shape = (80, 80, 30)
    x, y, z = grid(shape)
    mask = plaques()
    stray = (np.abs(x - 42.0) <= 1.0) & (np.abs(y - 18.0) <= 4.0) & (z >= 20) & (z <= 32)
    assert not np.any(stray & mask)
    walls = analyse(mask | stray, vessel_ct(inside_hu=40.0))
    assert len(walls) == 4
    accepted = {lid for lid, w in walls.items() if w.accepted}
    assert len(accepted) == 3
    (dropped,) = set(walls) - accepted
    assert "dropped: off the pooled circle" in walls[dropped].failed_rules[0]
    assert dropped not in walls[next(iter(accepted))].pool_lesion_ids


def test_bone_touching_lesions_are_skipped():
    mask = plaques()
    hu = vessel_ct(inside_hu=40.0)
    hu[mask] = 600.0
    cands = sorted(candidates(mask, hu), key=lambda c: c.ijk[:, 2].mean())
    top = cands[-1]
    cands[-1] = WallCandidate(top.lesion_id, top.ijk, top.shape, touches_bone=True)
    walls = find_vessel_walls(cands, hu, AFFINE, enhanced=False)
    others = {c.lesion_id for c in cands[:-1]}
    assert set(walls) == others
    assert all(set(w.pool_lesion_ids) == others for w in walls.values())


def test_pools_follow_the_distance_limits():
    mask = plaques()
    hu = vessel_ct(inside_hu=40.0)
    hu[mask] = 600.0
    cands = candidates(mask, hu)
    # Plaque centroids are ~20 mm apart along the slices: a 5 mm limit leaves each alone,
    # and a single 40-50 degree plaque does not define its circle.
    walls = find_vessel_walls(cands, hu, AFFINE, enhanced=False,
                              rules=VesselRules(pool_along_mm=5.0))
    assert len(walls) == 3
    assert all(len(w.pool_lesion_ids) == 1 and not w.accepted for w in walls.values())


def test_accepted_walls_give_patchy_plaque_and_artery_rejected_ones_do_not():
    from calcdx.findings.patterns import lesion_patterns
    from calcdx.measure.context import compartment_guess

    mask = plaques()
    hu = vessel_ct(inside_hu=40.0)
    hu[mask] = 600.0
    cands = {c.lesion_id: c for c in candidates(mask, hu)}
    good = find_vessel_walls(list(cands.values()), hu, AFFINE, enhanced=False)
    fat = vessel_ct(inside_hu=-100.0)
    fat[mask] = 600.0
    bad = find_vessel_walls(list(cands.values()), fat, AFFINE, enhanced=False)
    where = dict(touches_bone=False, bone_distance_mm=30.0, n_bones_nearby=0,
                 skin_distance_mm=50.0, tissue="soft_tissue")
    for lid, cand in cands.items():
        calls = lesion_patterns(cand.shape, vessel=good[lid])
        (plaque,) = [c for c in calls if c.pattern == "patchy_plaque"]
        assert plaque.confidence == "moderate" and "lumen mean 40 HU" in plaque.evidence
        assert "patchy_plaque" not in {c.pattern for c in lesion_patterns(cand.shape,
                                                                          vessel=bad[lid])}
        assert compartment_guess(origin="soft_tissue", vessel_wall=good[lid].accepted,
                                 **where) == "artery"
        assert compartment_guess(origin="soft_tissue", vessel_wall=bad[lid].accepted,
                                 **where) == "muscle"


# ---- closed rings: calcified tubes --------------------------------------------------------

def tube(shape=(80, 80, 30), radius=8.25, wall=2.5, z_mm=(10, 40), centre=CENTRE):
    return annulus(shape, centre, (radius - wall / 2, radius + wall / 2), (-180, 180), z_mm)


def test_a_calcified_tube_around_blood_is_a_closed_vessel_wall():
    mask = tube()
    (cand,) = candidates(mask, vessel_ct())
    assert not is_plate(cand.shape)  # a tube is judged on its own, not pooled as a plate
    (wall,) = analyse(mask, vessel_ct(inside_hu=40.0)).values()
    assert wall.accepted, wall.failed_rules
    assert wall.closed and wall.coverage_deg > 350
    assert wall.radius_mm == pytest.approx(8.25, abs=0.5)
    assert wall.span_mm == pytest.approx(30.0, abs=2.0)
    assert wall.lumen_mean_hu == pytest.approx(40.0, abs=1.0)
    assert "a closed ring" in wall.evidence()


def test_a_calcified_tube_is_tram_track_in_an_artery():
    mask = tube()
    hu = vessel_ct()
    hu[mask] = 600.0
    (cand,) = candidates(mask, hu)
    (wall,) = find_vessel_walls([cand], hu, AFFINE, enhanced=False).values()
    calls = lesion_patterns(cand.shape, vessel=wall)
    assert [c.pattern for c in calls] == ["tram_track"]
    assert compartment_guess(origin="soft_tissue", touches_bone=False, bone_distance_mm=50.0,
                             n_bones_nearby=0, skin_distance_mm=60.0, tissue="soft_tissue",
                             vessel_wall=wall.accepted) == "artery"


def test_a_tube_around_fat_is_not_a_vessel():
    (wall,) = analyse(tube(), vessel_ct(inside_hu=-100.0)).values()
    assert not wall.accepted
    assert any("not blood" in rule for rule in wall.failed_rules)


def test_a_rim_calcified_sphere_projects_to_a_disc_and_is_not_a_vessel():
    shape = (80, 80, 30)
    x, y, z = grid(shape)
    r = np.sqrt((x - CENTRE[0]) ** 2 + (y - CENTRE[1]) ** 2 + (z - 30.0) ** 2)
    shell = (r >= 7.0) & (r <= 9.5)  # a calcified cyst or node rim, 19 mm across
    walls = analyse(shell, vessel_ct(inside_hu=20.0))
    assert not any(wall.accepted for wall in walls.values())
    for wall in walls.values():
        assert any("RMS residual" in rule for rule in wall.failed_rules)


def test_a_phlebolith_sized_ring_is_not_a_vessel():
    mask = tube(radius=3.0, wall=1.0, z_mm=(10, 40))
    (wall,) = analyse(mask, vessel_ct(radius=3.0, wall=1.0)).values()
    assert not wall.accepted
    assert any("phlebolith-sized" in rule for rule in wall.failed_rules), wall.failed_rules
