"""Randomised phantom geometry: lesion placement, size and orientation; grid and pose.

The fixed layout of :func:`calcdx.phantom._lesions.lesion_specs` is what the
phantom's own tests were written against. A *layout seed* moves, scales and
turns every lesion within what its anatomy allows, and an *acquisition seed*
draws the voxel spacing and an oblique patient pose, so that a rule tuned on
the fixed layout is checked on geometry it has not seen.

What each kind may do (all in grid mm, see :mod:`calcdx.phantom._grid`):

* free-standing lesions in muscle or pelvic fat (zonal rim in muscle, rice
  grains, punctate dots, phlebolith): shifted up to ``shift_mm`` on each axis,
  scaled by ``scale`` (volume by its cube) and, except spheres, turned about a
  random axis by any angle;
* the serpiginous subcutaneous tube and the subcutaneous plaque: shifted along
  the body axis only (they must stay in the subcutaneous layer);
* the periarticular cluster: each lobule carried round the femoral head's
  vertical axis by one random angle (the lobules keep their distance from the
  head; the fluid-calcium level stays dependent);
* the juxtacortical rim: carried round the femoral shaft's axis and along it
  (its volume, outside the shaft, is unchanged);
* aortic wall plaques: turned round the aortic axis and shifted along it.

A lesion that would leave the field of view or overlap another is not planted
and has no truth entry (as at a spacing too coarse for it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from calcdx.phantom._anatomy import ANATOMY
from calcdx.phantom._lesions import FloatArray, LesionSpec, Part, ShapeFn

__all__ = ["Acquisition", "LayoutRanges", "random_acquisition", "randomise_layout"]

#: Field of view the anatomy needs, mm (see :mod:`calcdx.phantom._anatomy`).
FIELD_OF_VIEW_MM = (150.0, 150.0, 190.0)


@dataclass(frozen=True)
class LayoutRanges:
    """How far a layout seed may move lesions.

    Attributes
    ----------
    shift_mm : float
        Largest shift along each axis of a free-standing lesion, mm.
    scale : tuple of float
        Range of the linear scale factor of a free-standing lesion.
    axial_shift_mm : float
        Largest shift along the body axis of lesions bound to a layer or vessel, mm.
    turn_deg : float
        Largest turn of a lesion bound to a joint, bone or vessel about that
        structure's axis, degrees.
    """

    shift_mm: float = 5.0
    scale: tuple[float, float] = (0.8, 1.25)
    axial_shift_mm: float = 8.0
    turn_deg: float = 40.0


def _rotation(axis: FloatArray, angle_rad: float) -> FloatArray:
    """Rotation matrix about a unit axis (Rodrigues), shape (3, 3)."""
    a = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    k = np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])
    return np.asarray(np.eye(3) + np.sin(angle_rad) * k + (1.0 - np.cos(angle_rad)) * (k @ k),
                      dtype=np.float64)


def _random_rotation(rng: np.random.Generator, max_deg: float = 180.0) -> FloatArray:
    axis = rng.normal(size=3)
    return _rotation(axis, np.deg2rad(rng.uniform(0.0, max_deg)))


def posed(part: Part, centre: FloatArray, rotation: FloatArray, scale: float,
          shift: FloatArray) -> Part:
    """A part scaled and turned about `centre`, then shifted: ``p' = c + s R (p - c) + t``.

    Parameters
    ----------
    part : Part
    centre : (3,) ndarray
        Centre of the scaling and rotation, grid mm.
    rotation : (3, 3) ndarray
        Proper rotation.
    scale : float
        Linear scale factor (> 0).
    shift : (3,) ndarray
        Translation, grid mm.

    Returns
    -------
    Part
        Same HU pattern; bounding box of the moved corners; volume times ``scale**3``.
    """
    c = np.asarray(centre, dtype=np.float64)
    r = np.asarray(rotation, dtype=np.float64)
    t = np.asarray(shift, dtype=np.float64)
    inner: ShapeFn = part.shape

    def shape(x: FloatArray, y: FloatArray, z: FloatArray
              ) -> tuple[NDArray[np.bool_], FloatArray]:
        xx, yy, zz = np.broadcast_arrays(x, y, z)
        p = np.stack([xx, yy, zz], axis=-1) - c - t
        u = c + (p @ r) / scale  # R^T (p' - c - t) / s, row vectors
        return inner(u[..., 0], u[..., 1], u[..., 2])

    corners = np.array([[part.lo[0] if i & 1 else part.hi[0],
                         part.lo[1] if i & 2 else part.hi[1],
                         part.lo[2] if i & 4 else part.hi[2]] for i in range(8)])
    moved = c + scale * (corners - c) @ r.T + t
    return Part(moved.min(axis=0), moved.max(axis=0), shape, part.volume_mm3 * scale**3)


def _centre(spec: LesionSpec) -> FloatArray:
    lo = np.min([p.lo for p in spec.parts], axis=0)
    hi = np.max([p.hi for p in spec.parts], axis=0)
    return np.asarray((lo + hi) / 2.0, dtype=np.float64)


def _about_vertical(spec: LesionSpec, axis_xy: tuple[float, float], angle_rad: float,
                    dz: float, *, turn_parts: bool) -> LesionSpec:
    """Carry every part round a vertical axis through ``axis_xy`` and along it by `dz`."""
    axis_point = np.array([axis_xy[0], axis_xy[1], 0.0])
    rot = _rotation(np.array([0.0, 0.0, 1.0]), angle_rad)
    parts = []
    for part in spec.parts:
        if turn_parts:
            parts.append(posed(part, axis_point, rot, 1.0, np.array([0.0, 0.0, dz])))
        else:
            c = (part.lo + part.hi) / 2.0
            target = axis_point + rot @ (c - axis_point) + np.array([0.0, 0.0, dz])
            parts.append(posed(part, c, np.eye(3), 1.0, target - c))
    return replace(spec, parts=tuple(parts))


def randomise_layout(specs: list[LesionSpec], rng: np.random.Generator,
                     ranges: LayoutRanges | None = None) -> list[LesionSpec]:
    """Move, scale and turn each lesion as its kind allows (see the module docstring).

    Parameters
    ----------
    specs : list of LesionSpec
        The fixed layout.
    rng : numpy.random.Generator
    ranges : LayoutRanges, optional

    Returns
    -------
    list of LesionSpec
        Same kinds, compartments and regions, in the same order.
    """
    g = ranges or LayoutRanges()
    an = ANATOMY
    out: list[LesionSpec] = []
    for spec in specs:
        turn = np.deg2rad(rng.uniform(-g.turn_deg, g.turn_deg))
        dz = rng.uniform(-g.axial_shift_mm, g.axial_shift_mm)
        if spec.kind == "vessel_wall_plaques":
            out.append(_about_vertical(spec, an.aorta_centre, turn, dz, turn_parts=True))
        elif spec.kind == "lobulated_periarticular_cluster":
            out.append(_about_vertical(spec, (-an.femur_x, an.femur_y), turn, 0.0,
                                       turn_parts=False))
        elif spec.touches_bone:
            out.append(_about_vertical(spec, (-an.femur_x, an.femur_y), turn, dz,
                                       turn_parts=True))
        elif spec.compartment == "subcutaneous":
            shift = np.array([0.0, 0.0, dz])
            out.append(replace(spec, parts=tuple(
                posed(p, _centre(spec), np.eye(3), 1.0, shift) for p in spec.parts)))
        else:
            centre = _centre(spec)
            rotation = np.eye(3) if spec.kind == "phlebolith_ring" else _random_rotation(rng)
            scale = float(rng.uniform(*g.scale))
            shift = rng.uniform(-g.shift_mm, g.shift_mm, size=3)
            out.append(replace(spec, parts=tuple(
                posed(p, centre, rotation, scale, shift) for p in spec.parts)))
    return out


@dataclass(frozen=True)
class Acquisition:
    """A randomly drawn grid and patient pose.

    Attributes
    ----------
    shape : tuple of 3 int
        Grid shape covering :data:`FIELD_OF_VIEW_MM`.
    spacing_mm : tuple of 3 float
        In-plane (axes 0, 1 equal) and slice spacing, mm.
    rotation : (3, 3) ndarray
        Oblique pose: the grid's world axes are turned by this rotation.
    tilt_deg : float
        Angle of that rotation, degrees.
    """

    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    rotation: FloatArray
    tilt_deg: float


def random_acquisition(seed: int, *, in_plane_mm: tuple[float, float] = (0.5, 1.0),
                       slice_mm: tuple[float, float] = (0.5, 3.0), max_tilt_deg: float = 25.0,
                       max_voxels: int = 12_000_000) -> Acquisition:
    """Draw a voxel spacing and an oblique pose.

    Parameters
    ----------
    seed : int
    in_plane_mm : tuple of float
        Range of the in-plane pixel spacing, mm.
    slice_mm : tuple of float
        Range of the slice spacing, mm.
    max_tilt_deg : float
        Largest angle of the pose rotation (about a random axis), degrees.
    max_voxels : int
        Draws whose grid would hold more voxels are redrawn (memory of tests).

    Returns
    -------
    Acquisition
    """
    rng = np.random.default_rng(seed)
    while True:
        s_xy = float(rng.uniform(*in_plane_mm))
        s_z = float(rng.uniform(*slice_mm))
        spacing = (s_xy, s_xy, s_z)
        shape = tuple(int(np.ceil(f / s)) + 1 for f, s in zip(FIELD_OF_VIEW_MM, spacing,
                                                              strict=True))
        if int(np.prod(shape)) <= max_voxels:
            break
    tilt = float(rng.uniform(0.0, max_tilt_deg))
    rotation = _rotation(rng.normal(size=3), np.deg2rad(tilt))
    return Acquisition((shape[0], shape[1], shape[2]), spacing, rotation, tilt)
