"""bone_mask on analytic volumes: hollow and osteopenic bone, deposits on bone, cavities."""

import numpy as np
import pytest

from calcdx.errors import InputError
from calcdx.masks.bone import BoneConfig, ComponentBoxes, bone_mask


def _grid(spacing, extent_mm=(60.0, 60.0, 60.0)):
    """Voxel-centre coordinates (mm) of a grid centred on 0."""
    n = [round(e / s) for e, s in zip(extent_mm, spacing, strict=True)]
    axes = [(np.arange(k) - (k - 1) / 2) * s for k, s in zip(n, spacing, strict=True)]
    return np.meshgrid(*axes, indexing="ij")


def _long_bone(spacing, *, cortex_hu, marrow_hu, radius_mm=12.0, cortex_mm=3.0):
    """A hollow cylinder along axis 2 in 40 HU tissue: cortex ring, marrow inside."""
    x, y, z = _grid(spacing)
    r = np.hypot(x, y)
    hu = np.full(x.shape, 40, dtype=np.int16)
    hu[r <= radius_mm] = cortex_hu
    hu[r <= radius_mm - cortex_mm] = marrow_hu
    return hu, (x, y, z), r


@pytest.mark.parametrize("marrow_hu", [-80, 40])
@pytest.mark.parametrize("spacing", [(0.5, 0.5, 0.5), (1.0, 1.0, 2.0), (3.0, 3.0, 3.0)])
def test_hollow_cylinder_marrow_filled(spacing, marrow_hu):
    """A shaft 24 mm across with fatty marrow (adult yellow marrow, about -80 HU) or
    marrow of water density (red marrow of a child's shaft, 40 HU: its hole is as
    small and as dense as a spinal canal, but closed along the shaft)."""
    hu, _, r = _long_bone(spacing, cortex_hu=400, marrow_hu=marrow_hu)
    bone = bone_mask(hu, spacing)
    full = bone.full(hu.shape)
    truth = r <= 12.0
    dice = 2 * np.count_nonzero(full & truth) / (full.sum() + truth.sum())
    assert dice >= 0.9
    # Analytic volume: pi R^2 L
    expected = np.pi * 12.0**2 * hu.shape[2] * spacing[2]
    assert bone.volume_mm3 == pytest.approx(expected, rel=0.15)
    assert not bone.deposits.any()


@pytest.mark.parametrize("spacing", [(0.7, 0.7, 1.0), (3.0, 3.0, 3.0)])
def test_osteopenic_bone_with_gapped_thin_cortex_filled(spacing):
    """Cortex 1.5 mm at 180 HU with a 2 mm gap, marrow at 60 HU (under 130)."""
    hu, (x, y, _), r = _long_bone(spacing, cortex_hu=180, marrow_hu=60, cortex_mm=1.5)
    gap = (np.abs(y) < 1.0) & (x > 0) & (r > 10.0)
    hu[gap] = 60
    full = bone_mask(hu, spacing).full(hu.shape)
    assert full[r <= 9.0].mean() >= 0.95  # marrow filled
    assert not full[r >= 15.0].any()


def test_deposit_touching_bone_is_kept_apart():
    spacing = (0.7, 0.7, 1.0)
    hu, (x, y, z), _ = _long_bone(spacing, cortex_hu=700, marrow_hu=200)
    deposit = np.sqrt((x - 14.5) ** 2 + y**2 + z**2) <= 3.0
    hu[deposit] = 350
    bone = bone_mask(hu, spacing)
    dep = np.zeros(hu.shape, dtype=bool)
    o, s = bone.offset, bone.deposits.shape
    dep[o[0]:o[0] + s[0], o[1]:o[1] + s[1], o[2]:o[2] + s[2]] = bone.deposits
    full = bone.full(hu.shape)
    outside_cortex = deposit & (np.hypot(x, y) > 12.0)
    assert dep[outside_cortex].mean() >= 0.8
    assert not full[outside_cortex & (np.hypot(x, y) > 13.5)].any()  # bone did not grow over it
    assert not dep[np.hypot(x, y) <= 11.0].any()



def _on_full_grid(bone, part, shape):
    out = np.zeros(shape, dtype=bool)
    o, s = bone.offset, part.shape
    out[o[0]:o[0] + s[0], o[1]:o[1] + s[1], o[2]:o[2] + s[2]] = part
    return out


def _bump(spacing, *, semi_axes_mm=(5.0, 5.0, 8.0), centre_mm=16.5):
    """A shaft (cortex 1000 HU, 3 mm; marrow 250 HU; noise SD 20 HU) and an ellipsoid on
    its cortex: by default 10 mm across, 16 mm long, its centre 16.5 mm from the axis (it
    reaches 0.5 mm into the 12 mm cortex). Returns HU before noise is added, coordinates,
    the radius from the axis and the ellipsoid's normalised radius."""
    hu, (x, y, z), r = _long_bone(spacing, cortex_hu=1000, marrow_hu=250)
    a, b, c = semi_axes_mm
    d = np.sqrt(((x - centre_mm) / a) ** 2 + (y / b) ** 2 + (z / c) ** 2)
    return hu, (x, y, z), r, d


