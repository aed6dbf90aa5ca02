"""Read a CT series from DICOM files: find the series, order the slices, decode HU.

Files are found recursively; anything pydicom cannot parse (readme files,
DICOMDIR, thumbnails) is skipped as long as some DICOM images remain. Images are
grouped by SeriesInstanceUID; single-frame and enhanced multi-frame images both
become a list of slices. Decoding goes through pydicom's pixel handlers, so every
transfer syntax pydicom and pylibjpeg decode works (JPEG lossless, JPEG 2000,
JPEG-LS, RLE, deflated). Patient identifiers are never copied into metadata.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from calcdx.case.patient import patient_from_header
from calcdx.errors import StudyError
from calcdx.io._geometry import StackGeometry, orientation_label, stack_geometry
from calcdx.io._kernel import kernel_sharpness
from calcdx.io._limits import MAX_COMPRESSION, check_voxel_count
from calcdx.io._resample import resample_stack
from calcdx.volume import LPS_TO_RAS, Volume

__all__ = ["SeriesInfo", "list_dicom_series", "read_dicom", "read_series_headers"]

_MAX_WARNINGS = 20
_INT16 = np.iinfo(np.int16)


@dataclass(frozen=True)
class SeriesInfo:
    """Summary of one DICOM series (what ``calcdx series PATH`` lists).

    Attributes
    ----------
    uid : str
        SeriesInstanceUID.
    modality : str
        Modality, e.g. ``"CT"``.
    description : str
        SeriesDescription (may be empty).
    n_slices : int
        Number of image slices (frames of multi-frame images included).
    image_type : tuple of str
        ImageType values of the first image.
    orientation : str
        ``"axial"``, ``"coronal"``, ``"sagittal"``, ``"oblique"`` or ``"unknown"``.
    study_uid : str
        StudyInstanceUID.
    n_files : int
        Number of files holding the series.
    kernel : str
        ConvolutionKernel of the first image (values joined by backslashes; may be
        empty).
    """

    uid: str
    modality: str
    description: str
    n_slices: int
    image_type: tuple[str, ...]
    orientation: str
    study_uid: str
    n_files: int
    kernel: str = ""


@dataclass(frozen=True)
class _Slice:
    """One 2-D image: a single-frame file or one frame of a multi-frame file."""

    path: Path
    frame: int | None
    position: tuple[float, ...] | None
    orientation: tuple[float, ...] | None
    pixel_spacing: tuple[float, ...] | None
    slope: float
    intercept: float
    thickness: float = float("nan")


@dataclass
class _Series:
    uid: str
    header: Dataset
    slices: list[_Slice]
    files: set[Path]
    dims: dict[Path, tuple[int, int]] = field(default_factory=dict)
    #: files whose ImageType says LOCALIZER (scout, surview, topogram: a projection)
    localizers: set[Path] = field(default_factory=set)
    #: Secondary Capture pictures without a place in the patient (screenshots, dose and
    #: exam summaries): see :func:`_is_picture`
    captures: set[Path] = field(default_factory=set)


#: Secondary Capture image storage SOP classes (DICOM PS3.4 B.5): images converted or
#: captured from elsewhere, whose IOD needs no patient geometry.
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def _is_localizer(ds: Dataset) -> bool:
    """ImageType value 3 (or any value) is LOCALIZER: a scout projection, not a slice."""
    return "LOCALIZER" in [str(v).upper() for v in (ds.get("ImageType") or [])]


def _is_picture(ds: Dataset) -> bool:
    """Whether ``ds`` is a Secondary Capture image that cannot be a slice.

    That is colour, or without a position, orientation or pixel spacing: an exam
    summary, a dose report, a screenshot.

    A Secondary Capture stack with full grayscale geometry (some converters write CT that
    way) stays a candidate volume.
    """
    if not str(ds.get("SOPClassUID", "")).startswith(_SECONDARY_CAPTURE):
        return False
    placed = all(k in ds for k in ("ImagePositionPatient", "ImageOrientationPatient",
                                   "PixelSpacing"))
    return not placed or int(_float(ds.get("SamplesPerPixel", 1), 1.0)) != 1


@contextmanager
def _collect_warnings(sink: list[str]) -> Iterator[None]:
    """Record warnings raised by pydicom into ``sink`` instead of emitting them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        text = f"pydicom: {w.message}".splitlines()[0].split(" Please see ")[0]
        if text not in sink and len(sink) < _MAX_WARNINGS:
            sink.append(text)


