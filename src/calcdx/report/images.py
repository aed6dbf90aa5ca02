"""Key images for the report: one axial slice per lesion group and a burden projection.

Images are small PNGs (matplotlib, Agg canvas, no pyplot state) returned as
``data:`` URIs so the report embeds them. Orientation comes from the volume's
affine and follows the radiological convention: the patient's right on the
image's left, anterior up (axial) or superior up (coronal).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import NDArray
from PIL import Image

from calcdx.analysis import AnalysisResult, LesionRecord
from calcdx.report._orient import Canonical, canonical
from calcdx.volume import Volume

__all__ = [
    "BONE_WINDOW",
    "MIP_KEY",
    "SOFT_TISSUE_WINDOW",
    "ImageOptions",
    "default_groups",
    "key_images",
]

#: Window (width, level) in HU.
BONE_WINDOW = (2000.0, 500.0)
SOFT_TISSUE_WINDOW = (400.0, 40.0)
#: Key of the whole-burden projection in :func:`key_images`' answer.
MIP_KEY = "burden_mip"

_OUTLINE = "#ffd400"
_OTHER = "#35c6ff"
_BURDEN = "#ff5a1f"
_UPSAMPLE = 4
_PNG_COLOURS = 128


@dataclass(frozen=True)
class ImageOptions:
    """Size and layout of the key images.

    Attributes
    ----------
    size_px : int
        Width (and, for slices, height) of each image in pixels.
    dpi : int
        Resolution used to render the figures.
    margin_mm : float
        Context shown around a lesion group on its slice.
    min_field_mm : float
        Smallest field of view of a slice image.
    bone_window_peak_hu : float
        Groups whose peak reaches this HU are shown in the bone window, others
        in the soft-tissue window.
    max_groups : int
        Slices are drawn for at most this many groups (in the order given).
    """

    size_px: int = 360
    dpi: int = 100
    margin_mm: float = 15.0
    min_field_mm: float = 50.0
    bone_window_peak_hu: float = 600.0
    max_groups: int = 24

    def mip_height_px(self, canon: Canonical) -> int:
        """Height of the coronal projection for a reoriented grid (width is `size_px`)."""
        width_mm = canon.shape[0] * canon.spacing_mm[0]
        height_mm = canon.shape[2] * canon.spacing_mm[2]
        height = round(self.size_px * height_mm / max(width_mm, 1e-6))
        return int(min(max(height, self.size_px * 2 // 3), self.size_px * 2))


def default_groups(result: AnalysisResult) -> dict[str, tuple[int, ...]]:
    """Lesion groups when none are given: each cluster (``C1``...) and solitary lesion (``L7``...).

    Parameters
    ----------
    result : AnalysisResult

    Returns
    -------
    dict of str to tuple of int
        Group key to lesion ids, largest total volume first.
    """
    volume = {les.id: les.volume_mm3 for les in result.lesions}
    groups: dict[str, tuple[int, ...]] = {
        f"C{c.id}": tuple(c.lesion_ids) for c in result.clusters
    }
    groups.update({f"L{les.id}": (les.id,) for les in result.lesions if les.cluster_id is None})
    order = sorted(groups, key=lambda k: (-sum(volume.get(i, 0.0) for i in groups[k]), k))
    return {k: groups[k] for k in order}


def _data_uri(fig: Figure) -> str:
    """Rasterise a figure to an indexed-colour PNG data URI (a third smaller than RGBA)."""
    FigureCanvasAgg(fig)
    raw = io.BytesIO()
    fig.savefig(raw, format="rgba", dpi=fig.dpi, facecolor="black")
    width, height = (round(v) for v in fig.get_size_inches() * fig.dpi)
    rgba = np.frombuffer(raw.getvalue(), dtype=np.uint8).reshape(height, width, 4)
    image = Image.fromarray(np.ascontiguousarray(rgba[..., :3])).quantize(
        colors=_PNG_COLOURS, method=Image.Quantize.MEDIANCUT)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(width_px: int, height_px: int, dpi: int) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi, facecolor="black")
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_facecolor("black")
    ax.set_axis_off()
    return fig, ax


def _outline(ax: Axes, mask: NDArray[np.bool_], spacing: tuple[float, float],
             origin: tuple[float, float], color: str, width: float, style: str = "solid") -> None:
    """Draw the pixel-edge outline of a display-oriented mask (rows, cols)."""
    if not mask.any() or mask.all():
        return
    big = np.kron(mask.astype(np.float32), np.ones((_UPSAMPLE, _UPSAMPLE), dtype=np.float32))
    big = np.pad(big, 1)
    sr, sc = spacing
    xs = origin[0] + (np.arange(big.shape[1]) - 0.5) * sc / _UPSAMPLE
    ys = origin[1] + (np.arange(big.shape[0]) - 0.5) * sr / _UPSAMPLE
    ax.contour(xs, ys, big, levels=[0.5], colors=[color], linewidths=width, linestyles=style)


def _labels(ax: Axes, field: tuple[float, float, float, float], top: str, bottom: str,
            note: str, title: str) -> None:
    """Orientation letters, a 10 mm scale bar and burned-in notes."""
    x0, x1, y0, y1 = field
    style: dict[str, Any] = {"color": "white", "fontsize": 9, "fontweight": "bold"}
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    w, h = x1 - x0, y1 - y0
    ax.text(x0 + 0.02 * w, my, "R", ha="left", va="center", **style)
    ax.text(x1 - 0.02 * w, my, "L", ha="right", va="center", **style)
    ax.text(mx, y0 + 0.02 * h, top, ha="center", va="top", **style)
    ax.text(mx, y1 - 0.02 * h, bottom, ha="center", va="bottom", **style)
    ax.text(x0 + 0.02 * w, y0 + 0.02 * h, title, ha="left", va="top", color=_OUTLINE,
            fontsize=10, fontweight="bold")
    ax.text(x0 + 0.02 * w, y1 - 0.02 * h, note, ha="left", va="bottom", color="white",
            fontsize=7)
    bar_end = x1 - 0.04 * w
    ax.plot([bar_end - 10.0, bar_end], [y1 - 0.09 * h] * 2, color="white", linewidth=2)
    ax.text(bar_end - 5.0, y1 - 0.1 * h, "10 mm", ha="center", va="bottom", color="white",
            fontsize=7)


@dataclass(frozen=True)
class _Scene:
    """The reoriented volume shared by all images of one call."""

    canon: Canonical
    hu: NDArray[Any]
    labels: NDArray[Any]


def _group_voxels(result: AnalysisResult, lesions: Sequence[LesionRecord]) -> NDArray[np.intp]:
    """Original-grid voxel indices of a group's lesions."""
    lo = np.min([les.bbox_voxel_min for les in lesions], axis=0)
    hi = np.max([les.bbox_voxel_max for les in lesions], axis=0) + 1
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    sub = result.label_map[box]
    found: NDArray[np.intp] = np.argwhere(np.isin(sub, [les.id for les in lesions])) + lo
    return found