def _noisy(hu, seed=0):
    noise = np.random.default_rng(seed).normal(0.0, 20.0, hu.shape)
    return np.round(hu + noise).astype(np.int16)


@pytest.mark.parametrize("spacing", [(0.5, 0.5, 1.0), (0.8, 0.8, 2.0), (1.5, 1.5, 1.5)])
@pytest.mark.parametrize("kind", ["homogeneous", "zonal"])
def test_deposit_wider_than_the_core_on_bone_is_kept_apart(spacing, kind):
    """A deposit wider than the core's opening (2 core_mm = 6 mm) fused with the cortex:
    a homogeneous 450 HU nodule (calcific tendinitis) or a zonal one, a 750 HU rim about
    2 mm thick round a 180 HU core (myositis ossificans). The cortex runs on beneath it,
    so it is kept apart; the shaft stays bone."""
    hu, _, r, d = _bump(spacing)
    deposit = (d <= 1.0) & (r > 12.0)
    hu[deposit] = 450 if kind == "homogeneous" else 750
    if kind == "zonal":
        hu[(d <= 0.6) & (r > 12.0)] = 180
    bone = bone_mask(_noisy(hu), spacing)
    dep = _on_full_grid(bone, bone.deposits, hu.shape)
    full = bone.full(hu.shape)
    assert dep[deposit & (r > 12.0 + spacing[0])].mean() >= 0.9
    assert not dep[r <= 12.0 - spacing[0]].any()  # no cortex or marrow taken for it
    assert full[r <= 11.0].mean() >= 0.95
    assert not full[deposit & (r > 14.0)].any()


@pytest.mark.parametrize("spacing", [(0.5, 0.5, 1.0), (0.8, 0.8, 2.0), (1.5, 1.5, 1.5)])
@pytest.mark.parametrize("kind", ["medulla_continuous", "cortical_ridge", "thickening"])
def test_bony_prominence_on_bone_stays_bone(spacing, kind):
    """A prominence of the same width: a tuberosity whose cortex (1000 HU) wraps marrow
    that runs on into the shaft's through an opening in its cortex (a trochanter, an
    osteophyte: corticomedullary continuity), a solid ridge as dense as the cortex (a
    linea aspera), or a thickening of the cortex, less dense than it (500 HU), standing
    only 5.5 mm proud (under 2 core_mm: a tuberosity's roughened cortex, as on the lateral
    humeral shaft of the shared Siemens series resampled to thin slices). All are bone;
    nothing is kept apart."""
    if kind == "thickening":
        hu, (x, y, z), r, d = _bump(spacing, semi_axes_mm=(3.0, 5.0, 8.0), centre_mm=14.5)
    else:
        hu, (x, y, z), r, d = _bump(spacing)
    prominence = (d <= 1.0) & (r > 12.0)
    hu[prominence] = 500 if kind == "thickening" else 1000
    if kind == "medulla_continuous":
        marrow = (d <= 0.6) | ((x > 6.0) & (x < 16.5) & (np.abs(y) < 3.0) & (np.abs(z) < 4.8))
        hu[marrow] = 250
    bone = bone_mask(_noisy(hu), spacing)
    full = bone.full(hu.shape)
    assert not bone.deposits.any()
    assert full[prominence & (d <= 0.8)].mean() >= 0.95
    assert full[r <= 11.0].mean() >= 0.95

def test_small_deposit_alone_is_not_bone_and_cavity_stays_open():
    spacing = (1.0, 1.0, 1.0)
    x, y, z = _grid(spacing, (120.0, 120.0, 40.0))
    hu = np.full(x.shape, 40, dtype=np.int16)
    hu[np.sqrt((x - 40) ** 2 + y**2 + z**2) <= 4.0] = 500  # 270 mm^3 deposit
    ring = (np.hypot(x, y) <= 50.0) & (np.hypot(x, y) > 46.0)  # a shell enclosing ~7000 mm^2
    hu[ring] = 800
    bone = bone_mask(hu, spacing)
    full = bone.full(hu.shape)
    assert not full[np.sqrt((x - 40) ** 2 + y**2 + z**2) <= 4.0].any() or full[ring].all()
    assert not full[np.hypot(x, y) <= 30.0].any()  # cavity larger than max_hole_area_mm2
    assert full[ring].mean() >= 0.95


def test_min_volume_is_in_mm3_not_voxels():
    """An 800 mm^3 rod is bone with min_volume_mm3=500, not with 1000, at any voxel size."""
    for spacing in [(0.5, 0.5, 0.5), (2.0, 2.0, 2.0)]:
        x, y, z = _grid(spacing, (40.0, 40.0, 40.0))
        hu = np.full(x.shape, 40, dtype=np.int16)
        rod = (np.hypot(x, y) <= np.sqrt(20.0 / np.pi)) & (np.abs(z) < 20.0)  # 20 mm^2 x 40 mm
        hu[rod] = 600
        assert bone_mask(hu, spacing, config=BoneConfig(min_volume_mm3=500.0)).volume_mm3 > 0
        assert bone_mask(hu, spacing, config=BoneConfig(min_volume_mm3=1000.0)).volume_mm3 == 0