def _floats(value: Any) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        if isinstance(value, str) or not hasattr(value, "__iter__"):
            return (float(value),)
        return tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None


def _float(value: Any, default: float) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return default
    return out if np.isfinite(out) else default


def _find(ds: Dataset, groups: list[Dataset], sequence: str, keyword: str) -> Any:
    """Look up ``keyword`` in a functional-group ``sequence`` (per-frame first), then top level."""
    for group in groups:
        seq = group.get(sequence)
        if seq and keyword in seq[0]:
            return seq[0].get(keyword)
    return ds.get(keyword)


def _slices_of(path: Path, ds: Dataset) -> list[_Slice]:
    frames = int(_float(ds.get("NumberOfFrames", 1), 1.0))
    if frames <= 1 and "PerFrameFunctionalGroupsSequence" not in ds:
        return [
            _Slice(
                path,
                None,
                _floats(ds.get("ImagePositionPatient")),
                _floats(ds.get("ImageOrientationPatient")),
                _floats(ds.get("PixelSpacing")),
                _float(ds.get("RescaleSlope", 1.0), 1.0),
                _float(ds.get("RescaleIntercept", 0.0), 0.0),
                _float(ds.get("SliceThickness"), float("nan")),
            )
        ]
    shared = list(ds.get("SharedFunctionalGroupsSequence", []))
    per_frame = list(ds.get("PerFrameFunctionalGroupsSequence", []))
    if len(per_frame) != frames:
        raise StudyError(
            f"{path.name} holds {frames} frames without per-frame positions; calcdx reads "
            "multi-frame images only as enhanced CT, export the series as single-frame images"
        )
    out = []
    for index, frame_group in enumerate(per_frame):
        groups = [frame_group, *shared]
        out.append(
            _Slice(
                path,
                index,
                _floats(_find(ds, groups, "PlanePositionSequence", "ImagePositionPatient")),
                _floats(_find(ds, groups, "PlaneOrientationSequence", "ImageOrientationPatient")),
                _floats(_find(ds, groups, "PixelMeasuresSequence", "PixelSpacing")),
                _float(_find(ds, groups, "PixelValueTransformationSequence", "RescaleSlope"), 1.0),
                _float(
                    _find(ds, groups, "PixelValueTransformationSequence", "RescaleIntercept"), 0.0
                ),
                _float(_find(ds, groups, "PixelMeasuresSequence", "SliceThickness"), float("nan")),
            )
        )
    return out


def _candidate_files(path: Path) -> list[Path]:
    if not path.exists():
        raise StudyError(
            f"{path} does not exist; give a DICOM folder, a DICOM file or a NIfTI file"
        )
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file())
    if not files:
        raise StudyError(
            f"folder {path} is empty; give a folder that holds the DICOM files of a CT series"
        )
    return files


def _read_header(path: Path, sink: list[str]) -> Dataset | None:
    try:
        with _collect_warnings(sink):
            ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # anything unparsable is "not DICOM"
        return None
    if "Rows" not in ds or "Columns" not in ds:
        return None  # DICOMDIR, structured reports, presentation states: no image
    return ds