def _slice_image(scene: _Scene, key: str, lesions: Sequence[LesionRecord],
                 result: AnalysisResult, opts: ImageOptions) -> str | None:
    """Axial slice through a group's centroid with its outline."""
    voxels = _group_voxels(result, lesions)
    if voxels.size == 0:
        return None
    canon = scene.canon
    pts = canon.index(voxels)
    weights = np.array([les.volume_mm3 for les in lesions])
    centre = canon.index(np.average([les.centroid_voxel for les in lesions], axis=0,
                                    weights=weights if weights.sum() > 0 else None))
    zs = np.unique(np.round(pts[:, 2]).astype(np.intp))
    z = int(zs[np.argmin(np.abs(zs - centre[2]))])
    sx, sy, _ = canon.spacing_mm
    lo, hi = pts[:, :2].min(axis=0), pts[:, :2].max(axis=0)
    mid = (lo + hi) / 2
    half = max(float(np.max((hi - lo + 1) * (sx, sy))) / 2 + opts.margin_mm,
               opts.min_field_mm / 2)
    nx, ny = canon.shape[0], canon.shape[1]
    x0 = int(max(np.floor(mid[0] - half / sx), 0))
    x1 = int(min(np.ceil(mid[0] + half / sx) + 1, nx))
    y0 = int(max(np.floor(mid[1] - half / sy), 0))
    y1 = int(min(np.ceil(mid[1] + half / sy) + 1, ny))
    # display: rows run anterior -> posterior (y decreasing), columns right -> left
    hu = np.asarray(scene.hu[x0:x1, y0:y1, z], dtype=np.float32)[::-1, ::-1].T
    lab = np.asarray(scene.labels[x0:x1, y0:y1, z])[::-1, ::-1].T
    mine = np.isin(lab, [les.id for les in lesions])
    others = (lab > 0) & ~mine
    # display mm coordinates: column c of the full slice sits at (nx - 1 - x) * sx
    origin = ((nx - x1) * sx, (ny - y1) * sy)
    extent = (origin[0], origin[0] + hu.shape[1] * sx, origin[1] + hu.shape[0] * sy, origin[1])
    peak = max(les.peak_hu for les in lesions)
    width, level = BONE_WINDOW if peak >= opts.bone_window_peak_hu else SOFT_TISSUE_WINDOW
    fig, ax = _figure(opts.size_px, opts.size_px, opts.dpi)
    ax.imshow(hu, cmap="gray", vmin=level - width / 2, vmax=level + width / 2, extent=extent,
              interpolation="bilinear", aspect="equal")
    _outline(ax, others, (sy, sx), origin, _OTHER, 0.8, "dashed")
    _outline(ax, mine, (sy, sx), origin, _OUTLINE, 1.4)
    cx = (nx - 1 - mid[0]) * sx
    cy = (ny - 1 - mid[1]) * sy
    field = (cx - half, cx + half, cy - half, cy + half)
    ax.set_xlim(field[0], field[1])
    ax.set_ylim(field[3], field[2])
    note = f"axial {z + 1}/{canon.shape[2]}  W{width:g} L{level:g}"
    _labels(ax, field, "A", "P", note, key)
    return _data_uri(fig)


