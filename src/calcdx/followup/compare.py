"""Follow-up: what changed between two scans of one patient (``calcdx compare``).

``register -> resample the follow-up onto the baseline -> match lesions -> label changes``,
then ``compare.json`` (``calcdx-compare/1``) and ``compare.html`` with side-by-side key
images. :func:`compare_scans` is the pure core over arrays; :func:`compare_studies` and
:func:`compare_analyzed` are the file edges.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calcdx import __version__
from calcdx.errors import InputError
from calcdx.followup.match import (
    CHANGES,
    ChangeConfig,
    LesionChange,
    lesion_snapshots,
    match_lesions,
)
from calcdx.followup.register import (
    RegistrationConfig,
    RegistrationResult,
    register,
    resample_onto,
)

__all__ = [
    "COMPARE_FORMAT",
    "Comparison",
    "ScanLesions",
    "compare_analyzed",
    "compare_scans",
    "compare_studies",
    "write_comparison",
]

COMPARE_FORMAT = "calcdx-compare/1"
#: Most key images in compare.html (changes first, then the largest stable lesions).
MAX_KEY_IMAGES = 12


@dataclass(frozen=True)
class ScanLesions:
    """One scan and its lesions.

    Attributes
    ----------
    hu : (I, J, K) ndarray
        CT values in HU.
    affine : (4, 4) ndarray
        Voxel index -> patient mm (RAS).
    labels : (I, J, K) ndarray of int
        Lesion label map on the same grid (0 = background).
    name : str
        What to call the scan in outputs (its input file name).
    """

    hu: NDArray[Any]
    affine: NDArray[np.float64]
    labels: NDArray[Any]
    name: str


@dataclass(frozen=True)
class Comparison:
    """The outcome of :func:`compare_scans`.

    Attributes
    ----------
    registration : RegistrationResult
    changes : list of LesionChange
    baseline : ScanLesions
    followup_hu_on_baseline, followup_labels_on_baseline : (I, J, K) ndarray
        The follow-up resampled onto the baseline grid (for key images).
    followup_name : str
    threshold_hu : float
    """

    registration: RegistrationResult
    changes: list[LesionChange]
    baseline: ScanLesions
    followup_hu_on_baseline: NDArray[Any]
    followup_labels_on_baseline: NDArray[Any]
    followup_name: str
    threshold_hu: float

    def counts(self) -> dict[str, int]:
        """Number of lesions per status."""
        out = {s: 0 for s in (*CHANGES, "stable", "indeterminate")}
        for change in self.changes:
            out[change.status] += 1
        return out

    def document(self) -> dict[str, Any]:
        """The ``compare.json`` document."""
        return {
            "format": COMPARE_FORMAT,
            "calcdx_version": __version__,
            "baseline": self.baseline.name,
            "followup": self.followup_name,
            "threshold_hu": self.threshold_hu,
            "registration": self.registration.model_dump(),
            "counts": self.counts(),
            "changes": [c.model_dump() for c in self.changes],
        }


def compare_scans(
    baseline: ScanLesions,
    followup: ScanLesions,
    *,
    threshold_hu: float = 130.0,
    registration: RegistrationConfig | None = None,
    change: ChangeConfig | None = None,
) -> Comparison:
    """Register the follow-up onto the baseline, match lesions and label every change.

    Parameters
    ----------
    baseline, followup : ScanLesions
    threshold_hu : float
        Mineral threshold the label maps were made with.
    registration : RegistrationConfig, optional
    change : ChangeConfig, optional

    Returns
    -------
    Comparison
    """
    reg = register(baseline.hu, baseline.affine, followup.hu, followup.affine,
                   config=registration)
    matrix = reg.matrix()
    shape = baseline.hu.shape
    hu_on = resample_onto(followup.hu, followup.affine, shape, baseline.affine, matrix)
    labels_on = resample_onto(followup.labels, followup.affine, shape, baseline.affine, matrix,
                              labels=True)
    spacing = np.concatenate([np.linalg.norm(baseline.affine[:3, :3], axis=0),
                              np.linalg.norm(followup.affine[:3, :3], axis=0)])
    changes = match_lesions(
        lesion_snapshots(baseline.labels, baseline.hu, baseline.affine),
        lesion_snapshots(followup.labels, followup.hu, followup.affine),
        baseline_labels=baseline.labels, baseline_hu=baseline.hu,
        followup_labels_on_baseline=labels_on, followup_hu_on_baseline=hu_on,
        baseline_affine=baseline.affine, baseline_to_followup=matrix,
        voxel_mm=float(np.max([np.prod(spacing[:3]), np.prod(spacing[3:])]) ** (1 / 3)),
        threshold_hu=threshold_hu, config=change,
    )
    return Comparison(reg, changes, baseline, hu_on, labels_on, followup.name, threshold_hu)


def _key_image(comparison: Comparison, change: LesionChange) -> str:
    """Side-by-side axial crops (baseline | registered follow-up) around a lesion, as PNG data."""
    from matplotlib.figure import Figure

    from calcdx.report._orient import canonical

    base = comparison.baseline
    grid = canonical(base.affine, base.hu.shape)
    inverse = np.linalg.inv(base.affine)
    ijk = inverse[:3, :3] @ np.asarray(change.centroid_mm) + inverse[:3, 3]
    x, y, z = (round(float(v)) for v in grid.index(ijk))
    z = int(np.clip(z, 0, grid.shape[2] - 1))
    sx, sy = grid.spacing_mm[0], grid.spacing_mm[1]
    half_x, half_y = int(40 / sx) + 1, int(40 / sy) + 1
    xs = slice(max(x - half_x, 0), min(x + half_x, grid.shape[0]))
    ys = slice(max(y - half_y, 0), min(y + half_y, grid.shape[1]))
    panels = [
        ("baseline", grid.array(base.hu), grid.array(base.labels), change.baseline_id),
        ("follow-up (registered)", grid.array(comparison.followup_hu_on_baseline),
         grid.array(comparison.followup_labels_on_baseline), change.followup_id),
    ]
    fig = Figure(figsize=(6.4, 3.3), dpi=100)
    for n, (title, hu, labels, lesion_id) in enumerate(panels):
        ax = fig.add_subplot(1, 2, n + 1)
        crop = np.asarray(hu[xs, ys, z], dtype=np.float32)
        extent = (xs.start * sx, xs.stop * sx, ys.start * sy, ys.stop * sy)
        ax.imshow(crop.T, cmap="gray", vmin=-200, vmax=1000, origin="lower", extent=extent)
        if lesion_id is not None:
            mask = np.asarray(labels[xs, ys, z] == lesion_id, dtype=np.float32)
            if mask.any():
                ax.contour(mask.T, levels=[0.5], colors="#ff4040", linewidths=1.0,
                           origin="lower", extent=extent)
        ax.invert_xaxis()  # radiological convention: patient's right on the image's left
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{change.status}: baseline #{change.baseline_id or '-'} / follow-up "
                 f"#{change.followup_id or '-'} (axial, R on the left, A at the top)",
                 fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _html(comparison: Comparison) -> str:
    esc = html.escape
    doc = comparison.document()
    rows = []
    for c in comparison.changes:
        def fmt(value: float | None, digits: int = 0) -> str:
            return "" if value is None else f"{value:.{digits}f}"

        rows.append(
            f"<tr class='{esc(c.status)}'><td>{esc(c.status)}"
            f"{' (maturing rim)' if c.maturing else ''}"
            f"</td><td>{c.baseline_id or ''}</td><td>{c.followup_id or ''}</td>"
            f"<td>{fmt(c.baseline_volume_mm3)}</td><td>{fmt(c.followup_volume_mm3)}</td>"
            f"<td>{fmt(c.volume_change_pct, 1)}</td><td>{fmt(c.mean_hu_change)}</td>"
            f"<td>{fmt(c.rim_hu_change)}</td><td>{esc(c.note)}</td></tr>")
    ranked = sorted(comparison.changes, key=lambda c: (c.status not in CHANGES,
                    -(c.baseline_volume_mm3 or c.followup_volume_mm3 or 0.0)))
    images = "".join(
        f"<figure><img alt='{esc(c.status)} lesion' src='{_key_image(comparison, c)}'></figure>"
        for c in ranked[:MAX_KEY_IMAGES])
    reg = comparison.registration
    counts = ", ".join(f"{n} {s}" for s, n in doc["counts"].items())
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>calcdx follow-up: {esc(comparison.baseline.name)} vs {esc(comparison.followup_name)}</title>
<style>body{{font-family:sans-serif;max-width:70em;margin:1em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px;font-size:90%}}
tr.new td:first-child,tr.grown td:first-child{{color:#b00}}
tr.resolved td:first-child,tr.shrunk td:first-child{{color:#060}}
figure{{display:inline-block;margin:4px}}</style></head><body>
<h1>Follow-up comparison</h1>
<p>Baseline <b>{esc(comparison.baseline.name)}</b>,
follow-up <b>{esc(comparison.followup_name)}</b>.
Not a medical device; not for clinical use.</p>
<p>Lesions: {esc(counts)}.</p>
<p>Registration ({esc(reg.kind)}, SimpleITK, Mattes mutual information): rotation
{reg.rotation_deg:.1f} degrees, translation {', '.join(f'{v:.1f}' for v in reg.translation_mm)} mm;
{esc(reg.stop_condition)}.</p>
<table><tr><th>status</th><th>baseline id</th><th>follow-up id</th><th>baseline mm<sup>3</sup></th>
<th>follow-up mm<sup>3</sup></th><th>volume change %</th><th>mean HU change</th>
<th>rim HU change</th><th>note</th></tr>{''.join(rows)}</table>
<h2>Key images</h2>{images}
</body></html>"""