def _scan(path: Path, sink: list[str]) -> dict[str, _Series]:
    files = _candidate_files(path)
    series: dict[str, _Series] = {}
    skipped = 0
    for file in files:
        ds = _read_header(file, [])
        if ds is None:
            skipped += 1
            continue
        uid = str(ds.get("SeriesInstanceUID", "")) or "(no SeriesInstanceUID)"
        entry = series.setdefault(uid, _Series(uid, ds, [], set()))
        entry.slices.extend(_slices_of(file, ds))
        entry.files.add(file)
        entry.dims[file] = (int(_float(ds.get("Rows"), 0.0)), int(_float(ds.get("Columns"), 0.0)))
        if _is_localizer(ds):
            entry.localizers.add(file)
        if _is_picture(ds):
            entry.captures.add(file)
    if not series:
        if path.is_file():
            raise StudyError(
                f"{path} is not a DICOM image file; give a DICOM series folder or a NIfTI file"
            )
        raise StudyError(
            f"no DICOM images among the {len(files)} files in {path}; give a folder that holds "
            "a CT series (or a NIfTI file)"
        )
    if skipped:
        sink.append(f"skipped {skipped} file(s) that are not DICOM images (e.g. DICOMDIR, readme)")
    return series


def _info(series: _Series) -> SeriesInfo:
    ds = series.header
    return SeriesInfo(
        uid=series.uid,
        modality=str(ds.get("Modality", "")),
        description=str(ds.get("SeriesDescription", "")),
        n_slices=len(series.slices),
        image_type=tuple(str(v) for v in (ds.get("ImageType") or [])),
        orientation=orientation_label(series.slices[0].orientation or ()),
        study_uid=str(ds.get("StudyInstanceUID", "")),
        n_files=len(series.files),
        kernel=_kernel_text(ds.get("ConvolutionKernel")),
    )


def _kernel_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return "\\".join(str(v) for v in value)


def list_dicom_series(path: str | Path) -> list[SeriesInfo]:
    """List the DICOM image series under ``path``, most slices first.

    Raises
    ------
    StudyError
        If the path does not exist, is empty or holds no DICOM image.
    """
    with _collect_warnings([]):  # pydicom converts values lazily, and warns as it does
        series = _scan(Path(path), [])
        infos = [_info(s) for s in series.values()]
    return sorted(infos, key=lambda s: (-s.n_slices, s.uid))


def _listing(infos: list[SeriesInfo]) -> str:
    return ", ".join(f"{i.uid} ({i.modality}, {i.n_slices} slices)" for i in infos)


def _resolve_uid(asked: str, infos: dict[str, SeriesInfo]) -> str:
    """The SeriesInstanceUID `asked` names: itself, or the one UID it is a prefix of.

    Raises
    ------
    StudyError
        When no series matches (listing the series there are) or several do
        (listing those).
    """
    if asked in infos:
        return asked
    matches = sorted(uid for uid in infos if uid.startswith(asked))
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise StudyError(
            f"--series {asked} is the start of {len(matches)} series UIDs: "
            f"{_listing([infos[uid] for uid in matches])}; give more of the UID"
        )
    raise StudyError(
        f"series {asked} is not in the study; available series: {_listing(list(infos.values()))}"
    )


def _not_a_volume(series: _Series) -> str | None:
    """What the series is when none of its images can be a slice of a CT volume, else None."""
    if series.files - series.localizers - series.captures:
        return None
    if not series.captures:
        return "localizer (scout or surview) images, projections and not slices"
    return "secondary capture images (screenshots, dose or exam summaries), not CT slices"


def _volume_refused(series: _Series, what: str) -> StudyError:
    return StudyError(
        f"series {series.uid} ({_info(series).description or 'no description'}) holds only "
        f"{what}; calcdx needs a stack of CT slices: give the folder of the axial CT series "
        "or pick it with --series (see calcdx series PATH)"
    )


