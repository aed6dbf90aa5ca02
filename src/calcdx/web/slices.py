"""Axial slices of a finished study as PNG, with lesion outlines, for the slice viewer.

A :class:`SliceStack` holds one study's input volume and its ``lesions.nii.gz``
reoriented to patient axes with :func:`calcdx.report._orient.canonical`; it
renders one axial slice at a time in radiological orientation (patient's right
on the image's left, anterior up), at the true pixel aspect. Stacks are kept in
a small per-app :class:`SliceCache` (least recently used ones are dropped).
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import nibabel as nib
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from calcdx.errors import CalcdxError
from calcdx.io import read_volume
from calcdx.report._orient import canonical

__all__ = ["DISPLAY_WIDTH_PX", "WINDOWS", "SliceCache", "SliceStack", "Window", "load_stack"]

Window = Literal["soft", "bone"]

#: Window presets, (width, level) in HU.
WINDOWS: Final[dict[str, tuple[float, float]]] = {
    "soft": (400.0, 40.0),
    "bone": (2000.0, 500.0),
}

#: Width of the rendered PNGs in pixels (height follows the field of view).
DISPLAY_WIDTH_PX: Final = 512

_OUTLINE: Final = np.array([255, 196, 0], dtype=np.uint8)


def _edges(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Pixels of `mask` with a 4-neighbour outside it."""
    padded = np.pad(mask, 1)
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    edge: NDArray[np.bool_] = mask & ~inner
    return edge


@dataclass(frozen=True)
class SliceStack:
    """One study's volume and lesion labels on patient axes (x Right, y Anterior, z Superior).

    Attributes
    ----------
    hu : (X, Y, Z) ndarray
        Attenuation in HU.
    labels : (X, Y, Z) ndarray
        Lesion ids, 0 elsewhere.
    spacing_mm : tuple of 3 float
        Voxel size along x, y, z.
    lesion_slices : tuple of int
        Axial indices (z) that hold lesion voxels.
    """

    hu: NDArray[Any]
    labels: NDArray[Any]
    spacing_mm: tuple[float, float, float]
    lesion_slices: tuple[int, ...]

    @property
    def count(self) -> int:
        """Number of axial slices."""
        return int(self.hu.shape[2])

    @property
    def size_px(self) -> tuple[int, int]:
        """(width, height) of the rendered PNGs, at the true pixel aspect."""
        nx, ny = self.hu.shape[0], self.hu.shape[1]
        sx, sy = self.spacing_mm[0], self.spacing_mm[1]
        height = round(DISPLAY_WIDTH_PX * (ny * sy) / (nx * sx))
        return DISPLAY_WIDTH_PX, max(1, min(height, 4 * DISPLAY_WIDTH_PX))

    @property
    def start_slice(self) -> int:
        """The slice to show first: the middle lesion slice, else the middle slice."""
        if self.lesion_slices:
            return self.lesion_slices[len(self.lesion_slices) // 2]
        return self.count // 2

    def render(self, k: int, window: Window = "soft") -> bytes:
        """Render axial slice `k` as PNG.

        Parameters
        ----------
        k : int
            Axial index, 0 (most inferior) to ``count - 1``.
        window : {"soft", "bone"}
            Window preset (soft tissue W400/L40, bone W2000/L500).

        Returns
        -------
        bytes
            An RGB PNG, radiological orientation, lesion outlines in amber.

        Raises
        ------
        IndexError
            When `k` is outside the stack.
        """
        if not 0 <= k < self.count:
            raise IndexError(k)
        width, level = WINDOWS[window]
        # display rows run anterior -> posterior, columns patient right -> left
        hu = np.asarray(self.hu[:, :, k], dtype=np.float32)[::-1, ::-1].T
        lab = np.asarray(self.labels[:, :, k])[::-1, ::-1].T > 0
        low = level - width / 2
        grey = np.clip((hu - low) * (255.0 / width), 0, 255).astype(np.uint8)
        size = self.size_px
        image = Image.fromarray(np.ascontiguousarray(grey)).resize(size, Image.Resampling.BILINEAR)
        rgb = np.repeat(np.asarray(image)[:, :, None], 3, axis=2)
        if lab.any():
            mask = Image.fromarray(np.ascontiguousarray(lab).astype(np.uint8) * 255)
            big = np.asarray(mask.resize(size, Image.Resampling.NEAREST)) > 0
            rgb[_edges(big)] = _OUTLINE
        out = io.BytesIO()
        Image.fromarray(rgb).save(out, format="PNG", compress_level=3)
        return out.getvalue()


def load_stack(input_path: Path, labels_path: Path) -> SliceStack:
    """Read a study's input and label map and put both on patient axes.

    Parameters
    ----------
    input_path : Path
        The study input (DICOM folder or NIfTI), read with :func:`calcdx.io.read_volume`.
    labels_path : Path
        ``lesions.nii.gz`` on the input's grid.

    Returns
    -------
    SliceStack

    Raises
    ------
    CalcdxError
        When a file is missing or unreadable, or the grids differ.
    """
    if not labels_path.is_file():
        raise CalcdxError("the study has no lesions.nii.gz; the slice viewer needs it")
    volume = read_volume(input_path)
    try:
        image: Any = nib.load(str(labels_path))
        labels = np.asarray(image.dataobj)
    except Exception as exc:  # nibabel raises many kinds on a damaged file
        raise CalcdxError(f"cannot read lesions.nii.gz ({type(exc).__name__})") from None
    if labels.shape != volume.shape:
        raise CalcdxError(
            f"lesions.nii.gz has shape {labels.shape}, the study {volume.shape}; "
            "they must share a grid"
        )
    canon = canonical(volume.affine, volume.shape)
    hu = canon.array(volume.hu)
    lab = canon.array(labels)
    present = np.flatnonzero(np.any(lab > 0, axis=(0, 1)))
    return SliceStack(
        hu=hu,
        labels=lab,
        spacing_mm=canon.spacing_mm,
        lesion_slices=tuple(int(z) for z in present),
    )


class SliceCache:
    """The few most recently used :class:`SliceStack` of an app, by job id (thread-safe).

    Parameters
    ----------
    maxsize : int
        How many stacks to keep.
    """

    def __init__(self, maxsize: int = 3) -> None:
        self.maxsize = maxsize
        self._stacks: OrderedDict[str, SliceStack] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._stacks)

    def get(self, job_id: str, input_path: Path, labels_path: Path) -> SliceStack:
        """The stack of job `job_id`, loaded on first use (blocking; call from a thread).

        Parameters
        ----------
        job_id : str
        input_path, labels_path : Path
            See :func:`load_stack`.

        Returns
        -------
        SliceStack

        Raises
        ------
        CalcdxError
            See :func:`load_stack`.
        """
        with self._lock:
            stack = self._stacks.get(job_id)
            if stack is not None:
                self._stacks.move_to_end(job_id)
                return stack
        stack = load_stack(input_path, labels_path)
        with self._lock:
            self._stacks[job_id] = stack
            self._stacks.move_to_end(job_id)
            while len(self._stacks) > self.maxsize:
                self._stacks.popitem(last=False)
        return stack