def test_bad_input_is_one_clear_error():
    with pytest.raises(InputError, match="3-D"):
        bone_mask(np.zeros((4, 4)), (1.0, 1.0, 1.0))
    with pytest.raises(InputError, match="spacing"):
        bone_mask(np.zeros((4, 4, 4)), (1.0, 0.0, 1.0))
    with pytest.raises(ValueError):
        BoneConfig(min_volume_mm3=-1.0)


def _bone_and_lumen(spacing, *, lumen_hu, marrow_hu=250, seed=0):
    """A hollow bone (cortex 800 HU, 3 mm) and an enhanced vessel lying against it."""
    x, y, _ = _grid(spacing, (90.0, 70.0, 40.0))
    hu = np.full(x.shape, 40.0)
    r_bone = np.hypot(x + 15.0, y)
    r_vessel = np.hypot(x - 8.0, y)  # 1 mm into the cortex: one mineral component
    hu[r_vessel <= 12.0] = lumen_hu
    hu[r_bone <= 12.0] = 800.0
    hu[r_bone <= 9.0] = marrow_hu
    hu += np.random.default_rng(seed).normal(0.0, 15.0, hu.shape)
    return np.round(hu).astype(np.int16), r_bone, r_vessel


@pytest.mark.parametrize(("spacing", "lumen_hu"), [
    ((0.6, 0.6, 1.0), 160),
    ((0.6, 0.6, 1.0), 300),
    ((0.6, 0.6, 1.0), 420),
    ((0.98, 0.98, 2.0), 160),
    ((0.98, 0.98, 2.0), 300),
    ((0.98, 0.98, 2.0), 420),
])
def test_enhanced_lumen_against_bone_is_not_bone(spacing, lumen_hu):
    """Portal venous to arterial lumens touching a bone: the bone is filled (its smooth
    marrow is enclosed by cortex), the lumen is not taken into it."""
    hu, r_bone, r_vessel = _bone_and_lumen(spacing, lumen_hu=lumen_hu)
    full = bone_mask(hu, spacing).full(hu.shape)
    assert full[r_bone <= 11.0].mean() >= 0.95
    assert full[r_vessel <= 10.0].mean() <= 0.02


def test_smooth_marrow_alone_stays_bone():
    """Marrow as smooth as a lumen (250 HU, noise only) but enclosed by cortex is bone."""
    spacing = (0.7, 0.7, 1.0)
    hu, _, r = _long_bone(spacing, cortex_hu=800, marrow_hu=250)
    hu = np.round(hu + np.random.default_rng(1).normal(0.0, 15.0, hu.shape)).astype(np.int16)
    full = bone_mask(hu, spacing).full(hu.shape)
    assert full[r <= 11.0].mean() >= 0.95


def test_lumen_rule_is_off_on_coarse_grids():
    """At 3 mm in-plane a vertebral body is as smooth as a lumen: nothing is taken out."""
    spacing = (3.0, 3.0, 3.0)
    hu, r_bone, _ = _bone_and_lumen(spacing, lumen_hu=300)
    cfg = BoneConfig()
    assert max(spacing[:2]) > cfg.lumen_max_voxel_mm
    full = bone_mask(hu, spacing, config=cfg).full(hu.shape)
    assert full[r_bone <= 11.0].mean() >= 0.95


def _vertebra(spacing, *, marrow_hu, canal_hu=20):
    """Three vertebrae: bodies (ellipse 40 x 30 mm, cortex 2 mm, 20 mm high) with their
    arches round an 18 mm canal, and 5 mm discs (80 HU, no bone: the foramina and
    interlaminar spaces open the canal to the soft tissue at each disc, as in a
    thoracic spine)."""
    x, y, z = _grid(spacing, (80.0, 90.0, 75.0))
    level = np.mod(z + 37.5, 25.0) >= 5.0  # a disc, then a vertebra, along the column
    hu = np.full(x.shape, 40.0)
    outline = (x / 20.0) ** 2 + ((y + 15.0) / 15.0) ** 2 <= 1.0
    body = outline & level
    hu[outline & ~level] = 80.0
    hu[body] = 600.0
    hu[body & ((x / 18.0) ** 2 + ((y + 15.0) / 13.0) ** 2 <= 1.0)] = marrow_hu
    r_canal = np.hypot(x, y - 9.0)
    arch = (r_canal <= 13.0) & (r_canal > 9.0) & ~outline & level
    hu[arch] = 600.0
    canal = (r_canal <= 8.0) & ~outline
    hu[canal] = canal_hu
    return hu.astype(np.int16), body, canal