def _choose(
    series: dict[str, _Series], series_uid: str | None, notes: list[str]
) -> tuple[_Series, str]:
    infos = {uid: _info(s) for uid, s in series.items()}
    if series_uid is not None:
        asked = series_uid
        series_uid = _resolve_uid(asked, infos)
        chosen = infos[series_uid]
        if chosen.modality != "CT":
            raise StudyError(
                f"series {series_uid} is {chosen.modality or 'of unknown modality'}, calcdx "
                "analyses CT only; pick a CT series with --series (see calcdx series PATH)"
            )
        what = _not_a_volume(series[series_uid])
        if what is not None:
            raise _volume_refused(series[series_uid], what)
        how = "chosen with --series" if asked == series_uid else f"chosen with --series {asked}"
        return series[series_uid], f"series {series_uid} {how}"
    ct = [i for i in infos.values() if i.modality == "CT"]
    if not ct:
        found = ", ".join(sorted({i.modality or "unknown" for i in infos.values()}))
        raise StudyError(
            f"the study is {found}, calcdx analyses CT only; pick a CT series with --series "
            "(see calcdx series PATH)"
        )

    def slices(info: SeriesInfo) -> int:
        entry = series[info.uid]
        return sum(1 for s in entry.slices
                   if s.path not in entry.localizers and s.path not in entry.captures)

    def rank(info: SeriesInfo) -> tuple[bool, bool, int, tuple[int, int], str]:
        volume = _not_a_volume(series[info.uid]) is None
        named, number = kernel_sharpness(info.kernel, info.description)
        # On equal slices the smoother kernel (less noise at the 130 HU threshold).
        return (volume, info.orientation == "axial", slices(info), (-named, -number),
                info.uid)

    best = max(ct, key=rank)
    what = _not_a_volume(series[best.uid])
    if what is not None:
        raise _volume_refused(series[best.uid], what)
    n_slices = slices(best)
    text = (
        f"series {best.uid} ({best.description or 'no description'}): the CT "
        f"{best.orientation} series with the most slices ({n_slices}) of {len(infos)} series"
    )
    tied = [i for i in ct if i.uid != best.uid and rank(i)[:3] == rank(best)[:3]]
    if any(rank(i)[3] != rank(best)[3] for i in tied):
        text += (f", and of the {len(tied) + 1} with that many slices the one whose kernel "
                 f"is named smoothest ({best.kernel or 'no kernel'}: less noise)")
    others = [i for i in ct if i.uid != best.uid and _not_a_volume(series[i.uid]) is None]
    if others:
        listed = "; ".join(
            f"{i.uid} ({i.description or 'no description'}, {slices(i)} slices)"
            for i in sorted(others, key=rank, reverse=True)[:3]
        )
        more = f" and {len(others) - 3} more" if len(others) > 3 else ""
        notes.append(
            f"{len(others) + 1} CT series found: analysed {best.uid} "
            f"({best.description or 'no description'}, {n_slices} slices, the "
            f"{best.orientation} series with the most slices); also here: {listed}{more}; "
            "pick another with --series (calcdx series PATH lists them)"
        )
    return series[best.uid], text


def _without_projections(series: _Series, notes: list[str]) -> _Series:
    """The series without its localizer and secondary-capture images, said in ``notes``.

    Some exports put the scout image (ImageType LOCALIZER) or an exam-summary
    screenshot under the SeriesInstanceUID of the axial stack; neither is a
    slice of the volume, so it is left out rather than failing the stack.
    """
    odd = series.localizers | series.captures
    if not odd:
        return series
    keep = [s for s in series.slices if s.path not in odd]
    names = ", ".join(sorted(p.name for p in odd)[:3]) + (" ..." if len(odd) > 3 else "")
    kinds = " and ".join(
        kind for kind, files in (("localizer", series.localizers),
                                 ("secondary capture", series.captures)) if files
    )
    notes.append(
        f"left out {len(odd)} {kinds} image(s) of series {series.uid} ({names}): "
        "not slices of the CT volume"
    )
    header = series.header
    if header_path := next((s.path for s in keep), None):
        header = _read_header(header_path, []) or header
    return _Series(
        series.uid, header, keep, series.files - odd,
        {f: d for f, d in series.dims.items() if f not in odd},
    )


def _odd_ones(series: _Series, key: Any) -> str:
    """Name the images whose ``key(slice)`` differs from the most common value."""
    values = [key(s) for s in series.slices]
    common = max(values, key=values.count)
    odd = sorted({s.path.name for s, v in zip(series.slices, values, strict=True) if v != common})
    named = ", ".join(odd[:3]) + (" ..." if len(odd) > 3 else "")
    return f"{len(odd)} of {len(series.slices)} images ({named}) differ from the rest"


