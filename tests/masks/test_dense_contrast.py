"""Dense contrast medium as dense as metal is not metal (calcdx.masks.injected.dense_contrast).

Synthetic scene, 1 mm voxels: a superior-vena-cava-like column (r 9 mm) of mixing contrast
(1,400 HU with a few 3,000 HU streaks inside it), a sternal-wire-like loop (1 mm wire at
3,071 HU, blooming to 1,500 HU round it), a solid rod (r 4 mm, 3,071 HU) in a bone of
1,300 HU cortex, and a thin plate (2 mm, 3,071 HU). The truth is the geometry drawn: only
the column's streaks are contrast.
"""

import numpy as np

from calcdx.masks.injected import dense_contrast

SHAPE = (120, 120, 60)


def _scene():
    x, y, z = np.meshgrid(*(np.arange(n, dtype=float) for n in SHAPE), indexing="ij")
    hu = np.zeros(SHAPE)
    column = np.hypot(x - 30, y - 30) <= 9.0
    hu[column] = 1400.0
    streak = column & (np.abs(x - 30 - 3.0 * np.sin(z / 6.0)) <= 1.0) & (np.abs(y - 28) <= 1.0)
    hu[streak] = 3000.0
    loop = np.abs(np.hypot(x - 90, y - 30) - 10.0) <= 1.5
    wire_core = loop & (np.abs(np.hypot(x - 90, y - 30) - 10.0) <= 0.5)
    loop &= np.abs(z - 30) <= 1.0
    wire_core &= np.abs(z - 30) <= 0.5
    hu[loop] = 1500.0
    hu[wire_core] = 3071.0
    cortex = (np.hypot(x - 30, y - 90) <= 12.0) & (np.hypot(x - 30, y - 90) > 8.0)
    hu[cortex] = 1300.0
    rod = np.hypot(x - 30, y - 90) <= 4.0
    hu[rod] = 3071.0
    plate = (np.abs(x - 90) <= 1.0) & (np.abs(y - 90) <= 12.0) & (np.abs(z - 30) <= 20.0)
    hu[plate] = 3071.0
    return hu, streak, wire_core, rod, plate


def test_only_the_contrast_column_is_contrast():
    hu, streak, wire, rod, plate = _scene()
    metal_ijk = np.argwhere(hu >= 2500)
    out = dense_contrast(hu, metal_ijk, (1.0, 1.0, 1.0), 2500.0)
    truth = streak[tuple(metal_ijk.T)]
    assert truth.sum() > 0 and (wire | rod | plate)[tuple(metal_ijk.T)].sum() > 0
    np.testing.assert_array_equal(out, truth)


def test_a_column_all_at_the_metal_level_stays_metal():
    """A solid core as wide as a lumen (rule 3): a stem, or an undiluted column all
    above the threshold, is metal (a stated limit)."""
    hu, *_ = _scene()
    hu[hu == 1400.0] = 3000.0
    metal_ijk = np.argwhere(hu >= 2500)
    assert not dense_contrast(hu, metal_ijk, (1.0, 1.0, 1.0), 2500.0).any()
