"""Bringing a slice stack onto an orthogonal, evenly spaced voxel grid.

Two acquisitions give slices that are parallel but do not stack on a regular
grid along their normal:

* gantry tilt: the image planes are tilted against the table, so each slice
  lies sideways of the one before it (the step between slice positions is not
  along the slice normal);
* uneven spacing: the steps along the normal differ by more than float noise.

:func:`plan_resampling` says where each input slice lands on a regular grid
(same rows and columns, in-plane field of view widened to keep every input
pixel, a constant step along the normal); :func:`resample_stack` fills that grid
by linear interpolation: in-plane for the sideways shift, between the two
nearest slices along the normal. Linear interpolation keeps a linear HU field
exact, smooths small dense calcifications a little (peaks fall, volumes at a
fixed threshold shift slightly), and the output no longer lies on the source
images, so DICOM objects that reference source frames (SEG, SR) cannot be made
from it. Missing slices are not interpolated: the reader refuses them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

__all__ = [
    "AIR_HU", "StackResampling", "one_warning", "plan_resampling", "resample_stack",
    "tilt_reason", "unshear",
]

#: Value of output voxels that no input slice covers.
AIR_HU = -1024.0
#: Sideways drift of the whole stack, as a fraction of a pixel, accepted as no tilt.
TILT_TOLERANCE_PX = 0.25
#: The last warning of every resampling.
RESAMPLED_NOTE = (
    "resampled HU are interpolated (small dense peaks fall slightly), and DICOM SEG and SR are "
    "not written because the grid no longer lies on the source images"
)


def tilt_reason(angle_deg: float, drift_mm: float) -> str:
    """The warning for a stack resampled for gantry tilt."""
    return (
        f"gantry tilt of {angle_deg:.1f} degrees (the slices shift sideways by up to "
        f"{drift_mm:.2f} mm): each slice was shifted in-plane onto an orthogonal grid by "
        "linear interpolation"
    )


def one_warning(reasons: tuple[str, ...]) -> str:
    """The study's single warning line for a resampling: every correction, then the caveat."""
    return "; ".join(reasons)


@dataclass(frozen=True)
class StackResampling:
    """Where the sorted input slices land on the output grid.

    Attributes
    ----------
    offsets_px : (n_in, 2) ndarray of float64
        For input slice ``k``, the input pixel index (first two array axes) at
        output index ``(0, 0)``: ``input = output + offsets_px[k]``.
    shape : tuple of int
        In-plane shape ``(I', J')`` of the output.
    depth_mm : (n_in,) ndarray of float64
        Input slice positions along the normal, from the first, ascending.
    step_mm : float
        Output slice step along the normal.
    n_slices : int
        Output slices; slice ``k`` lies at depth ``k * step_mm``.
    origin_shift_px : tuple of float
        Output index ``(0, 0)`` in the first input slice's pixel indices (the
        widening of the field of view, <= 0).
    reasons : tuple of str
        One warning per correction made, for the study's warnings.
    """

    offsets_px: NDArray[np.float64]
    shape: tuple[int, int]
    depth_mm: NDArray[np.float64]
    step_mm: float
    n_slices: int
    origin_shift_px: tuple[float, float]
    reasons: tuple[str, ...]


def plan_resampling(
    lateral_px: NDArray[np.float64],
    depth_mm: NDArray[np.float64],
    in_plane_shape: tuple[int, int],
    step_mm: float,
    reasons: tuple[str, ...],
) -> StackResampling:
    """Plan the output grid for sorted slices.

    Parameters
    ----------
    lateral_px : (n, 2) ndarray
        Sideways offset of each slice's first pixel from the first slice's, in
        pixels along the first two array axes (zeros when there is no tilt).
    depth_mm : (n,) ndarray
        Slice positions along the normal, ascending, first at 0.
    in_plane_shape : tuple of int
        ``(I, J)`` of the input slices.
    step_mm : float
        Output step along the normal (> 0).
    reasons : tuple of str
        The corrections, for the warnings.

    Returns
    -------
    StackResampling
        The output covers every input pixel and the whole depth range.
    """
    lateral = np.asarray(lateral_px, dtype=np.float64).reshape(-1, 2)
    depth = np.asarray(depth_mm, dtype=np.float64)
    low = np.floor(lateral.min(axis=0) + 1e-6)
    high = np.ceil(lateral.max(axis=0) - 1e-6)
    shape = (int(in_plane_shape[0] + high[0] - low[0]), int(in_plane_shape[1] + high[1] - low[1]))
    n_slices = int(np.floor(depth[-1] / step_mm + 1e-6)) + 1
    return StackResampling(
        offsets_px=low[None, :] - lateral,
        shape=shape,
        depth_mm=depth,
        step_mm=float(step_mm),
        n_slices=n_slices,
        origin_shift_px=(float(low[0]), float(low[1])),
        reasons=reasons,
    )


