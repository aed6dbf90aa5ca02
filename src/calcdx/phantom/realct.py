"""Score an analysis of a real CT against TotalSegmentator's anatomy.

TotalSegmentator (Wasserthal et al., Radiology: Artificial Intelligence 2023,
doi:10.1148/ryai.230024) labels the skeleton of a CT independently of calcdx;
its ``total`` task labels are the reference here.

Measures
--------
* ``pct_in_bone``: share of reported lesion voxels inside the bone classes
  (:data:`BONE_PREFIXES`; costal cartilage is not bone).
* ``reference_mm3``: mineral (HU >= 130) inside the body, outside the bone
  classes dilated by one voxel (26-neighbourhood). In a contrast-enhanced scan,
  mineral inside a blood-pool or organ label counts only when denser than that
  label's median + 150 HU (calcified wall plaque is denser than the lumen).
  ``ratio`` = reported lesion volume / reference.
* ``dice``: skeleton Dice between calcdx's filled bone mask and the union of
  the bone classes.
* ``costal_reference_mm3`` / ``costal_reported_mm3``: mineral, and reported
  lesion volume, inside the costal-cartilage label (a normal finding in
  adults, reported apart from lesions of interest).
* ``strict_reference_mm3`` / ``strict_ratio``: the reference without what is
  provably bone or blood that TotalSegmentator left unlabelled, the same rules
  for every scan (``ratio`` and ``reference_mm3`` stay as above, side by side):

  - *unlabelled bone* (``unlabelled_bone_mm3``): reference voxels in no label,
    26-connected to the bone classes (dilated one voxel) through unlabelled
    mineral at least as dense as the median of the mineral inside the bone
    classes (cortex-like: the denser half of the labelled skeleton's own
    mineral) and not within one voxel of an enhancing label (a vessel's wall:
    aortic plaque on the spine stays in), with their one-voxel partial-volume
    rim, as the labelled bone's;
  - *blood* (``lumen_contiguous_mm3``, contrast scans only): reference voxels
    in no label, 26-connected to an enhancing label through unlabelled mineral
    under that label's plaque threshold (median + 150 HU): the lumen or content
    of the vessel or organ running on past the label's edge, as dense as it.

The body is the largest 26-connected region of HU >= -400 after per-slice hole
filling (the table is separate from it); this definition is the scorer's own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cc3d
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict
from scipy import ndimage as ndi

from calcdx.errors import InputError

__all__ = [
    "BONE_PREFIXES",
    "SHARED_SCANS",
    "RealCtScore",
    "ScanOutcome",
    "SharedScan",
    "bone_class_ids",
    "labels_on_grid",
    "load_class_table",
    "reference_body",
    "run_shared_scan",
    "score_against_labels",
]

#: TotalSegmentator ``total`` class-name prefixes that are bone.
BONE_PREFIXES: tuple[str, ...] = (
    "vertebrae_", "rib_", "sternum", "skull", "hip_", "femur_", "humerus_", "scapula_",
    "clavicula_", "sacrum",
)

#: Class-name prefixes of blood pools and enhancing organs (contrast scans).
ENHANCING_PREFIXES: tuple[str, ...] = (
    "aorta", "heart", "pulmonary_", "brachiocephalic_", "subclavian_", "common_carotid_",
    "atrial_appendage_", "superior_vena_cava", "inferior_vena_cava", "portal_vein",
    "iliac_", "spleen", "liver", "kidney_", "pancreas", "stomach", "small_bowel",
    "duodenum", "colon", "adrenal_gland_",
)

#: Median + this (HU) is the plaque rule inside enhancing labels.
PLAQUE_DELTA_HU = 150.0


class RealCtScore(BaseModel):
    """One scan's figures against its reference labels."""

    model_config = ConfigDict(frozen=True)

    n_lesions: int
    reported_mm3: float
    reference_mm3: float
    ratio: float | None
    pct_in_bone: float | None
    dice: float | None
    costal_reference_mm3: float
    costal_reported_mm3: float
    unlabelled_bone_mm3: float = 0.0
    lumen_contiguous_mm3: float = 0.0
    strict_reference_mm3: float = 0.0
    strict_ratio: float | None = None


def load_class_table(path: str | Path) -> dict[int, str]:
    """Read TotalSegmentator's class table (JSON ``{"id": "name"}``).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict of int to str
    """
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the class table {path}: {exc}; give its JSON") from None
    return {int(k): str(v) for k, v in raw.items()}


def bone_class_ids(classes: dict[int, str]) -> list[int]:
    """Ids of the bone classes (see :data:`BONE_PREFIXES`)."""
    return sorted(i for i, name in classes.items() if name.startswith(BONE_PREFIXES))


