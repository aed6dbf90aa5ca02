"""Calcified costal cartilage split off the rib it joins (calcdx.masks.ribcart, step 3b).

Synthetic volumes whose truth is their construction: a rib (a 1.5 mm cortex at
700 HU round 200 HU marrow) whose end runs on into a cartilage bar of faint
mineral (140 HU) holding dense granules and a marginal band as dense as the
rib's cortex, the calcification pattern of costal cartilage (Navani et al., AJR
1970); the distance rule of step 3b alone keeps such a bar with the rib.
"""

import numpy as np
import pytest

from calcdx.masks.body import compute_body
from calcdx.masks.bone import BoneConfig, bone_mask
from calcdx.masks.grid import CoarseGrid
from calcdx.masks.ribcart import CartilageSite, cartilage_site, cortex_share, granular_parts

SPACING = (0.8, 0.8, 2.0)


def _grid(spacing, extent_mm):
    n = [round(e / s) for e, s in zip(extent_mm, spacing, strict=True)]
    axes = [(np.arange(k) - (k - 1) / 2) * s for k, s in zip(n, spacing, strict=True)]
    return np.meshgrid(*axes, indexing="ij")


def _rib_and_granular_cartilage(spacing, *, half_thickness_mm=(5.0, 4.0)):
    """Rib (x < 0, 70 mm) and cartilage bar (x >= 0, 70 mm) along axis 0 in 40 HU tissue.

    The bar: 140 HU, a 600 HU band along one margin (every other 10 mm) and 600 HU
    granules (3 mm) every 10 mm along its axis."""
    x, y, z = _grid(spacing, (140.0, 40.0, 30.0))
    a, b = half_thickness_mm
    hu = np.full(x.shape, 40, dtype=np.int16)
    rod = (y / a) ** 2 + (z / b) ** 2 <= 1.0
    rib = rod & (x < 0.0)
    hu[rib] = 700
    hu[rib & ((y / (a - 1.5)) ** 2 + (z / (b - 1.5)) ** 2 <= 1.0)] = 200
    cartilage = rod & (x >= 0.0)
    hu[cartilage] = 140
    band = cartilage & (y <= -(a - 1.6)) & (np.floor(x / 10.0) % 2 == 0)
    hu[band] = 600
    granule = cartilage & (np.hypot((x % 10.0) - 5.0, y) <= 1.5) & (np.abs(z) <= 1.0)
    hu[granule] = 600
    return hu, rib, cartilage, x


def _everywhere(shape):
    grid = CoarseGrid(full_shape=shape, factors=(4, 4, 2), full_spacing_mm=SPACING)
    return CartilageSite(grid=grid, coarse=np.ones(grid.shape, dtype=bool))


def _nowhere(shape):
    site = _everywhere(shape)
    return CartilageSite(grid=site.grid, coarse=np.zeros_like(site.coarse))


def _deposits(bone, shape):
    out = np.zeros(shape, dtype=bool)
    o, s = bone.offset, bone.deposits.shape
    out[o[0]:o[0] + s[0], o[1]:o[1] + s[1], o[2]:o[2] + s[2]] = bone.deposits
    return out


def test_the_distance_rule_alone_keeps_a_granular_cartilage_with_its_rib():
    """The premise: granules as dense as cortex keep the bar within cortex_reach_mm of
    'cortex', so without the cartilage site most of the bar stays bone."""
    hu, rib, cartilage, _ = _rib_and_granular_cartilage(SPACING)
    full = bone_mask(hu, SPACING).full(hu.shape)
    assert full[rib].mean() >= 0.95
    assert full[cartilage].mean() >= 0.5


def test_granular_cartilage_on_a_rib_end_leaves_the_bone_where_cartilage_lies():
    """With the site: the bar beyond a window's width from the rib's end is no bone, its
    granules and band included (they are the cartilage's mineral, kept as deposits);
    the rib stays bone."""
    hu, rib, cartilage, x = _rib_and_granular_cartilage(SPACING)
    cfg = BoneConfig()
    bone = bone_mask(hu, SPACING, cartilage_site=_everywhere(hu.shape))
    full = bone.full(hu.shape)
    dep = _deposits(bone, hu.shape)
    assert full[rib].mean() >= 0.95
    beyond = cartilage & (x > 2 * cfg.cartilage_window_mm)
    assert not full[beyond].any()
    mineral = beyond & (hu >= cfg.mineral_hu)
    assert dep[mineral].mean() >= 0.95
    assert dep[mineral & (hu >= 600)].all()  # the granules and band with it


def test_granular_cartilage_outside_the_site_stays_bone():
    """Away from the trunk's anterior outer shell the rule does not apply."""
    hu, _, cartilage, _ = _rib_and_granular_cartilage(SPACING)
    without = bone_mask(hu, SPACING).full(hu.shape)
    nowhere = bone_mask(hu, SPACING, cartilage_site=_nowhere(hu.shape)).full(hu.shape)
    assert np.array_equal(without, nowhere)
    assert nowhere[cartilage].mean() >= 0.5


def test_a_thick_faint_region_is_no_cartilage():
    """A region as wide as a lumen or an organ (in-plane radius over lumen_min_radius_mm)
    is not split off as cartilage, however faint."""
    hu, _, cartilage, _ = _rib_and_granular_cartilage(SPACING, half_thickness_mm=(10.0, 8.0))
    cfg = BoneConfig()
    out = granular_parts(hu, hu >= cfg.mineral_hu, SPACING, cfg,
                         site=_everywhere(hu.shape))
    assert not out[cartilage].any()


def test_cortex_share_of_a_rib_and_of_a_cartilage():
    """In the rib the window holds its cortices (share over min_cortex_share); in the bar
    away from its granules and band the share is under it."""
    hu, rib, cartilage, x = _rib_and_granular_cartilage(SPACING)
    cfg = BoneConfig()
    share = cortex_share(hu, hu >= cfg.mineral_hu, SPACING, window_mm=cfg.cartilage_window_mm,
                         level_hu=cfg.mineral_hu + cfg.dense_tail_hu)
    assert np.median(share[rib & (x < -10)]) >= cfg.min_cortex_share
    assert np.median(share[cartilage & (x > 10)]) < cfg.min_cortex_share


def test_cartilage_site_is_the_anterior_outer_shell():
    """A trunk-like ellipse of soft tissue in air, RAS+ affine (axis 1 anterior): the site
    holds its front skin layer, not its centre nor its back."""
    spacing = (2.0, 2.0, 4.0)
    x, y, _ = _grid(spacing, (300.0, 200.0, 40.0))
    hu = np.where((x / 140.0) ** 2 + (y / 90.0) ** 2 <= 1.0, 40, -1000).astype(np.int16)
    body = compute_body(hu, spacing)
    affine = np.diag([*spacing, 1.0])
    site = cartilage_site(body, affine, min_anterior_fraction=0.5, max_depth_fraction=0.5)
    k = hu.shape[2] // 2

    def at(x_mm, y_mm):
        i = int(np.argmin(np.abs(x[:, 0, 0] - x_mm)))
        j = int(np.argmin(np.abs(y[0, :, 0] - y_mm)))
        return bool(site.contains(np.array([[i, j, k]]))[0])

    assert at(0.0, 80.0)  # front, under the skin
    assert not at(0.0, 0.0)  # the core
    assert not at(0.0, -80.0)  # the back
    with pytest.raises(ValueError):
        site.contains(np.zeros((2,), dtype=int))
