import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calcdx.measure.shape import measure_shape


def ellipsoid(semi_mm, spacing, hu=400.0, core_hu=None, rim_mm=0.0):
    shape = tuple(int(np.ceil(2 * a / s)) + 6 for a, s in zip(semi_mm, spacing, strict=True))
    grids = np.meshgrid(*[(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing,
                                                                            strict=True)],
                        indexing="ij")
    r = sum((g / a) ** 2 for g, a in zip(grids, semi_mm, strict=True))
    mask = r <= 1.0
    vol = np.full(shape, 40.0, dtype=np.float32)
    vol[mask] = hu
    if core_hu is not None:
        inner = sum((g / (a - rim_mm)) ** 2 for g, a in zip(grids, semi_mm, strict=True)) <= 1
        vol[inner] = core_hu
    return mask, vol


def affine_for(spacing):
    return np.diag([*spacing, 1.0])


@pytest.mark.parametrize("radius", [3.0, 5.0, 8.0])
def test_sphere_volume(radius):
    spacing = (0.8, 0.8, 1.0)
    mask, vol = ellipsoid((radius,) * 3, spacing)
    m = measure_shape(mask, vol, affine_for(spacing))
    truth = 4 / 3 * np.pi * radius**3
    tol = 0.10 if truth >= 100 else 0.25
    assert m.volume_mm3 == pytest.approx(truth, rel=tol)
    assert m.elongation > 0.9 and m.flatness > 0.85
    assert m.sphericity is not None and m.sphericity > 0.8
    # IBSI axis length 4 sqrt(lambda) of a solid sphere = 4 r / sqrt(5).
    assert m.principal_axes_mm[0] == pytest.approx(4 * radius / np.sqrt(5), rel=0.08)


def test_ellipsoid_axes_and_linear():
    spacing = (0.5, 0.5, 0.5)
    mask, vol = ellipsoid((12.0, 2.0, 2.0), spacing)
    m = measure_shape(mask, vol, affine_for(spacing))
    assert m.elongation < 0.3
    assert m.max_extent_mm == pytest.approx(24.0, rel=0.08)
    assert m.skeleton_length_mm is not None and m.skeleton_length_mm > 15.0
    assert m.tortuosity is not None and m.tortuosity < 1.2


def test_zonal_rim_core():
    spacing = (0.8, 0.8, 0.8)
    mask_full, vol = ellipsoid((8.0, 8.0, 8.0), spacing, hu=800.0, core_hu=170.0, rim_mm=2.5)
    m = measure_shape(mask_full, vol, affine_for(spacing))
    assert m.rim_mean_hu is not None and m.core_mean_hu is not None
    assert m.rim_mean_hu - m.core_mean_hu > 200
    assert m.rim_core_ratio is not None and m.rim_core_ratio > 1.5


@settings(max_examples=15, deadline=None)
@given(scale=st.floats(0.3, 3.0), sz=st.floats(0.3, 3.0))
def test_volume_scales_with_spacing_cubed(scale, sz):
    rng = np.random.default_rng(1)
    mask = np.zeros((12, 12, 12), dtype=bool)
    mask[3:9, 3:9, 3:9] = rng.random((6, 6, 6)) > 0.3
    mask[5, 5, 5] = True
    vol = np.where(mask, 300.0, 0.0).astype(np.float32)
    base = measure_shape(mask, vol, affine_for((1.0, 1.0, 1.0))).volume_mm3
    scaled = measure_shape(mask, vol, affine_for((scale, scale, scale * sz))).volume_mm3
    assert scaled == pytest.approx(base * scale**3 * sz, rel=1e-9)


def test_rim_core_and_dependent_half_do_not_depend_on_the_crop_margin():
    """A rim-dense hollow ellipsoid measured on a tight crop (one background voxel each side)
    and on a wide one, off-centre, with a thin slice axis: rim, core, hollow fraction and
    dependent excess are the same numbers (each voxel's depth and the filled holes are
    found from within the lesion's box)."""
    spacing = (0.9, 0.9, 0.3)
    mask, vol = ellipsoid((6.0, 5.0, 4.0), spacing, hu=700.0, core_hu=60.0, rim_mm=1.5)
    mask &= vol >= 130.0  # the hollow core is not lesion
    vol = vol + np.random.default_rng(0).normal(0.0, 20.0, vol.shape).astype(np.float32)
    idx = np.argwhere(mask)
    lo, hi = idx.min(axis=0) - 1, idx.max(axis=0) + 2
    tight = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    wide = np.pad(mask, ((4, 9), (7, 2), (30, 12)))
    wide_hu = np.pad(vol, ((4, 9), (7, 2), (30, 12)), mode="edge")
    a = measure_shape(mask[tight], vol[tight], affine_for(spacing))
    b = measure_shape(wide, wide_hu, affine_for(spacing))
    assert a.rim_mean_hu is not None and a.core_mean_hu is not None
    assert a.hollow_fraction > 0.1
    for name in ("rim_mean_hu", "core_mean_hu", "rim_core_ratio", "hollow_fraction",
                 "dependent_excess_hu", "n_voxels"):
        assert getattr(a, name) == getattr(b, name), name


def test_mesh_on_the_lesion_box_equals_mesh_on_the_crop():
    """The surface built on the mask's box and placed back: the same volume and area, bit
    for bit, as marching cubes over the whole (padded) crop with its spacing."""
    from scipy import ndimage as ndi
    from skimage.measure import marching_cubes, mesh_surface_area

    from calcdx.measure.shape import _mesh

    rng = np.random.default_rng(11)
    for _ in range(40):
        shape = tuple(int(v) for v in rng.integers(10, 40, 3))
        blob = ndi.gaussian_filter(rng.random(shape), 1.2) > 0.52
        mask = np.zeros(tuple(v + 12 for v in shape), dtype=bool)  # a wide margin
        mask[6:-6, 6:-6, 6:-6] = blob
        if mask.sum() < 2:
            continue
        spacing = tuple(float(v) for v in rng.uniform(0.1, 3.0, 3))
        verts, faces, _, _ = marching_cubes(np.pad(mask, 1).astype(np.float32), level=0.5,
                                            spacing=spacing)
        tri = verts[faces]
        volume = float(abs(np.einsum("ij,ij->i", tri[:, 0],
                                     np.cross(tri[:, 1], tri[:, 2])).sum()) / 6.0)
        area = float(mesh_surface_area(verts, faces))
        assert _mesh(mask, spacing, np.argwhere(mask)) == (volume, area)
        assert _mesh(mask, spacing) == (volume, area)