@pytest.mark.parametrize("spacing", [(0.8, 0.8, 1.0), (3.0, 3.0, 3.0)])
def test_spinal_canal_is_not_filled_marrow_is(spacing):
    hu, body, canal = _vertebra(spacing, marrow_hu=200)
    full = bone_mask(hu, spacing).full(hu.shape)
    assert full[body].mean() >= 0.95
    assert full[canal].mean() <= 0.05


@pytest.mark.parametrize("marrow_hu", [30, -80])
def test_marrow_of_water_or_fat_density_in_a_large_body_is_filled(marrow_hu):
    """Very osteoporotic marrow (30 HU) in a body larger than any canal, or fatty marrow,
    is still bone."""
    spacing = (0.8, 0.8, 1.0)
    hu, body, _ = _vertebra(spacing, marrow_hu=marrow_hu)
    full = bone_mask(hu, spacing).full(hu.shape)
    assert full[body].mean() >= 0.95


def _mass_and_column(spacing, *, mass_centre_x, gap_mm=5.0, mass_marrow_hu=None):
    """A column of compact vertebra-like blocks (30 x 24 mm, 20 mm high, discs `gap_mm`;
    a 3 mm 700 HU cortex around 200 HU cancellous marrow) running out of the grid, and a
    compact sphere of radius 11 mm (5,600 mm^3): solid 600 HU, or, with `mass_marrow_hu`,
    a small bone (a 2.5 mm 900 HU cortex around marrow of that density, as a patella)."""
    x, y, z = _grid(spacing, (120.0, 60.0, 100.0))
    hu = np.full(x.shape, 40.0)
    period = 20.0 + gap_mm
    block = (np.abs(x + 30.0) <= 15.0) & (np.abs(y) <= 12.0) & (np.mod(z, period) < 20.0)
    hu[block] = 700.0
    marrow = (block & (np.abs(x + 30.0) <= 12.0) & (np.abs(y) <= 9.0)
              & (np.mod(z, period) >= 3.0) & (np.mod(z, period) < 17.0))
    hu[marrow] = 200.0
    r = np.sqrt((x - mass_centre_x) ** 2 + y**2 + z**2)
    mass = r <= 11.0
    hu[mass] = 600.0 if mass_marrow_hu is None else 900.0
    if mass_marrow_hu is not None:
        hu[r <= 8.5] = mass_marrow_hu
    return hu.astype(np.int16), block, mass


@pytest.mark.parametrize("spacing", [(0.8, 0.8, 1.0), (3.0, 3.0, 3.0)])
def test_large_compact_deposit_apart_from_bone_is_not_bone(spacing):
    """A deposit five times min_volume_mm3, 19 mm from the nearest bone, stays a lesion;
    every block of the column (reached across its discs) is bone."""
    hu, block, mass = _mass_and_column(spacing, mass_centre_x=15.0)
    full = bone_mask(hu, spacing).full(hu.shape)
    assert not full[mass].any()
    assert full[block].mean() >= 0.95


@pytest.mark.parametrize("marrow_hu", [250, -50])
@pytest.mark.parametrize("spacing", [(0.8, 0.8, 1.0), (3.0, 3.0, 3.0)])
def test_compact_bone_across_a_joint_is_bone(spacing, marrow_hu):
    """A small bone 3 mm from the column (a patella across its joint: cortex around
    cancellous or fatty marrow) joins the skeleton."""
    hu, _, mass = _mass_and_column(spacing, mass_centre_x=-1.0, mass_marrow_hu=marrow_hu)
    full = bone_mask(hu, spacing).full(hu.shape)
    assert full[mass].mean() >= 0.95


@pytest.mark.parametrize("spacing", [(0.8, 0.8, 1.0), (3.0, 3.0, 3.0)])
def test_solid_deposit_across_a_joint_gap_is_not_bone(spacing):
    """A solid 600 HU deposit at the same place (no cortex, no marrow) stays a lesion,
    and the column is still bone."""
    hu, block, mass = _mass_and_column(spacing, mass_centre_x=-1.0)
    full = bone_mask(hu, spacing).full(hu.shape)
    assert not full[mass].any()
    assert full[block].mean() >= 0.95


