"""Axial slices of a finished study as PNG, with lesion outlines, for the slice viewer.

The first time a study is viewed, :func:`build_viewer` reads its input volume
and ``lesions.nii.gz``, reorients both to patient axes with
:func:`calcdx.report._orient.canonical`, reduces them to display size (at most
:data:`DISPLAY_WIDTH_PX` pixels across and down, at most
:data:`MAX_DISPLAY_SLICES` slices: block means of HU, block maxima of the
lesion mask, so that no lesion is lost) and writes them into the study's
``output/viewer/`` folder as raw arrays, one axial slice after another. The
server runs this in a child process within the job limits (see
:mod:`calcdx.web.isolate`), so it never holds a whole volume itself.

A :class:`SliceStack` then reads one slice at a time from those files and
renders it in radiological orientation (patient's right on the image's left,
anterior up), at the true pixel aspect. The per-app :class:`SliceCache` keeps
the rendered PNGs of recently viewed slices up to a number of bytes, and the
(small) descriptions of recently viewed studies.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from calcdx.errors import CalcdxError

__all__ = [
    "DEFAULT_CACHE_BYTES",
    "DISPLAY_WIDTH_PX",
    "MAX_DISPLAY_SLICES",
    "VIEWER_DIR",
    "VIEWER_FORMAT",
    "WINDOWS",
    "SliceCache",
    "SliceStack",
    "Window",
    "build_viewer",
    "load_stack",
]

Window = Literal["soft", "bone"]

#: Window presets, (width, level) in HU.
WINDOWS: Final[dict[str, tuple[float, float]]] = {
    "soft": (400.0, 40.0),
    "bone": (2000.0, 500.0),
}

#: Width of the rendered PNGs in pixels (height follows the field of view); the
#: stored display grid has at most this many pixels across and down.
DISPLAY_WIDTH_PX: Final = 512

#: Most axial slices shown; a longer study shows every second (third...) slice,
#: each showing the lesions of the slices it stands for.
MAX_DISPLAY_SLICES: Final = 1024

#: Bytes of rendered slices a :class:`SliceCache` keeps by default.
DEFAULT_CACHE_BYTES: Final = 64 * 1024**2

#: Format of ``viewer/viewer.json``.
VIEWER_FORMAT: Final = "calcdx-viewer/1"

#: Folder of the display files, beside the study's ``lesions.nii.gz``.
VIEWER_DIR: Final = "viewer"
_HU_FILE: Final = "hu.i16"
_LABEL_FILE: Final = "labels.u8"
_META_FILE: Final = "viewer.json"
_OUTLINE: Final = np.array([255, 196, 0], dtype=np.uint8)


def _edges(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Pixels of `mask` with a 4-neighbour outside it."""
    padded = np.pad(mask, 1)
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    edge: NDArray[np.bool_] = mask & ~inner
    return edge