def _place(image: NDArray[np.float32], offset: NDArray[np.float64], shape: tuple[int, int]
           ) -> NDArray[np.float32]:
    """One input slice on the output grid (``out[u] = image[u + offset]``), air outside."""
    return np.asarray(
        ndimage.affine_transform(
            image, np.ones(2), offset=offset, output_shape=shape, order=1, cval=AIR_HU,
            mode="constant",
        ),
        dtype=np.float32,
    )


def resample_stack(hu: NDArray[np.generic], plan: StackResampling) -> NDArray[np.generic]:
    """Fill the output grid of `plan` from the sorted input slices.

    Parameters
    ----------
    hu : (I, J, n_in) ndarray
        HU, slices in the plan's order.
    plan : StackResampling

    Returns
    -------
    (I', J', n_out) ndarray
        Same dtype as `hu` (int16 HU are rounded after interpolation).
    """
    if hu.shape[2] != len(plan.depth_mm):
        raise ValueError(f"{hu.shape[2]} slices for a plan of {len(plan.depth_mm)}")
    out = np.empty((*plan.shape, plan.n_slices), dtype=hu.dtype)
    depth = plan.depth_mm
    placed: dict[int, NDArray[np.float32]] = {}

    def slice_at(k: int) -> NDArray[np.float32]:
        if k not in placed:
            for done in [key for key in placed if key < k - 1]:  # slices are visited in order
                del placed[done]
            placed[k] = _place(np.asarray(hu[:, :, k], dtype=np.float32), plan.offsets_px[k],
                               plan.shape)
        return placed[k]

    for k_out in range(plan.n_slices):
        d = k_out * plan.step_mm
        below = int(np.clip(np.searchsorted(depth, d, side="right") - 1, 0, len(depth) - 1))
        above = min(below + 1, len(depth) - 1)
        span = depth[above] - depth[below]
        weight = float(np.clip((d - depth[below]) / span, 0.0, 1.0)) if span > 0 else 0.0
        values = slice_at(below)
        if weight > 1e-6:
            values = (1.0 - weight) * values + weight * slice_at(above)
        if np.issubdtype(out.dtype, np.integer):
            out[:, :, k_out] = np.rint(values)
        else:
            out[:, :, k_out] = values
    return out


def unshear(
    hu: NDArray[np.generic], affine: NDArray[np.float64]
) -> tuple[NDArray[np.generic], NDArray[np.float64], tuple[str, ...]]:
    """Resample a volume whose slice axis is sheared (gantry tilt in a NIfTI affine).

    Parameters
    ----------
    hu : (I, J, K) ndarray
    affine : (4, 4) ndarray
        Voxel to world (mm). Its first two columns must be perpendicular.

    Returns
    -------
    hu : ndarray
        `hu` itself when the slice axis is perpendicular to the slices (within
        :data:`TILT_TOLERANCE_PX` over the stack), else the resampled volume.
    affine : (4, 4) ndarray
        The orthogonal output grid's affine.
    reasons : tuple of str
        The warnings (empty when nothing was done).

    Raises
    ------
    ValueError
        When the in-plane axes are not perpendicular.
    """
    a0, a1, a2 = (np.asarray(affine, dtype=np.float64)[:3, c] for c in range(3))
    s0, s1 = float(np.linalg.norm(a0)), float(np.linalg.norm(a1))
    if abs(float(a0 @ a1)) > 0.01 * s0 * s1:
        raise ValueError("the in-plane voxel axes are not perpendicular")
    normal = np.cross(a0, a1) / (s0 * s1)
    along = float(a2 @ normal)
    lateral = a2 - along * normal
    n = hu.shape[2]
    drift = float(np.linalg.norm(lateral)) * (n - 1)
    if drift <= TILT_TOLERANCE_PX * min(s0, s1):
        return hu, affine, ()
    k = np.arange(n, dtype=np.float64)
    lateral_px = np.column_stack([k * (lateral @ a0) / s0**2, k * (lateral @ a1) / s1**2])
    angle = float(np.degrees(np.arctan2(np.linalg.norm(lateral), abs(along))))
    reasons = (tilt_reason(angle, drift), RESAMPLED_NOTE)
    plan = plan_resampling(lateral_px, k * abs(along), (hu.shape[0], hu.shape[1]), abs(along),
                           reasons)
    out = np.eye(4)
    out[:3, 0], out[:3, 1], out[:3, 2] = a0, a1, along * normal
    out[:3, 3] = affine[:3, 3] + plan.origin_shift_px[0] * a0 + plan.origin_shift_px[1] * a1
    return resample_stack(hu, plan), out, reasons