def _vein_and_rib(spacing, *, noise_sd, seed=0):
    """An enhanced vein (145 HU, radius 5 mm) in 90 HU parenchyma and a rib, both along axis 2.

    The vein is as dense as a portal vein in a portal venous phase at 130 HU's edge; the rib
    (radius 5 mm) has a 1.5 mm cortex of 600 HU around 200 HU cancellous bone. Both run
    through the whole grid (reaching its edge), with Gaussian noise of `noise_sd`.
    """
    x, y, _ = _grid(spacing, (100.0, 60.0, 120.0))
    hu = np.full(x.shape, 40.0)
    vein_r = np.hypot(x + 25.0, y)
    hu[vein_r <= 15.0] = 90.0  # parenchyma around the vein
    hu[vein_r <= 5.0] = 145.0
    rib_r = np.hypot(x - 25.0, y)
    hu[rib_r <= 5.0] = 600.0
    hu[rib_r <= 3.5] = 200.0
    hu += np.random.default_rng(seed).normal(0.0, noise_sd, hu.shape)
    return np.round(hu).astype(np.int16), vein_r, rib_r


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("spacing", [(1.0, 1.0, 2.0), (3.0, 3.0, 3.0)])
def test_homogeneous_region_at_the_threshold_is_not_bone(spacing, seed):
    """A thin enhanced vein just over 130 HU is homogeneous (its spread is image noise)."""
    noise_sd = 10.0
    hu, vein_r, rib_r = _vein_and_rib(spacing, noise_sd=noise_sd, seed=seed)
    full = bone_mask(hu, spacing, noise_sd_hu=noise_sd).full(hu.shape)
    assert full[vein_r <= 5.0].mean() <= 0.02
    assert full[rib_r <= 4.0].mean() >= 0.9  # the rib, cortex and marrow, stays bone


def test_homogeneous_rule_needs_a_noise_estimate():
    """Without a noise SD (or with none measurable) the rule is off: nothing is dropped by it."""
    spacing = (1.0, 1.0, 2.0)
    hu, _, rib_r = _vein_and_rib(spacing, noise_sd=0.0)
    for sd in (None, 0.0):
        assert bone_mask(hu, spacing, noise_sd_hu=sd).full(hu.shape)[rib_r <= 4.0].mean() >= 0.9


def _bone_with_fin(spacing, z_range):
    """A shaft (cortex 700 HU, marrow 200 HU) with a thin bony fin (2 x 8 mm) over `z_range`."""
    hu, (x, y, z), _ = _long_bone(spacing, cortex_hu=700, marrow_hu=200)
    fin = (x > 11.0) & (x <= 20.0) & (np.abs(y) <= 1.0) & (z >= z_range[0]) & (z <= z_range[1])
    hu[fin] = 700
    return hu, fin & (x > 13.0)


@pytest.mark.parametrize("z_range", [(-15.0, 15.0), (15.0, 40.0)])
def test_thin_process_followed_over_many_slices_or_cut_by_the_field_is_bone(z_range):
    """A fin of bone (an arch, a facet, a rib edge) cut off the core is no deposit.

    Over 30 mm of slices (under 1000 mm^3 and 8 mm in-plane: a deposit by size alone), or
    running out of the grid's last slice (the field cuts it, its length is unknown).
    """
    spacing = (0.7, 0.7, 1.0)
    hu, fin = _bone_with_fin(spacing, z_range)
    bone = bone_mask(hu, spacing)
    assert bone.full(hu.shape)[fin].mean() >= 0.9
    assert not bone.deposits.any()


def test_smooth_marrow_with_a_faint_cortex_is_bone_in_a_native_study():
    """A vertebral body (ellipse 40 x 30 mm) of smooth 250 HU marrow inside a faint
    0.6 mm cortex of 350 HU, at 0.3 mm pixels: as smooth as an enhanced lumen, but a
    native study has no enhanced lumen, so the body is bone, marrow filled."""
    spacing = (0.3, 0.3, 1.0)
    x, y, _ = _grid(spacing, (60.0, 60.0, 6.0))
    hu = np.full(x.shape, 40.0)
    body = (x / 20.0) ** 2 + (y / 15.0) ** 2 <= 1.0
    marrow = (x / 19.4) ** 2 + (y / 14.4) ** 2 <= 1.0
    hu[body] = 350.0
    hu[marrow] = 250.0
    hu = np.round(hu + np.random.default_rng(0).normal(0.0, 15.0, hu.shape)).astype(np.int16)
    full = bone_mask(hu, spacing, enhanced=False).full(hu.shape)
    assert full[marrow].mean() >= 0.95
    assert not full[~body].any()


def _given_components(hu, mineral_hu=130.0):
    """Mineral labels, and their counts, boxes and HU as a caller holding them passes them.

    Built from ``cc3d.statistics`` and a stable sort of the labelled voxels: a source
    independent of how bone_mask derives them itself.
    """
    import cc3d

    labels = cc3d.connected_components(hu >= mineral_hu, connectivity=26)
    stats = cc3d.statistics(labels)
    n = len(stats["voxel_counts"]) - 1
    counts = np.asarray(stats["voxel_counts"], dtype=np.int64)
    counts[0] = 0
    lo = np.zeros((n + 1, 3), dtype=np.int64)
    hi = np.zeros((n + 1, 3), dtype=np.int64)
    for c in range(1, n + 1):
        lo[c] = [b.start for b in stats["bounding_boxes"][c]]
        hi[c] = [b.stop for b in stats["bounding_boxes"][c]]
    flat = labels.ravel()
    order = np.argsort(flat, kind="stable")[np.count_nonzero(flat == 0):]
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return labels, ComponentBoxes(counts, lo, hi, hu=hu.ravel()[order], start=start)