def _reduce(arr: NDArray[Any], factors: tuple[int, int, int], how: str) -> NDArray[Any]:
    """Block mean (``how="mean"``) or maximum of `arr` over `factors`, edges padded."""
    if factors == (1, 1, 1):
        return arr
    pad = [(0, (-n) % f) for n, f in zip(arr.shape, factors, strict=True)]
    padded = np.pad(arr, pad, mode="edge")
    shape: list[int] = []
    for n, f in zip(padded.shape, factors, strict=True):
        shape += [n // f, f]
    blocks = padded.reshape(shape)
    reduced: NDArray[Any]
    if how == "mean":
        reduced = blocks.mean(axis=(1, 3, 5), dtype=np.float32)
    else:
        reduced = blocks.max(axis=(1, 3, 5))
    return reduced


@dataclass(frozen=True)
class SliceStack:
    """A study prepared for display: axial slices on disk, read one at a time.

    Attributes
    ----------
    folder : Path
        The ``viewer`` folder.
    count : int
        Number of displayed axial slices (0 = most inferior).
    rows, columns : int
        Display grid of a slice: rows run anterior to posterior, columns
        patient right to left.
    spacing_mm : tuple of 3 float
        Display voxel size along patient x (right-left), y (anterior-posterior)
        and z (inferior-superior).
    lesion_slices : tuple of int
        Displayed slices that hold lesion voxels.
    step : tuple of 3 int
        Source voxels per display voxel along x, y and z (1 when not reduced).
    """

    folder: Path
    count: int
    rows: int
    columns: int
    spacing_mm: tuple[float, float, float]
    lesion_slices: tuple[int, ...]
    step: tuple[int, int, int]

    @property
    def size_px(self) -> tuple[int, int]:
        """(width, height) of the rendered PNGs, at the true pixel aspect."""
        sx, sy = self.spacing_mm[0], self.spacing_mm[1]
        height = round(DISPLAY_WIDTH_PX * (self.rows * sy) / (self.columns * sx))
        return DISPLAY_WIDTH_PX, max(1, min(height, 4 * DISPLAY_WIDTH_PX))

    @property
    def start_slice(self) -> int:
        """The slice to show first: the middle lesion slice, else the middle slice."""
        if self.lesion_slices:
            return self.lesion_slices[len(self.lesion_slices) // 2]
        return self.count // 2

    def _read(self, name: str, k: int, dtype: str) -> NDArray[Any]:
        item = np.dtype(dtype).itemsize
        size = self.rows * self.columns * item
        with (self.folder / name).open("rb") as stream:
            data = os.pread(stream.fileno(), size, k * size)
        if len(data) != size:
            raise CalcdxError("the slice viewer's files are damaged; delete the viewer folder")
        return np.frombuffer(data, dtype=dtype).reshape(self.rows, self.columns)

    def render(self, k: int, window: Window = "soft") -> bytes:
        """Render axial slice `k` as PNG.

        Parameters
        ----------
        k : int
            Displayed axial index, 0 (most inferior) to ``count - 1``.
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
        hu = self._read(_HU_FILE, k, "<i2").astype(np.float32)
        lab = self._read(_LABEL_FILE, k, "u1") > 0
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


def build_viewer(input_path: Path, labels_path: Path, target: Path) -> None:
    """Write a study's display slices into the folder `target` (which must not exist).

    Parameters
    ----------
    input_path : Path
        The study input (DICOM folder or NIfTI), read with :func:`calcdx.io.read_volume`.
    labels_path : Path
        ``lesions.nii.gz`` on the input's grid.
    target : Path
        The folder to create; written under a temporary name beside it and
        renamed into place, so that a half-written folder is never used.

    Raises
    ------
    CalcdxError
        When a file is missing or unreadable, or the grids differ.
    """
    import nibabel as nib

    from calcdx.io import read_volume
    from calcdx.report._orient import canonical

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
    nx, ny, nz = canon.shape
    fx = max(1, math.ceil(nx / DISPLAY_WIDTH_PX))
    fy = max(1, math.ceil(ny / DISPLAY_WIDTH_PX))
    fz = max(1, math.ceil(nz / MAX_DISPLAY_SLICES))
    hu, lab = canon.array(volume.hu), canon.array(labels)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=".viewer-", dir=target.parent))
    present: list[int] = []
    try:
        with (
            (partial / _HU_FILE).open("wb") as hu_out,
            (partial / _LABEL_FILE).open("wb") as lab_out,
        ):
            for k, z in enumerate(range(0, nz, fz)):
                # one display slice at a time: rows anterior -> posterior, columns right -> left
                depth = min(fz, nz - z)
                block = _reduce(hu[:, :, z : z + depth], (fx, fy, depth), "mean")[:, :, 0]
                grey = np.clip(np.rint(block), -32768, 32767).astype("<i2")[::-1, ::-1].T
                hu_out.write(np.ascontiguousarray(grey).tobytes())
                marks = _reduce(lab[:, :, z : z + depth] > 0, (fx, fy, depth), "max")[:, :, 0]
                mask = marks.astype(np.uint8)[::-1, ::-1].T
                lab_out.write(np.ascontiguousarray(mask).tobytes())
                if mask.any():
                    present.append(k)
        meta = {
            "format": VIEWER_FORMAT,
            "count": len(range(0, nz, fz)),
            "rows": math.ceil(ny / fy),
            "columns": math.ceil(nx / fx),
            "spacing_mm": [s * f for s, f in zip(canon.spacing_mm, (fx, fy, fz), strict=True)],
            "lesion_slices": present,
            "step": [fx, fy, fz],
            "source_shape": [nx, ny, nz],
        }
        (partial / _META_FILE).write_text(json.dumps(meta), encoding="utf-8")
        try:
            partial.rename(target)
        except OSError:
            if not (target / _META_FILE).is_file():  # not another process's finished copy
                raise
    except OSError as exc:
        raise CalcdxError(f"cannot write the slice viewer's files ({exc.strerror})") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _open_stack(folder: Path) -> SliceStack | None:
    """The stack described in `folder`, or None when it is missing, stale or damaged."""
    try:
        meta = json.loads((folder / _META_FILE).read_text(encoding="utf-8"))
        if meta.get("format") != VIEWER_FORMAT:
            return None
        count, rows, columns = int(meta["count"]), int(meta["rows"]), int(meta["columns"])
        voxels = count * rows * columns
        if (folder / _HU_FILE).stat().st_size != 2 * voxels:
            return None
        if (folder / _LABEL_FILE).stat().st_size != voxels:
            return None
        sx, sy, sz = (float(s) for s in meta["spacing_mm"])
        fx, fy, fz = (int(f) for f in meta["step"])
        return SliceStack(
            folder=folder,
            count=count,
            rows=rows,
            columns=columns,
            spacing_mm=(sx, sy, sz),
            lesion_slices=tuple(int(z) for z in meta["lesion_slices"]),
            step=(fx, fy, fz),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _build_in_child(input_path: Path, labels_path: Path, target: Path, send: Any) -> None:
    build_viewer(input_path, labels_path, target)


def load_stack(input_path: Path, labels_path: Path, limits: Any = None) -> SliceStack:
    """The study's display slices, prepared on first use beside its ``lesions.nii.gz``.

    Parameters
    ----------
    input_path : Path
        The study input (DICOM folder or NIfTI).
    labels_path : Path
        ``lesions.nii.gz`` on the input's grid; the display files go into the
        ``viewer`` folder next to it.
    limits : calcdx.web.isolate.Limits, optional
        Prepare them in a child process within these limits (else in this one).

    Returns
    -------
    SliceStack

    Raises
    ------
    CalcdxError
        When a file is missing or unreadable, the grids differ, or the
        preparation goes over its limits.
    """
    folder = labels_path.parent / VIEWER_DIR
    stack = _open_stack(folder)
    if stack is not None:
        return stack
    if folder.exists():  # stale or damaged: prepared again
        shutil.rmtree(folder, ignore_errors=True)
    if limits is None:
        build_viewer(input_path, labels_path, folder)
    else:
        from calcdx.web.isolate import ChildCrashed, run_limited

        try:
            run_limited(
                _build_in_child,
                (input_path, labels_path, folder),
                limits,
                what="preparing the slice viewer",
            )
        except ChildCrashed as exc:
            raise CalcdxError(f"preparing the slice viewer failed ({exc})") from None
    stack = _open_stack(folder)
    if stack is None:
        raise CalcdxError("the slice viewer's files could not be prepared")
    return stack


class SliceCache:
    """Rendered slices (up to a number of bytes) and recently viewed stacks (thread-safe).

    Parameters
    ----------
    max_bytes : int
        Most bytes of PNG kept; the least recently used are dropped first.
    max_stacks : int
        Most study descriptions kept (each a few hundred bytes; no voxels).
    limits : calcdx.web.isolate.Limits, optional
        Limits of the child process that prepares a study on first view (see
        :func:`load_stack`); None prepares it in this process.
    """

    def __init__(
        self, max_bytes: int = DEFAULT_CACHE_BYTES, max_stacks: int = 256, limits: Any = None
    ) -> None:
        self.max_bytes = max_bytes
        self.max_stacks = max_stacks
        self.limits = limits
        self._stacks: OrderedDict[str, SliceStack] = OrderedDict()
        self._pngs: OrderedDict[tuple[str, int, str], bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._stacks)

    @property
    def nbytes(self) -> int:
        """Bytes of PNG held."""
        with self._lock:
            return self._bytes

    def get(self, job_id: str, input_path: Path, labels_path: Path) -> SliceStack:
        """The stack of job `job_id`, prepared on first use (blocking; call from a thread).

        Concurrent first views of one study prepare it once; the others wait.

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
            loading = self._loading.setdefault(job_id, threading.Lock())
        with loading:
            with self._lock:
                stack = self._stacks.get(job_id)
            if stack is not None:
                return stack
            try:
                stack = load_stack(input_path, labels_path, self.limits)
                with self._lock:
                    self._stacks[job_id] = stack
                    while len(self._stacks) > self.max_stacks:
                        self._stacks.popitem(last=False)
            finally:
                with self._lock:
                    self._loading.pop(job_id, None)
        return stack

    def png(self, job_id: str, stack: SliceStack, k: int, window: Window) -> bytes:
        """Slice `k` of `stack` as PNG, rendered once while it stays in the cache.

        Raises
        ------
        IndexError
            When `k` is outside the stack.
        """
        key = (job_id, k, window)
        with self._lock:
            data = self._pngs.get(key)
            if data is not None:
                self._pngs.move_to_end(key)
                return data
        data = stack.render(k, window)
        if len(data) > self.max_bytes:
            return data
        with self._lock:
            if key not in self._pngs:
                self._pngs[key] = data
                self._bytes += len(data)
            while self._bytes > self.max_bytes:
                _, dropped = self._pngs.popitem(last=False)
                self._bytes -= len(dropped)
        return data