def _check_consistent(series: _Series) -> None:
    first = series.slices[0]
    for s in series.slices:
        if s.orientation is None or s.position is None:
            raise StudyError(
                f"{s.path.name} lacks ImagePositionPatient or ImageOrientationPatient; calcdx "
                "needs them to order the slices, re-export the series with geometry"
            )
    for s in series.slices:
        if first.orientation is not None and not np.allclose(
            s.orientation, first.orientation, atol=1e-4  # type: ignore[arg-type]
        ):
            odd = _odd_ones(series, lambda x: tuple(np.round(x.orientation, 4)))
            raise StudyError(
                f"slices of series {series.uid} have different orientations: {odd}; the "
                "series mixes several stacks or holds a stray image (e.g. an unlabelled "
                "localizer): remove those files, or export each stack as its own series"
            )
        if s.pixel_spacing != first.pixel_spacing:
            odd = _odd_ones(series, lambda x: x.pixel_spacing)
            raise StudyError(
                f"slices of series {series.uid} have different PixelSpacing: {odd}; remove "
                "those files, or export each stack as its own series"
            )


def _check_pixel_bytes(series: _Series, by_file: dict[Path, int]) -> None:
    """Compare the pixel bytes the header declares with each file's size, before decoding.

    ``by_file`` maps each file to the frames it holds. An uncompressed file must
    hold at least Rows x Columns x frames x bytes per pixel; a compressed one may
    not expand more than :data:`~calcdx.io._limits.MAX_COMPRESSION` times.
    """
    header = series.header
    rows, columns = int(header.Rows), int(header.Columns)
    bits = int(_float(header.get("BitsAllocated", 16), 16.0))
    per_pixel = int(_float(header.get("SamplesPerPixel", 1), 1.0)) * max(1, -(-bits // 8))
    syntax = str(header.file_meta.get("TransferSyntaxUID", "")) or "1.2.840.10008.1.2"
    uid = pydicom.uid.UID(syntax)
    # deflated files hold the whole dataset compressed, pixels included
    compressed = (uid.is_compressed or uid.is_deflated) if uid.is_transfer_syntax else True
    for file, frames in by_file.items():  # each file against its own header first
        file_rows, file_columns = series.dims.get(file, (rows, columns))
        declared = per_pixel * file_rows * file_columns * frames
        size = file.stat().st_size
        if compressed:
            lying = size * MAX_COMPRESSION < declared
            how = f"its {size} bytes cannot expand to that (at most {MAX_COMPRESSION}:1)"
        else:
            lying = size < declared
            how = f"the file is only {size} bytes long"
        if lying:
            raise StudyError(
                f"pixel data of {file.name} cannot be decoded: its header declares "
                f"{file_rows} x {file_columns} pixels x "
                f"{frames} frame(s) ({declared} bytes of pixel data), but {how}; Rows or "
                "Columns in the header are wrong or the file is truncated, re-export the series"
            )
    for file in by_file:
        if series.dims.get(file, (rows, columns)) != (rows, columns):
            file_rows, file_columns = series.dims[file]
            raise StudyError(
                f"{file.name} declares {file_rows} x {file_columns} pixels (Rows x Columns), "
                f"not the series' {rows} x {columns}; export each stack as its own series"
            )


def _decode(path: Path, sink: list[str]) -> tuple[Dataset, NDArray[Any]]:
    try:
        with _collect_warnings(sink):
            ds = pydicom.dcmread(path)
            pixels = ds.pixel_array
    except Exception as exc:  # every decoder failure: unusable pixels
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StudyError(
            f"pixel data of {path.name} cannot be decoded ({reason[:160]}); the file is "
            "corrupted or truncated, re-export the series"
        ) from exc
    return ds, pixels


def _ordered_series(
    root: Path, series_uid: str | None, notes: list[str]
) -> tuple[dict[str, _Series], _Series, str, StackGeometry]:
    """Scan ``root``, choose the series and order its slices along the slice normal.

    Shared by :func:`read_dicom` and :func:`read_series_headers` so both see the
    same series in the same slice order. Geometry warnings go into ``notes``.
    """
    all_series = _scan(root, notes)
    series, choice = _choose(all_series, series_uid, notes)
    series = _without_projections(series, notes)
    _check_consistent(series)
    first, header = series.slices[0], series.header
    single_step = None
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        value = _float(header.get(keyword), float("nan"))
        if value > 0:
            single_step = value
            break
    geometry = stack_geometry(
        [s.position or (float("nan"),) * 3 for s in series.slices],
        first.orientation or (),
        first.pixel_spacing if first.pixel_spacing is not None else (float("nan"),) * 2,
        single_slice_step_mm=single_step,
        in_plane_shape=(int(header.Columns), int(header.Rows)),
        thickness_mm=[s.thickness for s in series.slices],
    )
    notes.extend(geometry.warnings)
    return all_series, series, choice, geometry


def read_series_headers(path: str | Path, *, series_uid: str | None = None) -> list[Dataset]:
    """Read the headers (no pixel data) of the series :func:`read_dicom` reads.

    Parameters
    ----------
    path : str or Path
        A folder of DICOM files (searched recursively) or one DICOM file.
    series_uid : str, optional
        SeriesInstanceUID to read; by default the series :func:`read_dicom`
        chooses.

    Returns
    -------
    list of pydicom.Dataset
        One dataset per file, read with ``stop_before_pixels=True``, in the
        slice order of :func:`read_dicom`: for single-frame images, item ``k``
        is the source of ``volume.hu[:, :, k]``. A multi-frame file appears
        once, at its first slice.

    Raises
    ------
    StudyError
        For the same reasons as :func:`read_dicom` (except pixel decoding).
    """
    _, series, _, geometry = _ordered_series(Path(path), series_uid, [])
    files: list[Path] = []
    for index in geometry.order:
        file = series.slices[int(index)].path
        if file not in files:
            files.append(file)
    out: list[Dataset] = []
    for file in files:
        ds = _read_header(file, [])
        if ds is None:
            raise StudyError(f"{file.name} can no longer be read as DICOM; re-export the series")
        out.append(ds)
    return out


def _fill(
    hu: NDArray[Any],
    by_file: dict[Path, list[tuple[int, _Slice]]],
    rows: int,
    columns: int,
    notes: list[str],
    syntaxes: set[str],
) -> NDArray[Any]:
    """Decode every file into its slices of ``hu`` (float32 when int16 overflows)."""
    for file, members in by_file.items():
        ds, pixels = _decode(file, notes)
        syntaxes.add(str(ds.file_meta.get("TransferSyntaxUID", "")))
        frames = pixels.reshape((-1, *pixels.shape[-2:])) if pixels.ndim >= 2 else pixels
        if frames.shape[-2:] != (rows, columns):
            raise StudyError(
                f"{file.name} has {frames.shape[-2:]} pixels, not the series' {rows} x {columns}; "
                "export each stack as its own series"
            )
        for k, s in members:
            frame = frames[s.frame or 0]
            if hu.dtype == np.int16:
                values = frame.astype(np.int32) + int(s.intercept)
                if values.min() < _INT16.min or values.max() > _INT16.max:
                    hu = hu.astype(np.float32)
                    hu[:, :, k] = values.T
                else:
                    hu[:, :, k] = values.T
            else:
                hu[:, :, k] = (frame.astype(np.float32) * s.slope + s.intercept).T
    return hu


def read_dicom(path: str | Path, *, series_uid: str | None = None) -> Volume:
    """Read one CT series from a DICOM folder (searched recursively) or file.

    Parameters
    ----------
    path : str or Path
        A folder of DICOM files (other files are ignored) or one DICOM file.
    series_uid : str, optional
        SeriesInstanceUID to read; by default the non-localizer CT series with
        the most slices, axial preferred.

    Returns
    -------
    Volume
        HU (int16 when rescale keeps integers in range, else float32) of shape
        ``(columns, rows, slices)``, slices sorted along the slice normal, and
        the RAS+ affine. ``metadata`` holds source kind, UIDs, modality,
        manufacturer, kVp, kernel, slice thickness, ``series_choice`` and
        ``warnings``; never patient identifiers.

    Raises
    ------
    StudyError
        For a missing, empty or non-DICOM path, an unknown ``series_uid``, a
        non-CT series, inconsistent or absurd geometry, missing slices and
        undecodable pixel data. A tilted or unevenly spaced stack is resampled
        onto an orthogonal, evenly spaced grid (:mod:`calcdx.io._resample`),
        said in ``warnings`` and ``metadata["resampled"]``.
    """
    notes: list[str] = []
    caught: list[str] = []
    # pydicom converts header values when first used and warns then (an invalid UID, a
    # malformed date): those warnings join the study's, never the console
    with _collect_warnings(caught):
        volume = _read_dicom(Path(path), series_uid, notes)
    notes.extend(line for line in caught if line not in notes)
    return volume


def _read_dicom(path: Path, series_uid: str | None, notes: list[str]) -> Volume:
    all_series, series, choice, geometry = _ordered_series(Path(path), series_uid, notes)
    header = series.header
    rows, columns = int(header.Rows), int(header.Columns)
    if int(header.get("SamplesPerPixel", 1)) != 1:
        raise StudyError(
            f"series {series.uid} holds colour images, not CT attenuation; pick a CT series"
        )
    ordered = [series.slices[i] for i in geometry.order]
    integer_rescale = all(s.slope == 1.0 and float(s.intercept).is_integer() for s in ordered)
    by_file: dict[Path, list[tuple[int, _Slice]]] = {}
    for k, s in enumerate(ordered):
        by_file.setdefault(s.path, []).append((k, s))
    _check_pixel_bytes(series, {file: len(members) for file, members in by_file.items()})
    check_voxel_count((columns, rows, len(ordered)), f"series {series.uid}")
    if geometry.resampling is not None:
        check_voxel_count((*geometry.resampling.shape, geometry.resampling.n_slices),
                          f"the resampled grid of series {series.uid}")
    syntaxes: set[str] = set()
    try:
        hu: NDArray[Any] = np.empty(
            (columns, rows, len(ordered)), dtype=np.int16 if integer_rescale else np.float32
        )
        hu = _fill(hu, by_file, rows, columns, notes, syntaxes)
        if geometry.resampling is not None:
            hu = resample_stack(hu, geometry.resampling)
    except MemoryError:
        raise StudyError(
            f"series {series.uid} ({columns} x {rows} x {len(ordered)} voxels) does not fit in "
            "the memory available; free memory, or crop or resample the study first"
        ) from None
    n_source_slices = len(ordered)
    kernel = _kernel_text(header.get("ConvolutionKernel")) or None
    metadata: dict[str, Any] = {
        "source": "dicom",
        "series_uid": series.uid,
        "study_uid": str(header.get("StudyInstanceUID", "")),
        "frame_of_reference_uid": str(header.get("FrameOfReferenceUID", "")),
        "modality": str(header.get("Modality", "")),
        "manufacturer": str(header.get("Manufacturer", "")),
        "manufacturer_model": str(header.get("ManufacturerModelName", "")),
        "series_description": str(header.get("SeriesDescription", "")),
        "body_part_examined": str(header.get("BodyPartExamined", "") or "") or None,
        "kvp": _float(header.get("KVP"), float("nan")) if "KVP" in header else None,
        "convolution_kernel": kernel,
        "slice_thickness_mm": _float(header.get("SliceThickness"), float("nan"))
        if "SliceThickness" in header
        else None,
        "slice_step_mm": geometry.step_mm,
        "contrast_agent": str(header.get("ContrastBolusAgent", "")) or None,
        "contrast_route": str(header.get("ContrastBolusRoute", "")) or None,
        "transfer_syntaxes": sorted(syntaxes),
        "n_slices": n_source_slices,
        "resampled": "; ".join(geometry.resampling.reasons[:-1])
        if geometry.resampling is not None
        else None,
        "n_series_found": len(all_series),
        "series_choice": choice,
        "warnings": notes,
        "patient": patient_from_header(header).model_dump(),
    }
    return Volume(hu=hu, affine=LPS_TO_RAS @ geometry.affine_lps, metadata=metadata)