@pytest.mark.parametrize("case", ["deposit", "column", "fin", "vein"])
def test_components_given_by_the_caller_give_the_same_skeleton(case):
    """Counts, boxes and HU passed in (as detection does) change nothing against
    bone_mask deriving them itself: the same skeleton, deposits and components."""
    spacing = (0.7, 0.7, 1.0)
    noise = None
    if case == "deposit":
        hu, (x, y, z), _ = _long_bone(spacing, cortex_hu=700, marrow_hu=200)
        hu[np.sqrt((x - 14.5) ** 2 + y**2 + z**2) <= 3.0] = 350
    elif case == "column":
        hu = _mass_and_column((0.8, 0.8, 1.0), mass_centre_x=-1.0)[0]
        spacing = (0.8, 0.8, 1.0)
    elif case == "fin":
        hu = _bone_with_fin(spacing, (-15.0, 15.0))[0]
    else:
        spacing, noise = (1.0, 1.0, 2.0), 10.0
        hu = _vein_and_rib(spacing, noise_sd=noise)[0]
    labels, given = _given_components(hu)
    own = bone_mask(hu, spacing, mineral_labels=labels, noise_sd_hu=noise)
    passed = bone_mask(hu, spacing, mineral_labels=labels, mineral_boxes=given,
                       noise_sd_hu=noise)
    assert own.component_ids and passed.component_ids == own.component_ids
    assert passed.offset == own.offset
    for name in ("filled", "exclusion", "bone_labels", "deposits"):
        assert np.array_equal(getattr(passed, name), getattr(own, name)), name
    assert passed.volume_mm3 == own.volume_mm3


def _rib_and_cartilage(spacing, *, cartilage_hu):
    """A rib (10 x 8 mm, cortex 1.5 mm at 700 HU round 200 HU marrow) along axis 0, its
    end joined to a rod of costal cartilage (10 x 8 mm) of uniform faint mineral."""
    x, y, z = _grid(spacing, (140.0, 40.0, 30.0))
    hu = np.full(x.shape, 40, dtype=np.int16)
    rod = (y / 5.0) ** 2 + (z / 4.0) ** 2 <= 1.0
    rib = rod & (x < 0.0)
    hu[rib] = 700
    hu[rib & ((y / 3.5) ** 2 + (z / 2.5) ** 2 <= 1.0)] = 200
    cartilage = rod & (x >= 0.0)
    hu[cartilage] = cartilage_hu
    return hu, rib, cartilage, x


def test_faint_cartilage_joined_to_a_rib_is_a_deposit_not_bone():
    """Calcified costal cartilage (about 130-200 HU, no cortex) on its rib's end: the
    cartilage farther than cortex_reach_mm from the rib's cortex is a deposit; the rib
    stays bone. A rib 70 mm long is skeleton on its own (major axis over 50 mm)."""
    spacing = (0.8, 0.8, 2.0)
    hu, rib, cartilage, x = _rib_and_cartilage(spacing, cartilage_hu=150)
    cfg = BoneConfig()
    bone = bone_mask(hu, spacing, config=cfg)
    full = bone.full(hu.shape)
    dep = np.zeros(hu.shape, dtype=bool)
    o, s = bone.offset, bone.deposits.shape
    dep[o[0]:o[0] + s[0], o[1]:o[1] + s[1], o[2]:o[2] + s[2]] = bone.deposits
    assert full[rib].mean() >= 0.95
    far = cartilage & (x > cfg.cortex_reach_mm + 2 * spacing[0])
    assert not full[far].any()
    assert dep[far].mean() >= 0.95


def test_dense_rod_and_coarse_grids_keep_the_cartilage_rule_off():
    """The same rod as dense as the rib's cortex (ossified) is bone; on a 3 mm grid, where
    a rib's cortex blurs under mineral_hu + dense_tail_hu, the rule does not apply."""
    hu, _, cartilage, _ = _rib_and_cartilage((0.8, 0.8, 2.0), cartilage_hu=700)
    full = bone_mask(hu, (0.8, 0.8, 2.0)).full(hu.shape)
    assert full[cartilage].mean() >= 0.95
    coarse = (3.0, 3.0, 3.0)
    hu, _, cartilage, _ = _rib_and_cartilage(coarse, cartilage_hu=150)
    assert max(coarse[:2]) > BoneConfig().lumen_max_voxel_mm
    full = bone_mask(hu, coarse).full(hu.shape)
    assert full[cartilage].mean() >= 0.9


