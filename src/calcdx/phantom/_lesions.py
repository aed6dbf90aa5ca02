"""Planted calcifications of the phantom, each with its analytic truth.

Every lesion is a list of *parts* (one per lobule, grain, dot or plaque), each a
boolean shape with planted HU values evaluated on a small box of the grid. Sizes
and positions are in grid millimetres (see :mod:`calcdx.phantom._grid`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from calcdx.phantom._anatomy import ANATOMY

__all__ = ["LesionSpec", "Part", "lesion_specs"]

FloatArray = NDArray[np.float64]
#: Evaluate a part on open-mesh coordinates: returns (inside mask, HU values).
ShapeFn = Callable[[FloatArray, FloatArray, FloatArray], tuple[NDArray[np.bool_], FloatArray]]


@dataclass(frozen=True)
class Part:
    """One connected piece of a lesion.

    Attributes
    ----------
    lo, hi : (3,) ndarray
        Bounding box in grid mm.
    shape : callable
        ``shape(x, y, z) -> (mask, hu)`` on open-mesh grid-mm coordinates.
    volume_mm3 : float
        Continuous volume of the piece, in mm^3.
    """

    lo: FloatArray
    hi: FloatArray
    shape: ShapeFn
    volume_mm3: float


@dataclass(frozen=True)
class LesionSpec:
    """A lesion to plant: kind, compartment, region, parts and whether it may touch bone."""

    kind: str
    compartment: str
    region: str
    parts: tuple[Part, ...]
    touches_bone: bool = False


def _vec(*values: float) -> FloatArray:
    return np.array(values, dtype=np.float64)


def ellipsoid(
    centre: FloatArray,
    axes: FloatArray,
    hu: float,
    *,
    core_hu: float | None = None,
    rim_mm: float = 0.0,
) -> Part:
    """An axis-aligned ellipsoid, optionally a dense rim around a fainter core."""
    c, r = np.asarray(centre, float), np.asarray(axes, float)

    def shape(x: FloatArray, y: FloatArray, z: FloatArray) -> tuple[NDArray[np.bool_], FloatArray]:
        q = ((x - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + ((z - c[2]) / r[2]) ** 2
        inside = q <= 1.0
        values = np.full(inside.shape, hu)
        if core_hu is not None:
            ri = r - rim_mm
            qi = ((x - c[0]) / ri[0]) ** 2 + ((y - c[1]) / ri[1]) ** 2 + ((z - c[2]) / ri[2]) ** 2
            values = np.where(qi <= 1.0, core_hu, hu)
        return inside, values

    return Part(c - r, c + r, shape, 4.0 / 3.0 * np.pi * float(np.prod(r)))


def ring_sphere(centre: FloatArray, radius: float, lucent_radius: float, hu: float) -> Part:
    """A spherical shell (the lucent centre is not part of the lesion)."""
    c = np.asarray(centre, float)

    def shape(x: FloatArray, y: FloatArray, z: FloatArray) -> tuple[NDArray[np.bool_], FloatArray]:
        d = np.sqrt((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2)
        inside = (d <= radius) & (d > lucent_radius)
        return inside, np.full(inside.shape, hu)

    volume = 4.0 / 3.0 * np.pi * (radius**3 - lucent_radius**3)
    return Part(c - radius, c + radius, shape, volume)


def fluid_level_sphere(
    centre: FloatArray, radius: float, top_hu: float, dependent_hu: float
) -> Part:
    """A sphere whose dependent (posterior, +y) half is denser: a fluid-calcium level."""
    c = np.asarray(centre, float)

    def shape(x: FloatArray, y: FloatArray, z: FloatArray) -> tuple[NDArray[np.bool_], FloatArray]:
        d2 = (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2
        inside = d2 <= radius**2
        values = np.where(np.broadcast_to(y >= c[1], inside.shape), dependent_hu, top_hu)
        return inside, values

    return Part(c - radius, c + radius, shape, 4.0 / 3.0 * np.pi * radius**3)


def tube(path: FloatArray, radius: float, hu: float) -> Part:
    """Voxels within ``radius`` of a densely sampled polyline ``path`` (n, 3): a capsule."""
    from scipy.spatial import cKDTree

    tree = cKDTree(path)
    length = float(np.sum(np.linalg.norm(np.diff(path, axis=0), axis=1)))

    def shape(x: FloatArray, y: FloatArray, z: FloatArray) -> tuple[NDArray[np.bool_], FloatArray]:
        xx, yy, zz = np.broadcast_arrays(x, y, z)
        points = np.stack([xx.ravel(), yy.ravel(), zz.ravel()], axis=1)
        dist, _ = tree.query(points, distance_upper_bound=radius + 1e-9)
        inside = np.isfinite(dist).reshape(xx.shape)
        return inside, np.full(inside.shape, hu)

    volume = np.pi * radius**2 * length + 4.0 / 3.0 * np.pi * radius**3
    return Part(path.min(axis=0) - radius, path.max(axis=0) + radius, shape, volume)


def elliptic_shell_sector(
    cy: float,
    outer: tuple[float, float],
    inner: tuple[float, float],
    t_range_deg: tuple[float, float],
    z_range: tuple[float, float],
    hu: float,
) -> Part:
    """A sheet between two coaxial ellipses over a parametric-angle sector and z range.

    The parametric angle of a point is ``atan2((y - cy) / b_o, x / a_o)`` on the
    outer ellipse. The continuous volume is computed by quadrature.
    """
    ao, bo = outer
    ai, bi = inner
    t0, t1 = np.deg2rad(t_range_deg[0]), np.deg2rad(t_range_deg[1])
    z0, z1 = z_range

    def shape(x: FloatArray, y: FloatArray, z: FloatArray) -> tuple[NDArray[np.bool_], FloatArray]:
        qo = (x / ao) ** 2 + ((y - cy) / bo) ** 2
        qi = (x / ai) ** 2 + ((y - cy) / bi) ** 2
        t = np.arctan2((y - cy) / bo, x / ao)
        inside = (qo <= 1.0) & (qi > 1.0) & (t >= t0) & (t <= t1) & (z >= z0) & (z <= z1)
        return inside, np.full(inside.shape, hu)

    ts = np.linspace(t0, t1, 64)
    xs, ys = ao * np.cos(ts), cy + bo * np.sin(ts)
    lo = _vec(xs.min() - (ao - ai) - 1, ys.min() - (bo - bi) - 1, z0)
    hi = _vec(xs.max() + 1, ys.max() + 1, z1)
    part = Part(lo, hi, shape, 0.0)
    return Part(lo, hi, shape, quadrature_volume(part))


def annulus_sector(
    centre: tuple[float, float],
    radii: tuple[float, float],
    angle_deg: tuple[float, float],
    z_range: tuple[float, float],
    hu: float,
) -> Part:
    """An arc of a cylindrical wall: ``r0 <= r <= r1``, angle and z within ranges."""
    cx, cy = centre
    r0, r1 = radii
    a0, a1 = np.deg2rad(angle_deg[0]), np.deg2rad(angle_deg[1])
    z0, z1 = z_range

    def shape(x: FloatArray, y: FloatArray, z: FloatArray) -> tuple[NDArray[np.bool_], FloatArray]:
        r = np.hypot(x - cx, y - cy)
        a = np.arctan2(y - cy, x - cx)
        inside = (r >= r0) & (r <= r1) & (a >= a0) & (a <= a1) & (z >= z0) & (z <= z1)
        return inside, np.full(inside.shape, hu)

    volume = 0.5 * (r1**2 - r0**2) * (a1 - a0) * (z1 - z0)
    return Part(_vec(cx - r1, cy - r1, z0), _vec(cx + r1, cy + r1, z1), shape, volume)


def quadrature_volume(part: Part, *, step_mm: float = 0.1, exclude: ShapeFn | None = None) -> float:
    """Continuous volume of a part by midpoint quadrature on a ``step_mm`` lattice, in mm^3."""
    total = 0.0
    axes = [
        np.arange(lo + step_mm / 2, hi, step_mm) for lo, hi in zip(part.lo, part.hi, strict=True)
    ]
    for zs in np.array_split(axes[2], max(1, axes[2].size // 32)):
        x, y, z = axes[0][:, None, None], axes[1][None, :, None], zs[None, None, :]
        inside, _ = part.shape(x, y, z)
        if exclude is not None:
            inside = inside & ~exclude(x, y, z)[0]
        total += float(np.count_nonzero(inside))
    return total * step_mm**3


def _femur_shaft(
    x: FloatArray, y: FloatArray, z: FloatArray
) -> tuple[NDArray[np.bool_], FloatArray]:
    an = ANATOMY
    inside = (np.hypot(x + an.femur_x, y - an.femur_y) <= an.femur_radius) & (z <= an.femur_head_z)
    return inside, np.zeros(inside.shape)


def _serpiginous_path() -> FloatArray:
    an = ANATOMY
    a = an.body_axes[0] - an.skin_mm - an.fat_mm / 2.0
    b = an.body_axes[1] - an.skin_mm - an.fat_mm / 2.0
    z = np.linspace(20.0, 80.0, 3001)
    t = np.deg2rad(-110.0) + 0.15 * np.sin(2.0 * np.pi * (z - 20.0) / 25.0)
    return np.stack([a * np.cos(t), an.body_centre_y + b * np.sin(t), z], axis=1)


def lesion_specs() -> list[LesionSpec]:
    """Return every lesion of the phantom, in label order."""
    an = ANATOMY
    specs: list[LesionSpec] = []

    specs.append(
        LesionSpec(
            "zonal_rim",
            "muscle",
            "right flank",
            (ellipsoid(_vec(-45, -25, 50), _vec(9, 8, 12), 800.0, core_hu=170.0, rim_mm=2.5),),
        )
    )

    # Juxtacortical zonal ossification touching the anterolateral right femoral cortex.
    direction = _vec(-0.6, -0.8, 0.0)
    centre = _vec(-an.femur_x, an.femur_y, -60.0) + (an.femur_radius + 5.0 - 1.5) * direction
    juxta = ellipsoid(centre, _vec(5, 5, 10), 750.0, core_hu=160.0, rim_mm=2.0)
    juxta_volume = quadrature_volume(juxta, exclude=_femur_shaft)
    specs.append(
        LesionSpec(
            "zonal_rim",
            "juxtacortical",
            "right thigh",
            (Part(juxta.lo, juxta.hi, juxta.shape, juxta_volume),),
            touches_bone=True,
        )
    )

    head = _vec(-an.femur_x, an.femur_y, an.femur_head_z)
    lobules: list[Part] = []
    for radius, direction_xyz, hu in (
        (4.5, (0.0, -0.55, 0.83), None),
        (3.5, (-0.5, -0.3, 0.8), 450.0),
        (3.0, (0.45, -0.25, 0.85), 300.0),
        (3.5, (0.0, -0.95, 0.3), 550.0),
        (3.0, (-0.55, -0.8, 0.25), 250.0),
    ):
        d = _vec(*direction_xyz)
        c = head + (an.femur_head_radius + 3.5 + radius) * d / np.linalg.norm(d)
        if hu is None:
            lobules.append(fluid_level_sphere(c, radius, 220.0, 600.0))
        else:
            lobules.append(ellipsoid(c, _vec(radius, radius, radius), hu))
    specs.append(
        LesionSpec("lobulated_periarticular_cluster", "periarticular", "right hip", tuple(lobules))
    )

    grains: list[Part] = []
    z_offsets = (0.0, 6.0, -5.0, 3.0, -7.0, 8.0, -2.0, 5.0, -6.0)
    for n, dz in enumerate(z_offsets):
        gx, gy = 30.0 + 5.0 * (n % 3 - 1), -30.0 + 5.0 * (n // 3 - 1)
        grains.append(ellipsoid(_vec(gx, gy, 55.0 + dz), _vec(1.2, 1.2, 4.5), 500.0))
    specs.append(LesionSpec("rice_grain_cluster", "muscle", "left flank", tuple(grains)))

    specs.append(
        LesionSpec(
            "serpiginous_linear",
            "subcutaneous",
            "right anterior abdominal wall",
            (tube(_serpiginous_path(), 1.25, 380.0),),
        )
    )
    specs.append(
        LesionSpec(
            "phlebolith_ring",
            "pelvic_fat",
            "pelvis",
            (ring_sphere(_vec(-6, -22, -40), 3.0, 1.5, 450.0),),
        )
    )
    a, b = an.body_axes[0] - an.skin_mm, an.body_axes[1] - an.skin_mm
    specs.append(
        LesionSpec(
            "subcutaneous_plaque",
            "subcutaneous",
            "left lateral abdominal wall",
            (
                elliptic_shell_sector(
                    an.body_centre_y,
                    (a - 1.5, b - 1.5),
                    (a - 3.5, b - 3.5),
                    (-35.0, -10.0),
                    (60.0, 80.0),
                    450.0,
                ),
            ),
        )
    )
    for centre_xyz, hu, region in (
        ((0.0, -45.0, 80.0), 400.0, "anterior abdominal wall muscle"),
        ((-15.0, -35.0, -5.0), 350.0, "right lower abdominal muscle"),
        ((45.0, -20.0, -30.0), 500.0, "left hip muscle"),
    ):
        specs.append(
            LesionSpec(
                "punctate_dots",
                "muscle",
                region,
                (ellipsoid(_vec(*centre_xyz), _vec(1.5, 1.5, 1.5), hu),),
            )
        )
    r_in = an.aorta_lumen_radius - 1.0
    r_out = an.aorta_outer_radius - 0.5
    plaques = tuple(
        annulus_sector(an.aorta_centre, (r_in, r_out), angles, z_range, 600.0)
        for angles, z_range in (
            ((-150.0, -110.0), (4.0, 14.0)),
            ((-80.0, -40.0), (24.0, 36.0)),
            ((-125.0, -75.0), (44.0, 52.0)),
        )
    )
    specs.append(LesionSpec("vessel_wall_plaques", "vessel_wall", "abdominal aorta", plaques))
    return specs