def labels_on_grid(
    labels: NDArray[np.integer[Any]],
    label_affine: NDArray[np.float64],
    affine: NDArray[np.float64],
    shape: tuple[int, int, int],
) -> NDArray[np.int16]:
    """Nearest-neighbour resampling of a label image onto another grid.

    Parameters
    ----------
    labels : (A, B, C) ndarray of int
    label_affine : (4, 4) ndarray
        Voxel-to-world affine of `labels`.
    affine : (4, 4) ndarray
        Voxel-to-world affine of the target grid.
    shape : tuple of int
        Target grid shape.

    Returns
    -------
    (I, J, K) ndarray of int16
        Labels on the target grid (0 outside the label image).
    """
    m = np.linalg.inv(label_affine) @ affine
    out = np.zeros(shape, dtype=np.int16)
    lab_shape = np.asarray(labels.shape)[:, None]
    ii, jj = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    plane = np.stack([ii.ravel(), jj.ravel(), np.zeros(ii.size)]).astype(np.float64)
    for k in range(shape[2]):
        plane[2] = k
        p = np.rint(m[:3, :3] @ plane + m[:3, 3:]).astype(np.intp)
        ok = np.all((p >= 0) & (p < lab_shape), axis=0)
        sl = np.zeros(ii.size, dtype=np.int16)
        sl[ok] = labels[p[0, ok], p[1, ok], p[2, ok]]
        out[:, :, k] = sl.reshape(shape[0], shape[1])
    return out


def reference_body(hu: NDArray[Any]) -> NDArray[np.bool_]:
    """The scorer's body: largest 26-connected region of HU >= -400, holes filled per slice.

    Parameters
    ----------
    hu : (I, J, K) ndarray

    Returns
    -------
    (I, J, K) ndarray of bool
    """
    lab = cc3d.connected_components(np.asarray(hu >= -400), connectivity=26)
    counts = np.bincount(lab.ravel())
    counts[0] = 0
    body: NDArray[np.bool_] = np.asarray(lab == int(np.argmax(counts)))
    for k in range(body.shape[2]):
        body[:, :, k] = ndi.binary_fill_holes(body[:, :, k])
    return body


def score_against_labels(
    hu: NDArray[Any],
    voxel_volume_mm3: float,
    lesion_map: NDArray[np.integer[Any]],
    bone: NDArray[np.bool_],
    labels: NDArray[np.integer[Any]],
    classes: dict[int, str],
    *,
    enhanced: bool,
) -> RealCtScore:
    """Compare an analysis with reference labels on the same grid.

    Parameters
    ----------
    hu : (I, J, K) ndarray
        CT in HU.
    voxel_volume_mm3 : float
    lesion_map : (I, J, K) ndarray of int
        Reported lesion ids (0 = none).
    bone : (I, J, K) ndarray of bool
        calcdx's filled skeleton.
    labels : (I, J, K) ndarray of int
        TotalSegmentator ``total`` labels on the same grid.
    classes : dict of int to str
        Class table.
    enhanced : bool
        Whether the scan is contrast-enhanced (known fact of the scan).

    Returns
    -------
    RealCtScore
    """
    ref_bone = np.isin(labels, bone_class_ids(classes))
    reported = lesion_map > 0
    n_rep = int(np.count_nonzero(reported))
    mineral = np.asarray(hu >= 130) & reference_body(hu)
    grown = ndi.maximum_filter(ref_bone.view(np.uint8), size=3).view(bool)
    outside = mineral & ~grown
    lumens: list[tuple[NDArray[np.bool_], float]] = []
    if enhanced:
        for cid, name in classes.items():
            if not name.startswith(ENHANCING_PREFIXES):
                continue
            inside = labels == cid
            if not inside.any():
                continue
            median = float(np.median(hu[inside]))
            outside &= ~(inside & (hu < median + PLAQUE_DELTA_HU))
            lumens.append((inside, median + PLAQUE_DELTA_HU))
    unlabelled = outside & (labels == 0)
    # never the wall of an enhancing label (aortic plaque lying on the spine)
    walls = np.zeros_like(unlabelled)
    for inside, _ in lumens:
        walls |= ndi.maximum_filter(inside.view(np.uint8), size=3).view(bool)
    bone_like = _joined(unlabelled & ~walls & (hu >= float(np.median(hu[ref_bone & mineral])))
                        if (ref_bone & mineral).any() else np.zeros_like(unlabelled), grown)
    bone_like = unlabelled & ndi.maximum_filter(bone_like.view(np.uint8), size=3).view(bool)
    blood = np.zeros_like(unlabelled)
    for inside, plaque_hu in lumens:
        blood |= _joined(unlabelled & ~bone_like & (hu < plaque_hu), inside)
    strict = outside & ~bone_like & ~blood
    costal = np.isin(labels, [i for i, n in classes.items() if n == "costal_cartilages"])
    reference = float(np.count_nonzero(outside)) * voxel_volume_mm3
    strict_mm3 = float(np.count_nonzero(strict)) * voxel_volume_mm3
    reported_mm3 = n_rep * voxel_volume_mm3
    denom = int(np.count_nonzero(bone)) + int(np.count_nonzero(ref_bone))
    return RealCtScore(
        n_lesions=len(np.unique(lesion_map[reported])),
        reported_mm3=reported_mm3,
        reference_mm3=reference,
        ratio=reported_mm3 / reference if reference > 0 else None,
        pct_in_bone=100.0 * np.count_nonzero(reported & ref_bone) / n_rep if n_rep else None,
        dice=2.0 * np.count_nonzero(bone & ref_bone) / denom if denom else None,
        costal_reference_mm3=float(np.count_nonzero(outside & costal)) * voxel_volume_mm3,
        costal_reported_mm3=float(np.count_nonzero(reported & costal)) * voxel_volume_mm3,
        unlabelled_bone_mm3=float(np.count_nonzero(bone_like)) * voxel_volume_mm3,
        lumen_contiguous_mm3=float(np.count_nonzero(blood)) * voxel_volume_mm3,
        strict_reference_mm3=strict_mm3,
        strict_ratio=reported_mm3 / strict_mm3 if strict_mm3 > 0 else None,
    )