def _block_across_a_disc(spacing, disc_mm):
    """Two vertebra-like blocks (30 x 24 mm; a 3 mm 700 HU cortex around 200 HU marrow)
    along axis 2 with a disc of `disc_mm` between them, placed on the slice grid so that
    as many slices as fit lie inside the disc: the mineral slices on either side are then
    almost a slice farther from the disc than its faces, each. The lower block runs out of
    the grid (an anchor); the upper one, 20 mm high, is compact."""
    x, y, z = _grid(spacing, (60.0, 60.0, 70.0))
    zs = np.unique(z)
    face = zs[len(zs) // 2] + spacing[2] - 0.1  # just under a slice centre: one more in it
    inplane = (np.abs(x) <= 15.0) & (np.abs(y) <= 12.0)
    inner = (np.abs(x) <= 12.0) & (np.abs(y) <= 9.0)
    lower = inplane & (z < face)
    upper = inplane & (z >= face + disc_mm) & (z < face + disc_mm + 20.0)
    hu = np.full(x.shape, 40.0)
    hu[lower | upper] = 700.0
    hu[inner & (z < face - 3.0)] = 200.0
    hu[inner & (z >= face + disc_mm + 3.0) & (z < face + disc_mm + 17.0)] = 200.0
    return hu.astype(np.int16), upper


@pytest.mark.parametrize("spacing", [(0.8, 0.8, 1.4), (0.8, 0.8, 2.6)])
def test_compact_bone_across_a_disc_of_the_joint_gap_is_bone_at_any_slice_phase(spacing):
    """A disc as high as joint_gap_mm (6 mm) sampled with as many slices inside it as fit
    (five at 1.4 mm: the mineral on either side 8.4 mm apart, centre to centre): the block
    beyond it is still reached across the disc. Each side of a gap may lose up to one
    voxel to the sampling, not one voxel for both."""
    hu, upper = _block_across_a_disc(spacing, BoneConfig().joint_gap_mm)
    full = bone_mask(hu, spacing).full(hu.shape)
    assert full[upper].mean() >= 0.95


def _bone_and_one_slice_part(slice_mm, part_slices):
    """A long bone (cortex 800 HU, 60 x 30 mm in-plane, along axis 2, running out of the
    grid) in 40 HU tissue, and beside it a part 8 mm out and 4 mm wide whose HU falls from
    300 to 140 away from the cortex (the blend of a bone surface with what lies beyond it
    inside a slab), on `part_slices` slices in the middle; 0.5 mm pixels."""
    spacing = (0.5, 0.5, slice_mm)
    n_k = 9 if slice_mm >= 4 else 21
    x, y, _ = _grid(spacing, (100.0, 60.0, n_k * slice_mm))
    hu = np.full(x.shape, 40.0)
    bone = (np.abs(x) <= 30.0) & (np.abs(y) <= 15.0)
    hu[bone] = 800.0
    k0 = n_k // 2
    ks = np.zeros(x.shape, dtype=bool)
    ks[:, :, k0:k0 + part_slices] = True
    part = (y > 15.0) & (y <= 23.0) & (np.abs(x) <= 2.0) & ks
    hu[part] = (300.0 - 20.0 * (y[part] - 15.0))
    return np.round(hu).astype(np.int16), spacing, part


@pytest.mark.parametrize(("slice_mm", "part_slices", "deposit"),
                         [(5.0, 1, False), (5.0, 2, True), (2.0, 1, True)])
def test_one_slice_part_off_the_core_is_bone_on_thick_slices_only(slice_mm, part_slices,
                                                                  deposit):
    """On 5 mm slices (more than core_mm) a part off the core seen on one slice is the bone's
    surface cut within that slab (the inner table of the skull in a 5 mm head series, at
    the vertex or the skull base): bone, not a deposit. Seen on two slices, or on one 2 mm
    slice, it is still a deposit kept apart."""
    hu, spacing, part = _bone_and_one_slice_part(slice_mm, part_slices)
    result = bone_mask(hu, spacing)
    dep = _on_full_grid(result, result.deposits, hu.shape)
    full = result.full(hu.shape)
    if deposit:  # bone keeps at most the row on its cortex (the core grown back by a voxel)
        assert dep[part].mean() >= 0.8 and full[part].mean() <= 0.1
    else:
        assert not dep.any() and full[part & (hu >= 130)].all()


@pytest.mark.parametrize(("spacing", "cortex_mm"),
                         [((2.0, 2.0, 2.0), 1.5), ((2.0, 2.0, 2.0), 2.0),
                          ((1.5, 1.5, 3.0), 1.5), ((1.2, 1.2, 2.0), 2.0)])
def test_deposit_on_a_one_voxel_cortex_takes_no_marrow(spacing, cortex_mm):
    """At 1.5-2 mm voxels a shaft's 1.5-2 mm cortex (1200 HU) is one voxel thick, a digital
    ring joined through edges and corners; a zonal deposit 12 mm across on it (a 750 HU rim
    round a 180 HU core) is kept apart without the 320 HU marrow beyond the cortex, and
    without any of the shaft away from it along the slices (at 1.2 mm pixels the staircase
    of the shaft's outline outside its envelope joins the deposit along the whole shaft)."""
    hu, (x, y, z), r = _long_bone(spacing, cortex_hu=1200, marrow_hu=320, cortex_mm=cortex_mm)
    d = np.sqrt(((x - 17.0) / 6.0) ** 2 + (y / 6.0) ** 2 + (z / 8.0) ** 2)
    deposit = (d <= 1.0) & (r > 12.0)
    hu[deposit] = 750
    hu[(d <= 0.6) & (r > 12.0)] = 180
    bone = bone_mask(_noisy(hu), spacing)
    dep = _on_full_grid(bone, bone.deposits, hu.shape)
    assert dep[deposit & (r > 12.0 + spacing[0])].mean() >= 0.9
    assert not dep[r <= 12.0 - cortex_mm].any()  # no marrow
    assert not dep[np.abs(z) > 8.0 + 2 * spacing[2]].any()  # nothing along the shaft


def _vessel_and_bone(spacing, *, seed=0):
    """Running out of the grid along the slices (40 mm): an enhanced vessel (radius 4 mm,
    200 HU) with a focal wall plaque (700 HU, 12 mm along the slices on one side: no
    cortex round it) and, 25 mm away, a hollow bone (800 HU cortex round 250 HU marrow,
    as in _bone_and_lumen)."""
    x, y, z = _grid(spacing, (80.0, 50.0, 40.0))
    hu = np.full(x.shape, 40.0)
    r_vessel = np.hypot(x - 20.0, y)
    hu[r_vessel <= 4.0] = 200.0
    hu[(r_vessel > 2.5) & (r_vessel <= 4.0) & (x > 22.0) & (np.abs(y) <= 2.0)
       & (np.abs(z) <= 6.0)] = 700.0
    r_bone = np.hypot(x + 17.0, y)
    hu[r_bone <= 12.0] = 800.0
    hu[r_bone <= 9.0] = 250.0
    hu += np.random.default_rng(seed).normal(0.0, 15.0, hu.shape)
    return np.round(hu).astype(np.int16), r_vessel, r_bone


@pytest.mark.parametrize("spacing", [(0.6, 0.6, 1.0), (0.98, 0.98, 2.0)])
def test_enhanced_vessel_cut_by_the_field_is_not_bone(spacing):
    """A solid mass as dense as enhanced blood, cut by the field of view through its
    inside (a calcified splenic artery run out of the first slice), is no anchor of
    the skeleton unless the study is known to be native; a bone cut the same way,
    with its cortex, still is. (At 3 mm the vessel, under three voxels across, has no
    inside to judge: a stated limit.)"""
    hu, r_vessel, r_bone = _vessel_and_bone(spacing)
    full = bone_mask(hu, spacing, enhanced=True).full(hu.shape)
    assert not full[r_vessel <= 4.0].any()
    assert full[r_bone <= 11.0].mean() >= 0.95
    unknown = bone_mask(hu, spacing).full(hu.shape)
    assert not unknown[r_vessel <= 4.0].any()


def _lumen_with_far_plaque(spacing, *, seed=0):
    """As _bone_and_lumen (a 300 HU lumen, radius 12 mm, against a hollow bone), with on
    the lumen's far side a crescent of wall plaque (800 HU, 2 mm thick, 20 mm along the
    slices: under min_volume_mm3, longer than deposit_max_mm) and, past it along the
    slices, a faint branch (a 250 HU vessel of radius 3 mm leaving the lumen's far side)."""
    x, y, z = _grid(spacing, (100.0, 70.0, 40.0))
    hu = np.full(x.shape, 40.0)
    r_bone = np.hypot(x + 15.0, y)
    r_vessel = np.hypot(x - 8.0, y)
    hu[r_vessel <= 12.0] = 300.0
    plaque = ((r_vessel > 10.5) & (r_vessel <= 12.5) & (x > 8.0) & (np.abs(y) <= 8.0)
              & (np.abs(z) <= 10.0))
    hu[plaque] = 800.0
    branch = (np.hypot(y, z - 15.0) <= 3.0) & (x > 8.0) & (x <= 40.0) & (r_vessel > 12.0)
    hu[branch] = 250.0
    hu[r_bone <= 12.0] = 800.0
    hu[r_bone <= 9.0] = 250.0
    hu += np.random.default_rng(seed).normal(0.0, 15.0, hu.shape)
    return np.round(hu).astype(np.int16), r_bone, r_vessel, plaque, branch


def test_plaque_cut_off_by_the_lumen_is_a_deposit_not_bone():
    """A lumen against bone leaves the skeleton (step 2b): the wall plaque on its far side,
    joined to the bone only through it, is a deposit, not bone; the faint branch leaving
    it is neither (the lumen's own); the bone is still filled."""
    spacing = (0.98, 0.98, 2.0)
    hu, r_bone, r_vessel, plaque, branch = _lumen_with_far_plaque(spacing)
    bone = bone_mask(hu, spacing, enhanced=True)
    full = bone.full(hu.shape)
    dep = _on_full_grid(bone, bone.deposits, hu.shape)
    assert full[r_bone <= 11.0].mean() >= 0.95
    assert not full[plaque | branch | (r_vessel <= 10.0)].any()
    assert dep[plaque].mean() >= 0.9
    assert not dep[branch].any()
