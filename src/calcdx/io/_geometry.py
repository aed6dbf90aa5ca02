"""Slice-stack geometry: order slices along their normal and build the LPS affine.

Pure functions on numbers read from DICOM headers; no file access. References:
DICOM PS3.3 C.7.6.2.1.1 (Image Position and Image Orientation) and C.7.6.3.1.2
(Pixel Spacing, given as row spacing then column spacing).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from calcdx.errors import StudyError
from calcdx.io._resample import (
    RESAMPLED_NOTE,
    TILT_TOLERANCE_PX,
    StackResampling,
    one_warning,
    plan_resampling,
    tilt_reason,
)

__all__ = [
    "GAP_FACTOR",
    "JITTER_TOLERANCE",
    "LOCAL_STEPS",
    "StackGeometry",
    "orientation_label",
    "slice_normal",
    "stack_geometry",
]

#: A step longer than this multiple of the local step (the median of the steps on
#: either side, the larger side) and of the two slices' thickness means missing slices.
GAP_FACTOR = 1.5
#: Steps on each side of a step that make its local step.
LOCAL_STEPS = 3
#: Relative spread of slice steps accepted (with a warning above float noise).
JITTER_TOLERANCE = 0.01


@dataclass(frozen=True)
class StackGeometry:
    """Order and geometry of a stack of parallel slices.

    Attributes
    ----------
    order : (n,) ndarray of intp
        Indices of the input slices sorted along the slice normal.
    affine_lps : (4, 4) ndarray of float64
        Voxel ``(column, row, slice)`` to DICOM LPS patient coordinates in mm.
    step_mm : float
        Distance between consecutive slices along the normal, in mm.
    warnings : list of str
        Geometry problems tolerated.
    resampling : StackResampling or None
        Set when the slices must be resampled onto `affine_lps`'s grid (gantry
        tilt, uneven spacing); see :func:`calcdx.io._resample.resample_stack`.
    """

    order: NDArray[np.intp]
    affine_lps: NDArray[np.float64]
    step_mm: float
    warnings: list[str] = field(default_factory=list)
    resampling: StackResampling | None = None


def _unit_cosines(orientation: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    iop = np.asarray(orientation, dtype=np.float64).ravel()
    if iop.size != 6 or not np.all(np.isfinite(iop)):
        raise StudyError(
            f"ImageOrientationPatient {iop.tolist()} is not 6 finite numbers; the series' "
            "geometry is corrupt, re-export it from the scanner or PACS"
        )
    row, col = iop[:3], iop[3:]
    for name, vector in (("row", row), ("column", col)):
        norm = float(np.linalg.norm(vector))
        if not 0.9 < norm < 1.1:
            raise StudyError(
                f"ImageOrientationPatient {name} cosine has length {norm:.3g}, not 1; the "
                "series' geometry is corrupt, re-export it"
            )
    row, col = row / np.linalg.norm(row), col / np.linalg.norm(col)
    if abs(float(row @ col)) > 0.01:
        raise StudyError(
            "ImageOrientationPatient row and column cosines are not perpendicular; the "
            "series' geometry is corrupt, re-export it"
        )
    return row, col


def slice_normal(orientation: ArrayLike) -> NDArray[np.float64]:
    """Return the unit slice normal, ``row cosine x column cosine``, shape ``(3,)``.

    Parameters
    ----------
    orientation : (6,) array_like
        ImageOrientationPatient: row direction cosine then column direction cosine.

    Raises
    ------
    StudyError
        If the cosines are not finite, not unit length or not perpendicular.
    """
    row, col = _unit_cosines(orientation)
    normal = np.cross(row, col)
    return np.asarray(normal / np.linalg.norm(normal), dtype=np.float64)


def orientation_label(orientation: ArrayLike) -> str:
    """Name the slice plane: ``"axial"``, ``"coronal"``, ``"sagittal"`` or ``"oblique"``.

    A plane is named after the patient axis its normal is closest to, if within
    about 25 degrees; otherwise it is oblique.
    """
    try:
        normal = slice_normal(orientation)
    except StudyError:
        return "unknown"
    axis = int(np.argmax(np.abs(normal)))
    if abs(normal[axis]) < 0.9:
        return "oblique"
    return ("sagittal", "coronal", "axial")[axis]


def _pixel_spacing(pixel_spacing: ArrayLike) -> NDArray[np.float64]:
    spacing = np.asarray(pixel_spacing, dtype=np.float64).ravel()
    if spacing.size != 2 or not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        raise StudyError(
            f"PixelSpacing {spacing.tolist()} is not two positive numbers; the series' "
            "geometry is corrupt, re-export it from the scanner or PACS"
        )
    return spacing


def _local_step(steps: NDArray[np.float64], i: int) -> float:
    """Return the usual step around step ``i``.

    That is the larger of the medians of the :data:`LOCAL_STEPS` steps before and
    after it (``steps[i]`` itself when it has no neighbour). The larger side is
    taken so that the first step of a run of wider slices (a head series acquired
    as 4 mm then 7 mm slices) is read as the start of that run, not as a gap.
    """
    before = steps[max(0, i - LOCAL_STEPS) : i]
    after = steps[i + 1 : i + 1 + LOCAL_STEPS]
    sides = [float(np.median(side)) for side in (before, after) if side.size]
    return max(sides) if sides else float(steps[i])


def _missing_slices(
    steps: NDArray[np.float64], thickness: NDArray[np.float64] | None
) -> tuple[int, float, float] | None:
    """The first step that skips slices, as ``(index, local step, thickness)``, or None.

    A step skips slices when it is longer than :data:`GAP_FACTOR` times both its
    local step (:func:`_local_step`) and the thicker of the two slices it joins:
    then it is neither how the neighbouring slices were taken nor covered by the
    slices themselves. Steps that change from one run to the next (uneven spacing
    as acquired) are not gaps; they are resampled.
    """
    for i in range(steps.size):
        local = _local_step(steps, i)
        thick = 0.0
        if thickness is not None:
            pair = thickness[i : i + 2]
            thick = float(np.max(pair)) if np.all(np.isfinite(pair)) else 0.0
        if steps[i] > GAP_FACTOR * max(local, thick):
            return i, local, thick
    return None


def stack_geometry(
    positions: ArrayLike,
    orientation: ArrayLike,
    pixel_spacing: ArrayLike,
    *,
    single_slice_step_mm: float | None = None,
    in_plane_shape: tuple[int, int] | None = None,
    thickness_mm: ArrayLike | None = None,
) -> StackGeometry:
    """Sort parallel slices along their normal and build the voxel-to-LPS affine.

    Parameters
    ----------
    positions : (n, 3) array_like
        ImagePositionPatient of each slice (centre of its first pixel), LPS mm.
    orientation : (6,) array_like
        ImageOrientationPatient shared by all slices.
    pixel_spacing : (2,) array_like
        PixelSpacing: distance between rows, then between columns, in mm.
    single_slice_step_mm : float, optional
        Slice step to use when there is one slice (SpacingBetweenSlices or
        SliceThickness); 1 mm with a warning if not given.
    in_plane_shape : tuple of int, optional
        ``(columns, rows)`` of the slices. Given, a tilted or unevenly spaced
        stack is planned for resampling; without it, such a stack is refused.
    thickness_mm : (n,) array_like, optional
        SliceThickness of each slice (NaN where unknown), in input order: a
        step no longer than the slices are thick is never a gap.

    Returns
    -------
    StackGeometry
        Slice order (by projection of the positions on the normal, never by file
        name or InstanceNumber) and the affine whose columns are the row cosine
        times the column spacing, the column cosine times the row spacing, the
        step between slices along the normal and the first voxel's position. For
        a tilted or unevenly spaced stack, the affine is the orthogonal, evenly
        spaced output grid of ``resampling`` (the step: the median step).

    Raises
    ------
    StudyError
        On non-finite positions, duplicate positions, missing slices (a step
        over :data:`GAP_FACTOR` times its local step and the slices'
        thickness, see :func:`_missing_slices`), or corrupt orientation or
        spacing; on uneven spacing (spread over :data:`JITTER_TOLERANCE`) and
        gantry tilt when `in_plane_shape` is not given.
    """
    row, col = _unit_cosines(orientation)
    normal = slice_normal(orientation)
    spacing = _pixel_spacing(pixel_spacing)
    points = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    if not np.all(np.isfinite(points)):
        raise StudyError(
            "ImagePositionPatient is not finite in some slices; the series' geometry is "
            "corrupt, re-export it"
        )
    warnings: list[str] = []
    plan: StackResampling | None = None
    depth = points @ normal
    order = np.argsort(depth, kind="stable")
    origin = points[order[0]]
    n = points.shape[0]
    if n == 1:
        step = single_slice_step_mm
        if step is None or not np.isfinite(step) or step <= 0:
            step = 1.0
            warnings.append(
                "single slice without SliceThickness or SpacingBetweenSlices: assumed 1 mm thick"
            )
        stack = normal * float(step)
    else:
        sorted_depth = depth[order]
        steps = np.diff(sorted_depth)
        if np.any(steps < 1e-3):
            i = int(np.argmax(steps < 1e-3))
            raise StudyError(
                f"two slices share the position {sorted_depth[i]:.2f} mm along the slice "
                "normal: the series holds several stacks (phases, repeats); pick one series "
                "with --series or export the stacks separately"
            )
        median = float(np.median(steps))
        thick_sorted = None
        if thickness_mm is not None:
            thick_sorted = np.asarray(thickness_mm, dtype=np.float64).ravel()[order]
        gap = _missing_slices(steps, thick_sorted)
        if gap is not None:
            i, local, thick = gap
            covered = f" and {thick:.2f} mm thick" if thick > 0 else ""
            missing = max(1, round(steps[i] / local) - 1)
            raise StudyError(
                f"slices are missing: a {steps[i]:.2f} mm gap between sorted slices {i + 1} "
                f"and {i + 2} of {n} (at {sorted_depth[i]:.2f} and {sorted_depth[i + 1]:.2f} mm "
                f"along the slice normal) where the neighbouring slices are {local:.2f} mm "
                f"apart{covered} (about {missing} slice(s) missing); re-export the complete "
                "series"
            )
        spread = float(np.max(np.abs(steps - median)))
        uneven = spread > JITTER_TOLERANCE * median
        step = float((sorted_depth[-1] - sorted_depth[0]) / (n - 1))
        if spread > 1e-3 and not uneven:
            warnings.append(
                f"slice spacing jitters by up to {spread:.4f} mm ({100 * spread / median:.2f} %); "
                f"a constant step of {step:.4f} mm is used"
            )
        span = points[order[-1]] - points[order[0]]
        along = float(span @ normal)
        drift = float(np.linalg.norm(span - along * normal))
        # Each slice's sideways offset from the first, to catch irregular stacks too.
        offsets = points[order] - points[order[0]]
        lateral = offsets - np.outer(offsets @ normal, normal)
        worst = float(np.max(np.linalg.norm(lateral, axis=1)))
        tilted = max(drift, worst) > TILT_TOLERANCE_PX * float(spacing.min())
        angle = float(np.degrees(np.arctan2(drift, along)))
        if (uneven or tilted) and in_plane_shape is None:
            if uneven:
                raise StudyError(
                    f"uneven slice spacing: steps range from {steps.min():.3f} to "
                    f"{steps.max():.3f} mm; resample the series to constant spacing or re-export it"
                )
            raise StudyError(
                f"gantry tilt or sheared stack: the slices shift sideways by {worst:.2f} mm "
                f"({angle:.1f} degrees) instead of stacking along their normal; reconstruct it "
                "without tilt or resample it to an orthogonal grid first"
            )
        if uneven or tilted:
            assert in_plane_shape is not None
            reasons = []
            if tilted:
                reasons.append(tilt_reason(angle, worst))
            if uneven:
                step = median
                widest = int(np.argmax(steps))
                reasons.append(
                    f"uneven slice spacing (steps {steps.min():.3f} to {steps.max():.3f} mm), "
                    f"the largest gap {steps[widest]:.3f} mm between sorted slices {widest + 1} "
                    f"and {widest + 2} of {n}: resampled to a constant {step:.3f} mm step "
                    "(the median step) by linear interpolation between neighbouring slices"
                )
            reasons.append(RESAMPLED_NOTE)
            # sideways offsets in pixels along the array axes: axis 0 follows the row
            # cosine (column spacing), axis 1 the column cosine (row spacing)
            lateral_px = np.column_stack([lateral @ row / spacing[1], lateral @ col / spacing[0]])
            plan = plan_resampling(
                lateral_px, sorted_depth - sorted_depth[0], in_plane_shape, step, tuple(reasons)
            )
            warnings.append(one_warning(tuple(reasons)))
            stack = normal * step  # the output grid: orthogonal, widened in-plane
            origin = (origin + plan.origin_shift_px[0] * row * spacing[1]
                      + plan.origin_shift_px[1] * col * spacing[0])
        else:
            stack = span / (n - 1)
    affine = np.eye(4)
    affine[:3, 0] = row * spacing[1]
    affine[:3, 1] = col * spacing[0]
    affine[:3, 2] = stack
    affine[:3, 3] = origin
    return StackGeometry(order=order, affine_lps=affine, step_mm=float(step), warnings=warnings,
                         resampling=plan)