def _joined(mask: NDArray[np.bool_], seed: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Voxels of `mask` 26-connected, through `mask`, to `seed` (seed voxels excluded)."""
    lab = cc3d.connected_components(mask | seed, connectivity=26)
    hit = np.zeros(int(lab.max()) + 1, dtype=bool)
    hit[np.unique(lab[seed])] = True
    hit[0] = False
    return np.asarray(mask & hit[lab], dtype=bool)


class SharedScan(BaseModel):
    """One scan of the shared real-CT folder and its known facts (from its README)."""

    model_config = ConfigDict(frozen=True)

    name: str
    labels: str | None = None
    enhanced: bool | None = None


#: The shared scans; ``enhanced`` is the phase stated in the folder's README
#: (TotalSegmentator phase prediction, DICOM header, CTA), None when not stated.
SHARED_SCANS: tuple[SharedScan, ...] = (
    SharedScan(name="ts_abdomen_native_3mm.nii.gz",
               labels="ts_abdomen_native_3mm_totalseg.nii.gz", enhanced=False),
    SharedScan(name="ts_chest_abdomen_dicom",
               labels="ts_chest_abdomen_dicom_totalseg.nii.gz", enhanced=True),
    SharedScan(name="ts_chest_cta_1p5mm.nii.gz", enhanced=True),
    SharedScan(name="dcmqa_ge_head_tilt"),
)

#: File name of the class table in the shared folder.
CLASS_TABLE = "totalseg_total_classes.json"


class ScanOutcome(BaseModel):
    """What the analysis of one shared scan gave."""

    model_config = ConfigDict(frozen=True)

    name: str
    error: str | None = None
    n_lesions: int | None = None
    volume_mm3: float | None = None
    enhanced: bool | None = None
    contrast_right: bool | None = None
    score: RealCtScore | None = None


def run_shared_scan(folder: str | Path, scan: SharedScan) -> ScanOutcome:
    """Analyse one shared scan and score it against its labels (when it has some).

    Parameters
    ----------
    folder : str or Path
        The shared real-CT folder.
    scan : SharedScan

    Returns
    -------
    ScanOutcome
        ``error`` holds the one-line message of a refused scan.
    """
    import nibabel as nib

    from calcdx.analysis import analyze_volume
    from calcdx.errors import CalcdxError
    from calcdx.io import read_volume
    from calcdx.lesions.detect import detect_lesions

    folder = Path(folder)
    try:
        volume = read_volume(folder / scan.name)
        result = analyze_volume(volume)
    except CalcdxError as exc:
        return ScanOutcome(name=scan.name, error=str(exc))
    enhanced = result.contrast.enhanced
    score = None
    if scan.labels is not None:
        image: Any = nib.load(folder / scan.labels)
        labels = labels_on_grid(np.asarray(image.dataobj), image.affine, volume.affine,
                                volume.shape)
        bone = detect_lesions(volume.hu, volume.affine, result.parameters).bone
        vv = float(abs(np.linalg.det(volume.affine[:3, :3])))
        score = score_against_labels(
            volume.hu, vv, result.label_map, bone.full(volume.shape), labels,
            load_class_table(folder / CLASS_TABLE), enhanced=bool(scan.enhanced),
        )
    return ScanOutcome(
        name=scan.name, n_lesions=result.totals.n_lesions, volume_mm3=result.totals.volume_mm3,
        enhanced=enhanced,
        contrast_right=None if scan.enhanced is None else enhanced == scan.enhanced,
        score=score,
    )