def write_comparison(
    comparison: Comparison, out_dir: str | Path, *, overwrite: bool = False
) -> dict[str, Path]:
    """Write ``compare.json`` and ``compare.html`` into ``out_dir``, all at once.

    The files are written into a temporary folder beside ``out_dir`` that is renamed into
    place at the end, so an interrupted run leaves no folder that looks complete.

    Raises
    ------
    InputError
        If ``out_dir`` exists and ``overwrite`` is false.
    """
    out = Path(out_dir)
    if out.exists() and not overwrite:
        raise InputError(f"{out}: the output folder exists; choose another or pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.parent / f".partial-{out.name}-{uuid.uuid4().hex[:8]}"
    partial.mkdir()
    try:
        (partial / "compare.json").write_text(
            json.dumps(comparison.document(), indent=1), encoding="utf-8")
        (partial / "compare.html").write_text(_html(comparison), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        os.replace(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return {"json": out / "compare.json", "report": out / "compare.html"}


def compare_studies(
    baseline_path: str | Path, followup_path: str | Path, *,
    parameters: Any = None, registration: RegistrationConfig | None = None,
    change: ChangeConfig | None = None,
) -> Comparison:
    """Read and analyse two studies (DICOM or NIfTI), then :func:`compare_scans`."""
    from calcdx.analysis import AnalysisParameters, analyze_volume
    from calcdx.io import read_volume

    parameters = parameters or AnalysisParameters()
    scans = []
    for path in (baseline_path, followup_path):
        volume = read_volume(path)
        result = analyze_volume(volume, parameters)
        scans.append(ScanLesions(volume.hu, volume.affine, result.label_map, Path(path).name))
    return compare_scans(scans[0], scans[1], threshold_hu=parameters.threshold_hu,
                         registration=registration, change=change)


def compare_analyzed(
    baseline_input: str | Path, baseline_dir: str | Path,
    followup_input: str | Path, followup_dir: str | Path, *,
    registration: RegistrationConfig | None = None, change: ChangeConfig | None = None,
) -> Comparison:
    """Compare two studies already analysed (``analyze`` output folders and their inputs)."""
    import nibabel as nib

    from calcdx.io import read_volume

    scans = []
    threshold = 130.0
    for source, folder in ((baseline_input, baseline_dir), (followup_input, followup_dir)):
        volume = read_volume(source)
        labels_file = Path(folder) / "lesions.nii.gz"
        if not labels_file.is_file():
            raise InputError(f"{folder}: no lesions.nii.gz; analyse the study first")
        labels = np.asarray(nib.load(labels_file).dataobj)  # type: ignore[attr-defined]
        if labels.shape != volume.hu.shape:
            raise InputError(f"{labels_file}: label map grid {labels.shape} differs from the "
                             f"study's {volume.hu.shape}; analyse the study again")
        result = json.loads((Path(folder) / "result.json").read_text(encoding="utf-8"))
        threshold = float(result.get("parameters", {}).get("threshold_hu", threshold))
        scans.append(ScanLesions(volume.hu, volume.affine, labels, Path(source).name))
    return compare_scans(scans[0], scans[1], threshold_hu=threshold,
                         registration=registration, change=change)
