"""Read TotalSegmentator's anatomy and put it on the CT grid (``calcdx analyze --anatomy``).

Inputs
------
* a multi-label NIfTI (``TotalSegmentator --ml``): voxel value = class id of
  the v2 ``total`` table (:func:`calcdx.anatomy.classes.total_classes`);
* a folder of per-class masks, ``<class>.nii.gz`` (TotalSegmentator's default
  output); a mask whose name is not in the table gets an id above it;
* a DICOM SEG (``--output_type dicom_seg``): segments named by their
  SegmentLabel (class names), frames placed by their ImagePositionPatient.

The labels are placed on the CT grid by nearest neighbour through both affines
(world RAS+ mm), whatever either file's orientation; labels that do not
overlap the CT are refused.

Rules on the CT grid
--------------------
* Bone: the bone classes grown by one voxel (26-neighbourhood): the cortex's
  partial-volume fringe just outside TotalSegmentator's outline is bone too.
* Lumen and parenchyma: in a contrast-enhanced study, voxels of a vessel,
  heart or organ label (bowel and lung excepted) less dense than that label's
  median + ``plaque_delta_hu`` (150 HU) are enhanced blood or parenchyma, not
  mineral; denser ones (wall plaque, stones) stay candidates. In a native study
  these labels exclude nothing: blood and parenchyma lie below the threshold.
* Lesion anatomy: the label holding most of a lesion's voxels (bone classes
  aside), else the label most of its face neighbours touch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict
from scipy import ndimage as ndi

from calcdx.anatomy.classes import BONE_KINDS, Structure, structure_of, total_classes
from calcdx.errors import InputError
from calcdx.volume import LPS_TO_RAS

__all__ = ["AnatomyHit", "AnatomyLabels", "load_anatomy", "resample_labels"]

#: SOP Class UID of DICOM Segmentation Storage.
SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
#: Kinds whose sub-plaque voxels are enhanced lumen or parenchyma in a contrast study.
_ENHANCING_KINDS = frozenset({"artery", "vein", "heart", "organ"})
_FACES = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]],
                  dtype=np.int64)


class AnatomyHit(BaseModel):
    """The anatomical structure a lesion lies in or touches.

    Attributes
    ----------
    structure : str
        TotalSegmentator class name.
    kind : str
        Structure kind (:class:`calcdx.anatomy.classes.Structure`).
    organ, location, region : str or None
        Case-format values the lesion carries.
    inside_fraction : float
        Fraction of the lesion's voxels inside the label (0 when only touching).
    """

    model_config = ConfigDict(frozen=True)

    structure: str
    kind: str
    organ: str | None = None
    location: str | None = None
    region: str | None = None
    inside_fraction: float


@dataclass(frozen=True)
class AnatomyLabels:
    """Anatomy labels on the CT grid.

    Attributes
    ----------
    labels : (I, J, K) ndarray of int16
        Class id per CT voxel, 0 outside every label.
    classes : dict of int to str
        Class names by id.
    source : str
        What was read (kind and file name).
    coverage : float
        Fraction of the CT grid the label image covers.
    notes : list of str
    """

    labels: NDArray[np.int16]
    classes: dict[int, str]
    source: str
    coverage: float
    notes: list[str] = field(default_factory=list)

    def structure(self, class_id: int) -> Structure:
        """The :class:`Structure` of a class id."""
        return structure_of(self.classes.get(int(class_id), f"label_{class_id}"))

    def ids_of_kinds(self, kinds: frozenset[str]) -> list[int]:
        """Class ids of the table whose structure is of one of `kinds`."""
        return sorted(c for c, name in self.classes.items() if structure_of(name).kind in kinds)

    def at(self, ijk: NDArray[np.integer[Any]]) -> NDArray[np.int16]:
        """Class ids at full-grid voxels (0 outside the grid)."""
        ijk = np.asarray(ijk, dtype=np.int64)
        shape = np.asarray(self.labels.shape)
        ok = np.all((ijk >= 0) & (ijk < shape), axis=1)
        out = np.zeros(len(ijk), dtype=np.int16)
        out[ok] = self.labels[ijk[ok, 0], ijk[ok, 1], ijk[ok, 2]]
        return out

    def bone_grown(self) -> NDArray[np.bool_]:
        """Bone classes grown by one voxel (26-neighbourhood), on the CT grid."""
        bone = np.isin(self.labels, self.ids_of_kinds(BONE_KINDS))
        if not bone.any():
            return bone
        boxes = ndi.find_objects(bone.view(np.uint8))
        box = boxes[0]
        assert box is not None
        grow = tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n))
                     for s, n in zip(box, bone.shape, strict=True))
        out = np.zeros_like(bone)
        out[grow] = ndi.maximum_filter(bone[grow].view(np.uint8), size=3).view(bool)
        return out

    def lumen_exclusion(
        self, ijk: NDArray[np.integer[Any]], hu: NDArray[Any], full_hu: NDArray[Any], *,
        enhanced: bool, plaque_delta_hu: float = 150.0,
    ) -> NDArray[np.bool_]:
        """Which candidate voxels are enhanced lumen or parenchyma (see the module rules).

        Parameters
        ----------
        ijk : (N, 3) ndarray of int
            Candidate voxels.
        hu : (N,) ndarray
            Their HU.
        full_hu : (I, J, K) ndarray
            The CT, for each label's median.
        enhanced : bool
            Contrast-enhanced study.
        plaque_delta_hu : float
            Excess over the label's median that makes a voxel mineral (HU).

        Returns
        -------
        (N,) ndarray of bool
        """
        out = np.zeros(len(ijk), dtype=bool)
        if not enhanced or len(ijk) == 0:
            return out
        cls = self.at(ijk)
        for c in np.unique(cls):
            if c == 0 or self.structure(int(c)).kind not in _ENHANCING_KINDS:
                continue
            median = float(np.median(full_hu[self.labels == c]))
            sel = cls == c
            out[sel] = hu[sel] < median + plaque_delta_hu
        return out

    def hit(self, ijk: NDArray[np.integer[Any]]) -> AnatomyHit | None:
        """The structure a lesion lies in, else touches (bone classes aside).

        Parameters
        ----------
        ijk : (N, 3) ndarray of int
            The lesion's voxels.

        Returns
        -------
        AnatomyHit or None
        """
        bone = set(self.ids_of_kinds(BONE_KINDS))

        def best(ids: NDArray[np.int16]) -> tuple[int, int] | None:
            counts = np.bincount(ids[ids > 0].astype(np.int64))
            for c in bone:
                if c < len(counts):
                    counts[c] = 0
            if counts.size == 0 or counts.max() == 0:
                return None
            return int(np.argmax(counts)), int(counts.max())

        inside = best(self.at(ijk))
        frac = 0.0
        if inside is not None:
            cid, n = inside
            frac = n / len(ijk)
        else:
            shifted = (np.asarray(ijk, dtype=np.int64)[None, :, :] + _FACES[:, None, :])
            touch = best(self.at(shifted.reshape(-1, 3)))
            if touch is None:
                return None
            cid = touch[0]
        s = self.structure(cid)
        return AnatomyHit(structure=s.name, kind=s.kind, organ=s.organ, location=s.location,
                          region=s.region, inside_fraction=round(frac, 4))


def resample_labels(
    labels: NDArray[np.integer[Any]],
    label_affine: NDArray[np.float64],
    affine: NDArray[np.float64],
    shape: tuple[int, int, int],
) -> tuple[NDArray[np.int16], float]:
    """Nearest-neighbour resampling of a label image onto the CT grid.

    Parameters
    ----------
    labels : (A, B, C) ndarray of int
    label_affine : (4, 4) ndarray
        Voxel-to-RAS+ affine of `labels` (mm).
    affine : (4, 4) ndarray
        Voxel-to-RAS+ affine of the CT (mm).
    shape : tuple of int
        CT grid shape.

    Returns
    -------
    labels_ct : (I, J, K) ndarray of int16
        Labels on the CT grid (0 outside the label image).
    coverage : float
        Fraction of CT voxels that fall inside the label image.
    """
    m = np.linalg.inv(label_affine) @ affine
    if labels.shape == shape and np.allclose(m, np.eye(4), atol=1e-3):
        return np.asarray(labels, dtype=np.int16), 1.0
    out = np.zeros(shape, dtype=np.int16)
    lab_shape = np.asarray(labels.shape)[:, None]
    ii, jj = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    plane = np.stack([ii.ravel(), jj.ravel(), np.zeros(ii.size)]).astype(np.float64)
    covered = 0
    for k in range(shape[2]):
        plane[2] = k
        p = np.rint(m[:3, :3] @ plane + m[:3, 3:]).astype(np.intp)
        ok = np.all((p >= 0) & (p < lab_shape), axis=0)
        covered += int(ok.sum())
        sl = np.zeros(ii.size, dtype=np.int16)
        sl[ok] = labels[p[0, ok], p[1, ok], p[2, ok]]
        out[:, :, k] = sl.reshape(shape[0], shape[1])
    return out, covered / float(np.prod(shape))


def _nifti(path: Path) -> tuple[NDArray[Any], NDArray[np.float64]]:
    import nibabel as nib

    try:
        image: Any = nib.load(path)
        data = np.asarray(image.dataobj)
    except Exception as exc:  # nibabel raises many types for a bad file
        raise InputError(f"{path}: cannot read the anatomy NIfTI ({exc}); give "
                         "TotalSegmentator's output") from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputError(f"{path}: anatomy labels must be 3-D, got shape {data.shape}")
    if np.issubdtype(data.dtype, np.floating):
        if not np.all(np.isfinite(data)) or np.any(data != np.round(data)):
            raise InputError(f"{path}: anatomy labels must be integer class ids (this holds "
                             "non-integer values; is it a CT rather than its labels?)")
    return data, np.asarray(image.affine, dtype=np.float64)


def _read_folder(folder: Path, classes: dict[int, str]
                 ) -> tuple[list[tuple[int, NDArray[Any], NDArray[np.float64]]], dict[int, str]]:
    files = sorted(p for p in folder.iterdir() if p.name.endswith((".nii.gz", ".nii")))
    if not files:
        raise InputError(f"{folder}: no <class>.nii.gz masks in this folder; give "
                         "TotalSegmentator's output folder or its multi-label NIfTI")
    by_name = {name.lower(): cid for cid, name in classes.items()}
    names = dict(classes)
    extra = max(classes) + 1
    masks = []
    for path in files:
        name = path.name.removesuffix(".gz").removesuffix(".nii")
        cid = by_name.get(name.lower())
        if cid is None:
            cid, extra = extra, extra + 1
            names[cid] = name
        data, aff = _nifti(path)
        masks.append((cid, data, aff))
    return masks, names


def _read_seg(path: Path, affine: NDArray[np.float64], shape: tuple[int, int, int],
              classes: dict[int, str]) -> tuple[NDArray[np.int16], float, dict[int, str]]:
    import pydicom

    ds = pydicom.dcmread(path)
    if str(getattr(ds, "SOPClassUID", "")) != SEG_SOP_CLASS:
        raise InputError(f"{path}: not a DICOM SEG (SOP class "
                         f"{getattr(ds, 'SOPClassUID', 'missing')}); give a Segmentation object")
    by_name = {name.lower(): cid for cid, name in classes.items()}
    names = dict(classes)
    extra = max(classes) + 1
    seg_to_class: dict[int, int] = {}
    for item in ds.SegmentSequence:
        label = str(getattr(item, "SegmentLabel", "") or getattr(item, "SegmentDescription", ""))
        key = label.strip().replace(" ", "_")
        cid = by_name.get(key.lower())
        if cid is None:
            cid, extra = extra, extra + 1
            names[cid] = key or f"segment_{item.SegmentNumber}"
        seg_to_class[int(item.SegmentNumber)] = cid
    frames = np.asarray(ds.pixel_array)
    if frames.ndim == 2:
        frames = frames[None]
    if str(getattr(ds, "SegmentationType", "BINARY")) == "FRACTIONAL":
        frames = frames > (int(getattr(ds, "MaximumFractionalValue", 255)) / 2)
    shared = ds.SharedFunctionalGroupsSequence[0]
    inv = np.linalg.inv(affine)
    out = np.zeros(shape, dtype=np.int16)
    shape_arr = np.asarray(shape)
    n_placed = n_total = 0
    for f, group in enumerate(ds.PerFrameFunctionalGroupsSequence):

        def pick(attr: str, g: Any = group) -> Any:
            return getattr(g, attr, None) or getattr(shared, attr)

        ipp = np.asarray(pick("PlanePositionSequence")[0].ImagePositionPatient, dtype=float)
        iop = np.asarray(pick("PlaneOrientationSequence")[0].ImageOrientationPatient, dtype=float)
        dr, dc = (float(v) for v in pick("PixelMeasuresSequence")[0].PixelSpacing)
        seg_no = int(group.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        rows, cols = np.nonzero(frames[f])
        n_total += len(rows)
        if len(rows) == 0:
            continue
        lps = ipp[None, :] + cols[:, None] * dc * iop[None, :3] + rows[:, None] * dr * iop[None, 3:]
        ras = lps @ LPS_TO_RAS[:3, :3].T
        ijk = np.rint(ras @ inv[:3, :3].T + inv[:3, 3]).astype(np.int64)
        ok = np.all((ijk >= 0) & (ijk < shape_arr), axis=1)
        n_placed += int(ok.sum())
        out[ijk[ok, 0], ijk[ok, 1], ijk[ok, 2]] = seg_to_class[seg_no]
    coverage = n_placed / n_total if n_total else 0.0
    return out, coverage, names


def _describe_grid(affine: NDArray[np.float64], shape: tuple[int, ...]) -> str:
    corners = np.array([[a, b, c] for a in (0, shape[0] - 1) for b in (0, shape[1] - 1)
                        for c in (0, shape[2] - 1)], dtype=float)
    world = corners @ affine[:3, :3].T + affine[:3, 3]
    lo, hi = world.min(axis=0), world.max(axis=0)
    return " x ".join(f"{a:.0f}..{b:.0f}" for a, b in zip(lo, hi, strict=True)) + " mm"


def load_anatomy(path: str | Path, affine: NDArray[np.float64], shape: tuple[int, int, int]
                 ) -> AnatomyLabels:
    """Read TotalSegmentator's output and place it on the CT grid.

    Parameters
    ----------
    path : str or Path
        Multi-label NIfTI, folder of ``<class>.nii.gz`` masks, or DICOM SEG.
    affine : (4, 4) ndarray
        The CT's voxel-to-RAS+ affine (mm).
    shape : tuple of int
        The CT grid shape.

    Returns
    -------
    AnatomyLabels

    Raises
    ------
    InputError
        If the path cannot be read as one of the three forms, or the labels do
        not overlap the CT.
    """
    path = Path(path)
    classes = total_classes()
    notes: list[str] = []
    if not path.exists():
        raise InputError(f"{path}: no such anatomy file or folder")
    if path.is_dir():
        masks, names = _read_folder(path, classes)
        labels = np.zeros(shape, dtype=np.int16)
        coverage = 0.0
        for cid, data, aff in masks:
            on_grid, coverage = resample_labels((data > 0).astype(np.uint8), aff, affine, shape)
            labels[on_grid > 0] = cid
        source, grid = f"folder of {len(masks)} TotalSegmentator masks ({path.name})", (
            masks[0][2], masks[0][1].shape)
    elif path.name.endswith((".nii", ".nii.gz")):
        data, aff = _nifti(path)
        names = dict(classes)
        unknown = sorted(set(np.unique(data).astype(int).tolist()) - set(classes) - {0})
        if unknown:
            raise InputError(f"{path}: label values {unknown[:5]} are not TotalSegmentator v2 "
                             "'total' class ids (1-117); give the 'total' task's multi-label "
                             "output")
        labels, coverage = resample_labels(data.astype(np.int16), aff, affine, shape)
        source, grid = f"TotalSegmentator multi-label NIfTI ({path.name})", (aff, data.shape)
    else:
        labels, coverage, names = _read_seg(path, affine, shape, classes)
        source, grid = f"DICOM SEG ({path.name})", None
    if not labels.any():
        where = (f"labels span {_describe_grid(grid[0], grid[1])}" if grid is not None
                 else "no segment frame falls on it")
        raise InputError(
            f"{path}: the anatomy does not overlap the CT (CT spans "
            f"{_describe_grid(affine, shape)}; {where}); give TotalSegmentator's output for "
            "this series")
    if coverage < 0.5:
        notes.append(f"the anatomy labels cover only {coverage:.0%} of the CT; lesions outside "
                     "them carry no anatomy")
    return AnatomyLabels(labels=labels, classes=names, source=source, coverage=coverage,
                         notes=notes)
