"""Background anatomy of the phantom: body, skeleton, table, metal, aorta, kidneys.

All sizes are in grid millimetres (see :mod:`calcdx.phantom._grid`), so the same
anatomy is drawn at any voxel spacing. The layout fits a field of view of about
150 x 150 x 190 mm; a smaller field of view crops it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from calcdx.phantom._grid import Grid
from calcdx.phantom._model import Tissue

__all__ = ["ANATOMY", "Anatomy", "draw_anatomy"]


@dataclass(frozen=True)
class Anatomy:
    """Positions and sizes of the background structures, in grid mm."""

    body_centre_y: float = -10.0
    body_axes: tuple[float, float] = (72.0, 56.0)  # skin surface, semi-axes x, y
    skin_mm: float = 2.0
    fat_mm: float = 8.0  # subcutaneous fat thickness under the skin
    femur_x: float = 38.0  # femora at x = +-38 (left +, right -)
    femur_y: float = 4.0
    femur_radius: float = 11.0
    femur_cortex_mm: float = 3.0
    femur_head_z: float = -20.0  # centre of the spherical head capping each shaft
    femur_head_radius: float = 13.0
    vertebra_centre: tuple[float, float] = (0.0, 18.0)
    vertebra_half: tuple[float, float] = (14.0, 10.0)
    vertebra_cortex_mm: float = 2.0
    vertebra_period_mm: float = 28.0  # body + disc
    disc_mm: float = 6.0
    aorta_centre: tuple[float, float] = (10.0, -4.0)
    aorta_lumen_radius: float = 8.0
    aorta_outer_radius: float = 10.0
    aorta_bottom_z: float = -10.0
    kidney_centres: tuple[tuple[float, float, float], ...] = (
        (-35.0, 10.0, 60.0),
        (35.0, 10.0, 60.0),
    )
    kidney_axes: tuple[float, float, float] = (11.0, 9.0, 25.0)
    pelvic_fat_centre: tuple[float, float, float] = (0.0, -20.0, -55.0)
    pelvic_fat_axes: tuple[float, float, float] = (20.0, 18.0, 30.0)
    metal_centre: tuple[float, float] = (38.0, 4.0)  # rod in the left femoral shaft
    metal_radius: float = 4.0
    metal_z: tuple[float, float] = (-90.0, -60.0)
    streak_radius_mm: float = 50.0
    table_top_y: float = 52.0
    table_curvature: float = 0.00245  # table top y = table_top_y - curvature * x^2
    table_mm: float = 5.0


ANATOMY = Anatomy()

HU_AIR = -1000.0
HU_SKIN = 30.0
HU_FAT = -100.0
HU_MUSCLE = 50.0
HU_CORTEX = 1200.0
HU_VERTEBRA_CORTEX = 1000.0
HU_FEMUR_MARROW = 320.0
HU_VERTEBRA_MARROW = 280.0
HU_DISC = 80.0
HU_TABLE = 450.0
HU_METAL = 3000.0
HU_WALL = 45.0
HU_LUMEN = (40.0, 300.0)  # plain, contrast
HU_KIDNEY = (35.0, 200.0)
STREAK_HU = 700.0


def _ellipse(
    x: NDArray[np.float64], y: NDArray[np.float64], cy: float, a: float, b: float
) -> NDArray[np.bool_]:
    return (x / a) ** 2 + ((y - cy) / b) ** 2 <= 1.0


def draw_anatomy(
    grid: Grid, *, contrast: bool, anatomy: Anatomy = ANATOMY
) -> tuple[NDArray[np.float32], NDArray[np.uint8]]:
    """Draw the noise-free background.

    Parameters
    ----------
    grid : Grid
        The voxel grid.
    contrast : bool
        Enhance the aorta lumen (~300 HU) and kidneys (~200 HU).
    anatomy : Anatomy
        Layout in grid mm.

    Returns
    -------
    hu : (I, J, K) ndarray of float32
        Attenuation in HU, with metal streaks.
    tissue : (I, J, K) ndarray of uint8
        :class:`~calcdx.phantom._model.Tissue` code per voxel.
    """
    an = anatomy
    shape = grid.shape
    x, y, z = grid.mesh()
    hu = np.full(shape, HU_AIR, dtype=np.float32)
    tissue = np.zeros(shape, dtype=np.uint8)

    def put(mask: NDArray[np.bool_], code: Tissue, value: float) -> None:
        full = np.broadcast_to(mask, shape)
        hu[full] = value
        tissue[full] = code

    a, b = an.body_axes
    cy = an.body_centre_y
    body = _ellipse(x, y, cy, a, b)
    put(body, Tissue.SKIN, HU_SKIN)
    s = an.skin_mm
    put(_ellipse(x, y, cy, a - s, b - s), Tissue.FAT, HU_FAT)
    m = s + an.fat_mm
    put(_ellipse(x, y, cy, a - m, b - m), Tissue.MUSCLE, HU_MUSCLE)

    pc, pa = an.pelvic_fat_centre, an.pelvic_fat_axes
    pelvic = ((x - pc[0]) / pa[0]) ** 2 + ((y - pc[1]) / pa[1]) ** 2 + (
        (z - pc[2]) / pa[2]
    ) ** 2 <= 1
    put(pelvic, Tissue.PELVIC_FAT, HU_FAT)

    ax, ay = an.aorta_centre
    r_aorta = np.hypot(x - ax, y - ay)
    above = z >= an.aorta_bottom_z
    put((r_aorta <= an.aorta_outer_radius) & above, Tissue.VESSEL_WALL, HU_WALL)
    put((r_aorta <= an.aorta_lumen_radius) & above, Tissue.LUMEN, HU_LUMEN[contrast])
    kx, ky, kz = an.kidney_axes
    for ccx, ccy, ccz in an.kidney_centres:
        kidney = ((x - ccx) / kx) ** 2 + ((y - ccy) / ky) ** 2 + ((z - ccz) / kz) ** 2 <= 1
        put(kidney, Tissue.KIDNEY, HU_KIDNEY[contrast])

    # Vertebra-like column: blocks separated by discs, each block with a cortical shell.
    vx, vy = an.vertebra_centre
    hx, hy = an.vertebra_half
    column = (np.abs(x - vx) <= hx) & (np.abs(y - vy) <= hy)
    phase = np.mod(z, an.vertebra_period_mm)
    body_len = an.vertebra_period_mm - an.disc_mm
    in_block = phase < body_len
    put(column & ~in_block, Tissue.DISC, HU_DISC)
    put(column & in_block, Tissue.CORTEX, HU_VERTEBRA_CORTEX)
    c = an.vertebra_cortex_mm
    core = (
        (np.abs(x - vx) <= hx - c)
        & (np.abs(y - vy) <= hy - c)
        & (phase >= c)
        & (phase < body_len - c)
    )
    put(core, Tissue.MARROW, HU_VERTEBRA_MARROW)

    # Femora: shafts below the head centre, capped by a spherical head.
    for sign in (-1.0, 1.0):
        fx, fy, hz = sign * an.femur_x, an.femur_y, an.femur_head_z
        r_shaft = np.hypot(x - fx, y - fy)
        r_head = np.sqrt((x - fx) ** 2 + (y - fy) ** 2 + (z - hz) ** 2)
        below = z <= hz
        outer = ((r_shaft <= an.femur_radius) & below) | (r_head <= an.femur_head_radius)
        inner = ((r_shaft <= an.femur_radius - an.femur_cortex_mm) & below) | (
            r_head <= an.femur_head_radius - an.femur_cortex_mm
        )
        put(outer, Tissue.CORTEX, HU_CORTEX)
        put(inner, Tissue.MARROW, HU_FEMUR_MARROW)

    # Scanner table: a curved slab under the body, never inside it.
    top = an.table_top_y - an.table_curvature * x**2
    table = (y >= top) & (y <= top + an.table_mm) & ~body
    put(table, Tissue.TABLE, HU_TABLE)

    # Metal rod with alternating bright and dark streaks radiating in-plane.
    mx, my = an.metal_centre
    r_metal = np.hypot(x - mx, y - my)
    in_rod_z = (z >= an.metal_z[0]) & (z <= an.metal_z[1])
    theta = np.arctan2(y - my, x - mx)
    rays = np.cos(12.0 * theta)
    amplitude = STREAK_HU * np.exp(-(r_metal - an.metal_radius) / 18.0)
    streak = np.where(rays > 0.92, amplitude, np.where(rays < -0.92, -amplitude, 0.0))
    streak = np.where((r_metal > an.metal_radius) & (r_metal <= an.streak_radius_mm), streak, 0.0)
    hu += np.broadcast_to(streak * in_rod_z, shape).astype(np.float32)
    put((r_metal <= an.metal_radius) & in_rod_z, Tissue.METAL, HU_METAL)
    return hu, tissue