_CLIP_HU = (-1000, 1500)
_BLOCK_BYTES = 32 << 20


def _projection(scene: _Scene) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Mean clipped HU along anterior-posterior and whether any lesion voxel lies there.

    Both (x, z). Read a block of axial planes at a time (~32 MB), never the whole
    study copied. Signed integer HU (int16 and wider): the clipped sums are exact
    integers (int32), and exact as float32 below 2**24 (``ny * 1500``), so sum / ny
    in float32 is the float32 mean of each plane's row, bit for bit, in one pass of
    the block instead of one strided pass of the volume per plane; other input is
    averaged plane by plane.
    """
    nx, ny, nz = scene.canon.shape
    body = np.empty((nx, nz), dtype=np.float32)
    burden = np.empty((nx, nz), dtype=bool)
    dtype = scene.hu.dtype
    exact = dtype.kind == "i" and dtype.itemsize >= 2 and ny * max(map(abs, _CLIP_HU)) < 2**24
    step = max(1, _BLOCK_BYTES // max(nx * ny * dtype.itemsize, 1)) if exact else 1
    for z0 in range(0, nz, step):
        z1 = min(z0 + step, nz)
        block = np.asarray(scene.hu[:, :, z0:z1])
        if exact:
            sums = np.clip(block, *_CLIP_HU).sum(axis=1, dtype=np.int32)
            body[:, z0:z1] = sums.astype(np.float32) / np.float32(ny)
        else:
            plane = np.asarray(block[:, :, 0], dtype=np.float32)
            body[:, z0] = np.clip(plane, float(_CLIP_HU[0]), float(_CLIP_HU[1])).mean(axis=1)
        burden[:, z0:z1] = (np.asarray(scene.labels[:, :, z0:z1]) > 0).any(axis=1)
    return body, burden


def _mip_image(scene: _Scene, groups: Mapping[str, Sequence[LesionRecord]],
               opts: ImageOptions) -> str:
    """Coronal projection of the body with the calcified burden (label map > 0) on top."""
    canon = scene.canon
    sx, _, sz = canon.spacing_mm
    nx, _, nz = canon.shape
    body, burden = _projection(scene)
    bg = body[::-1, ::-1].T
    fg = burden[::-1, ::-1].T
    lo, hi = np.percentile(bg, [2.0, 99.5])
    extent = (0.0, nx * sx, nz * sz, 0.0)
    height = opts.mip_height_px(canon)
    fig, ax = _figure(opts.size_px, height, opts.dpi)
    ax.imshow(bg, cmap="gray", vmin=float(lo), vmax=float(max(hi, lo + 1.0)), extent=extent,
              interpolation="bilinear", aspect="equal")
    overlay = np.zeros((*fg.shape, 4), dtype=np.float32)
    overlay[fg] = (1.0, 0.35, 0.12, 0.95)
    ax.imshow(overlay, extent=extent, interpolation="nearest", aspect="equal")
    # fit the whole field in the frame (letterbox) while keeping mm square
    width_mm, height_mm = nx * sx, nz * sz
    frame = height / opts.size_px
    if height_mm / width_mm > frame:
        half = height_mm / frame / 2
        ax.set_xlim(width_mm / 2 - half, width_mm / 2 + half)
        ax.set_ylim(height_mm, 0.0)
    else:
        half = width_mm * frame / 2
        ax.set_xlim(0.0, width_mm)
        ax.set_ylim(height_mm / 2 + half, height_mm / 2 - half)
    for key, lesions in list(groups.items())[:12]:
        c = scene.canon.index(np.average([les.centroid_voxel for les in lesions], axis=0))
        ax.annotate(key, xy=((nx - 1 - c[0]) * sx, (nz - 1 - c[2]) * sz),
                    xytext=(8, 6), textcoords="offset points", color=_OUTLINE, fontsize=8,
                    fontweight="bold", arrowprops={"arrowstyle": "-", "color": _OUTLINE,
                                                   "linewidth": 0.6})
    x0, x1 = ax.get_xlim()
    y1, y0 = ax.get_ylim()
    _labels(ax, (x0, x1, y0, y1), "S", "I", "coronal projection; burden in orange",
            "Burden")
    return _data_uri(fig)


def key_images(
    volume: Volume,
    result: AnalysisResult,
    *,
    groups: Mapping[str, Sequence[int]] | None = None,
    options: ImageOptions | None = None,
) -> dict[str, str]:
    """Render the report's key images.

    Parameters
    ----------
    volume : Volume
        The analysed CT.
    result : AnalysisResult
        Its analysis (lesions and label map on the same grid).
    groups : mapping of str to sequence of int, optional
        Lesion groups to show, group id to lesion ids (as ``result.json``'s
        ``groups``). Default: :func:`default_groups`.
    options : ImageOptions, optional
        Sizes and windows.

    Returns
    -------
    dict of str to str
        Group id to the ``data:image/png;base64`` URI of its axial slice, plus
        :data:`MIP_KEY` for the coronal projection of the whole burden. Groups
        without lesion voxels, and groups beyond ``options.max_groups``, get no image.
    """
    opts = options or ImageOptions()
    chosen = dict(groups) if groups is not None else default_groups(result)
    by_id = {les.id: les for les in result.lesions}
    members = {
        key: [by_id[i] for i in ids if i in by_id] for key, ids in chosen.items()
    }
    members = {key: les for key, les in members.items() if les}
    canon = canonical(volume.affine, volume.shape)
    scene = _Scene(canon, canon.array(volume.hu), canon.array(result.label_map))
    images: dict[str, str] = {}
    for key, lesions in list(members.items())[: opts.max_groups]:
        uri = _slice_image(scene, key, lesions, result, opts)
        if uri is not None:
            images[key] = uri
    images[MIP_KEY] = _mip_image(scene, members, opts)
    return images
