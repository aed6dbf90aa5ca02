"""Storing uploaded studies safely: a zip of a DICOM folder, or a NIfTI file.

Nothing about an upload is trusted: its name is ignored (the kind is read from
the first bytes), files are stored under generated names, a zip member with an
absolute path, a ``..`` component, a NUL in its name or a symbolic link is
refused, each member and the total extracted size are bounded, a member whose
first bytes are not a DICOM image header (256 KiB, or 8 MiB for a header that
runs longer) is skipped unread, and the work
a study asks for is bounded from its headers before anything is allocated: the
voxel count of a NIfTI header, or Rows x Columns x frames summed over the DICOM
files, must stay under :data:`DEFAULT_MAX_VOXELS`.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import shutil
import stat
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO, Any, Final

from calcdx.errors import InputError

__all__ = [
    "DEFAULT_MAX_MEMBER_BYTES",
    "DEFAULT_MAX_VOXELS",
    "UploadError",
    "check_nifti_voxels",
    "detect_kind",
    "extract_dicom_zip",
    "find_anatomy",
    "resolve_server_path",
    "store_anatomy",
    "store_upload",
]

_CHUNK: Final = 1024 * 1024
_MAX_MEMBERS: Final = 100_000
_ZIP_MAGIC: Final = (b"PK\x03\x04",)
_EMPTY_ZIP: Final = b"PK\x05\x06"
_GZIP_MAGIC: Final = b"\x1f\x8b"
_DICOM_HEAD_BYTES: Final = 256 * 1024
_LONG_HEAD_BYTES: Final = 8 * 1024**2

#: Largest single file in a DICOM zip (256 MiB: a 500-frame 512 x 512 16-bit
#: multi-frame object; a CT slice is 0.5 MiB).
DEFAULT_MAX_MEMBER_BYTES: Final = 256 * 1024**2

#: Most voxels a study may hold (512 x 512 x 1536, about 400 million): the
#: analysis needs some 8 bytes a voxel at its peak, so this keeps a job under
#: its 4 GiB memory limit; larger studies are refused from their headers.
DEFAULT_MAX_VOXELS: Final = 512 * 512 * 1536


class UploadError(InputError):
    """An upload that cannot be used; `status` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _is_nifti_header(head: bytes) -> bool:
    if len(head) < 348:
        return False
    for order in ("<", ">"):
        (size,) = struct.unpack(f"{order}i", head[:4])
        if size == 348 and head[344:347] in {b"n+1", b"ni1"}:
            return True
        if size == 540 and head[4:7] in {b"n+2", b"ni2"}:
            return True
    return False


def detect_kind(path: Path) -> str:
    """Tell what a stored upload holds from its first bytes.

    Parameters
    ----------
    path : Path
        The stored upload.

    Returns
    -------
    str
        ``zip``, ``nii`` or ``nii.gz``.

    Raises
    ------
    UploadError
        For an empty file or anything else.
    """
    with path.open("rb") as stream:
        head = stream.read(540)
    if not head:
        raise UploadError("the upload is empty; send a zip of a DICOM folder or a NIfTI file")
    if head.startswith(_ZIP_MAGIC):
        return "zip"
    if head.startswith(_EMPTY_ZIP):
        raise UploadError("the zip is empty; zip the folder that holds the DICOM files")
    if head.startswith(_GZIP_MAGIC):
        try:
            with gzip.open(path, "rb") as inner:
                unpacked = inner.read(540)
        except (OSError, EOFError):
            unpacked = b""
        if _is_nifti_header(unpacked):
            return "nii.gz"
        raise UploadError("the gzip file is not a NIfTI image (.nii.gz)")
    if _is_nifti_header(head):
        return "nii"
    raise UploadError(
        "the upload is neither a zip of a DICOM folder nor a NIfTI file (.nii or .nii.gz)"
    )


def _too_many_voxels(count: int, limit: int, what: str) -> UploadError:
    return UploadError(
        f"{what} {count} voxels, more than the limit of {limit} (512 x 512 x 1536); "
        "crop or resample the study before uploading it",
        status=413,
    )


def check_nifti_voxels(path: Path, max_voxels: int) -> int:
    """Read only the header of a NIfTI file and bound its voxel count.

    Parameters
    ----------
    path : Path
        A ``.nii`` or ``.nii.gz`` file (only its header is decompressed).
    max_voxels : int
        Most voxels accepted.

    Returns
    -------
    int
        The number of voxels the header declares.

    Raises
    ------
    UploadError
        400 for a header nibabel cannot read or with impossible dimensions;
        413 when the image holds more than `max_voxels` voxels.
    """
    import nibabel as nib

    try:
        image: Any = nib.load(str(path))
        shape = tuple(int(n) for n in image.header.get_data_shape())
    except Exception as exc:  # nibabel raises many kinds on a damaged header
        raise UploadError(f"the NIfTI header cannot be read ({type(exc).__name__})") from None
    if not shape or any(n <= 0 for n in shape):
        raise UploadError(f"the NIfTI header declares an empty image (dimensions {shape})")
    count = math.prod(shape)
    if count > max_voxels:
        raise _too_many_voxels(count, max_voxels, f"the NIfTI header declares {shape}:")
    return count


def _dicom_voxels(head: bytes) -> tuple[int | None, bool]:
    """Rows x Columns x frames from the first bytes of a DICOM file.

    Returns
    -------
    voxels : int or None
        None when these bytes state no Rows and Columns: not an image (a
        report, zeros after a 'DICM' marker), or a header cut short.
    identified : bool
        Whether the bytes name the object's SOP class or modality, as the
        start of any real DICOM object does (zeros after a marker do not).
    """
    import pydicom

    try:
        dataset = pydicom.dcmread(io.BytesIO(head), stop_before_pixels=True, force=False)
        identified = "SOPClassUID" in dataset or "Modality" in dataset
        rows = int(getattr(dataset, "Rows", 0) or 0)
        columns = int(getattr(dataset, "Columns", 0) or 0)
        frames = int(getattr(dataset, "NumberOfFrames", 1) or 1)
    except Exception:  # damaged
        return None, False
    if rows <= 0 or columns <= 0:
        return None, identified
    return rows * columns * max(frames, 1), identified


def _image_voxels(source: IO[bytes]) -> tuple[int | None, bytes]:
    """Read the start of a zip member; its voxel count (None: not a DICOM image) and bytes read.

    The first :data:`_DICOM_HEAD_BYTES` usually hold the whole header; a longer
    one (an enhanced multi-frame CT, large private tags) of an identified object
    is read up to :data:`_LONG_HEAD_BYTES` before the member is given up.
    """
    head = source.read(_DICOM_HEAD_BYTES)
    if not _looks_dicom(head):
        return None, head
    count, identified = _dicom_voxels(head)
    if count is not None or not identified or len(head) < _DICOM_HEAD_BYTES:
        return count, head  # an image; not a real object; or the whole file was read
    # pydicom reads a header cut short as far as it goes: read on
    head += source.read(_LONG_HEAD_BYTES - len(head))
    return _dicom_voxels(head)[0], head


class _OverLimit(Exception):
    """A stream went past its byte limit."""


def _copy_limited(source: IO[bytes], target: Path, limit: int, head: bytes = b"") -> int:
    """Write `head` then the rest of `source` to `target`; raise _OverLimit past `limit` bytes."""
    written = len(head)
    if written > limit:
        raise _OverLimit
    with target.open("wb") as out:
        out.write(head)
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                raise _OverLimit
            out.write(chunk)
    return written


@dataclass(frozen=True)
class StoredInput:
    """A stored, checked study input.

    Attributes
    ----------
    path : Path
        What to analyse: a folder of DICOM files or a NIfTI file.
    kind : str
        ``dicom``, ``nii`` or ``nii.gz``.
    files : int
        Number of files stored.
    """

    path: Path
    kind: str
    files: int


def _unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if "\x00" in name or "\x00" in info.orig_filename:  # zipfile cuts names at a NUL
        return "has a NUL character in its name"
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or name.startswith("\\"):
        return "has an absolute path"
    if ".." in posix.parts or ".." in windows.parts:
        return "has a '..' path component"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    return None


def _looks_dicom(head: bytes) -> bool:
    """The 'DICM' marker followed by the file-meta group (0002,xxxx)."""
    return len(head) >= 136 and head[128:132] == b"DICM" and head[132:134] == b"\x02\x00"


def extract_dicom_zip(
    archive: Path,
    target: Path,
    max_bytes: int,
    *,
    max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES,
    max_voxels: int = DEFAULT_MAX_VOXELS,
) -> int:
    """Extract the DICOM files of a zip into `target`, under generated names.

    Parameters
    ----------
    archive : Path
        The uploaded zip.
    target : Path
        An empty folder to extract into.
    max_bytes : int
        Largest total uncompressed size.
    max_member_bytes : int
        Largest single member, uncompressed.
    max_voxels : int
        Most voxels (Rows x Columns x frames, summed over the DICOM files).

    Returns
    -------
    int
        Number of DICOM files extracted.

    Raises
    ------
    UploadError
        400 for a damaged or empty zip, an unsafe member or no DICOM file;
        413 when a member, the contents or the voxel count is too large.
    """
    try:
        bundle = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError):
        raise UploadError("the zip is damaged or not a zip file") from None
    with bundle:
        members = bundle.infolist()
        for info in members:
            reason = _unsafe_reason(info)
            if reason is not None:
                raise UploadError(
                    f"zip member #{members.index(info) + 1} {reason}; refusing to extract "
                    "(zip the DICOM folder itself, with relative paths)"
                )
        files = [info for info in members if not info.is_dir()]
        if not files:
            raise UploadError("the zip is empty; zip the folder that holds the DICOM files")
        if len(files) > _MAX_MEMBERS:
            raise UploadError(f"the zip holds more than {_MAX_MEMBERS} files")
        if sum(info.file_size for info in files) > max_bytes:
            raise UploadError(
                f"the zip's contents are larger than the limit of {max_bytes} bytes", status=413
            )
        big = next((i for i, info in enumerate(files) if info.file_size > max_member_bytes), None)
        if big is not None:
            raise UploadError(
                f"zip member #{big + 1} is larger than the limit of {max_member_bytes} bytes "
                "for one file; a CT slice is well under 1 MB",
                status=413,
            )
        target.mkdir(parents=True, exist_ok=True)
        kept = voxels = 0
        budget = max_bytes
        for index, info in enumerate(files):
            try:
                with bundle.open(info) as source:
                    count, head = _image_voxels(source)
                    if count is None:
                        continue  # not a DICOM image: skipped after its first bytes
                    voxels += count
                    if voxels > max_voxels:
                        raise _too_many_voxels(voxels, max_voxels, "the DICOM headers declare")
                    out = target / f"{index:06d}.dcm"
                    budget -= _copy_limited(source, out, min(budget, max_member_bytes), head)
            except _OverLimit:
                raise UploadError(
                    f"the zip's contents are larger than the limit of {max_bytes} bytes, or "
                    f"member #{index + 1} larger than {max_member_bytes} bytes",
                    status=413,
                ) from None
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError):
                raise UploadError(
                    f"zip member #{index + 1} cannot be read (damaged, encrypted or an "
                    "unsupported compression)"
                ) from None
            kept += 1
    if kept == 0:
        raise UploadError(
            "the zip holds no DICOM images (files with the 'DICM' marker and a header "
            "stating Rows and Columns); zip the DICOM folder exported from the PACS"
        )
    return kept


def _receive(source: IO[bytes], target: Path, max_bytes: int, what: str) -> None:
    """Copy an upload to `target`; 413 beyond `max_bytes`."""
    try:
        _copy_limited(source, target, max_bytes)
    except _OverLimit:
        raise UploadError(
            f"{what} is larger than the limit of {max_bytes} bytes", status=413
        ) from None


def store_upload(
    source: IO[bytes],
    job_dir: Path,
    max_bytes: int,
    max_extracted: int,
    max_voxels: int = DEFAULT_MAX_VOXELS,
) -> StoredInput:
    """Copy an upload into `job_dir`, check it and unpack it.

    Parameters
    ----------
    source : binary file
        The uploaded bytes.
    job_dir : Path
        The job's new folder.
    max_bytes : int
        Largest upload.
    max_extracted : int
        Largest total size of a zip's contents.
    max_voxels : int
        Most voxels the study's headers may declare.

    Returns
    -------
    StoredInput
        What to analyse.

    Raises
    ------
    UploadError
        With the HTTP status to answer; `job_dir` is removed.
    """
    job_dir.mkdir(parents=True, exist_ok=False)
    raw = job_dir / "upload.bin"
    try:
        _receive(source, raw, max_bytes, "the upload")
        kind = detect_kind(raw)
        if kind == "zip":
            count = extract_dicom_zip(raw, job_dir / "input", max_extracted, max_voxels=max_voxels)
            raw.unlink()
            return StoredInput(job_dir / "input", "dicom", count)
        final = job_dir / f"input.{kind}"
        raw.rename(final)
        check_nifti_voxels(final, max_voxels)
        return StoredInput(final, kind, 1)
    except BaseException:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise


#: Names of a study's anatomy input in its job folder (:func:`store_anatomy`).
ANATOMY_NAMES: Final = ("anatomy.nii.gz", "anatomy.nii")


def store_anatomy(source: IO[bytes], job_dir: Path, max_bytes: int, max_voxels: int) -> Path:
    """Store a TotalSegmentator label map uploaded beside a study, in the study's job folder.

    The upload must be TotalSegmentator's ``total`` output as one multi-label NIfTI
    (``TotalSegmentator --ml``), as ``calcdx analyze --anatomy`` takes it; it is kept as
    ``anatomy.nii`` or ``anatomy.nii.gz`` whatever its name. Its placement on the CT grid
    is checked by the analysis (a label map that does not overlap the CT fails the job).

    Parameters
    ----------
    source : binary file
        The uploaded bytes.
    job_dir : Path
        The study's job folder (already holding the study).
    max_bytes : int
        Largest upload.
    max_voxels : int
        Most voxels its header may declare.

    Returns
    -------
    Path
        The stored label map.

    Raises
    ------
    UploadError
        413 when too large, 400 when not a NIfTI image; nothing is left in `job_dir`.
    """
    raw = job_dir / "anatomy.upload"
    try:
        _receive(source, raw, max_bytes, "the anatomy upload")
        try:
            kind = detect_kind(raw)
        except UploadError:
            kind = ""
        if kind not in {"nii", "nii.gz"}:
            raise UploadError(
                "the anatomy must be TotalSegmentator's multi-label NIfTI of the same CT "
                "(.nii or .nii.gz, from `TotalSegmentator --ml`)"
            )
        final = job_dir / f"anatomy.{kind}"
        raw.rename(final)
        check_nifti_voxels(final, max_voxels)
        return final
    except BaseException:
        for name in ("anatomy.upload", *ANATOMY_NAMES):
            (job_dir / name).unlink(missing_ok=True)
        raise


def find_anatomy(job_dir: Path) -> Path | None:
    """The anatomy input stored in a job folder by :func:`store_anatomy`, if any."""
    for name in ANATOMY_NAMES:
        candidate = job_dir / name
        if candidate.is_file() and not candidate.is_symlink():
            return candidate
    return None


def resolve_server_path(data_dir: Path | None, name: str) -> Path:
    """Resolve a study path named by the client inside the server's data folder.

    Parameters
    ----------
    data_dir : Path or None
        The folder given with ``--data-dir``; None refuses every path.
    name : str
        A path relative to `data_dir`.

    Returns
    -------
    Path
        The resolved path, inside `data_dir`.

    Raises
    ------
    UploadError
        When paths are disabled, the path leaves `data_dir` or does not exist,
        or a file or folder under it is a link that leads out of `data_dir`.
    """
    if data_dir is None:
        raise UploadError(
            "this server takes no server paths; upload the study, or start it with --data-dir"
        )
    root = data_dir.resolve()
    if not name.strip() or "\x00" in name or PurePosixPath(name).is_absolute():
        raise UploadError("give a path relative to the server's data folder")
    candidate = (root / name).resolve()
    if not candidate.is_relative_to(root):
        raise UploadError("the path leaves the server's data folder")
    if not candidate.exists():
        raise UploadError("no such study under the server's data folder", status=404)
    escape = _link_out_of(root, candidate) if candidate.is_dir() else None
    if escape is not None:
        raise UploadError(
            f"the study holds a link that leads out of the server's data folder "
            f"({escape.relative_to(candidate).as_posix()}); copy the files in instead"
        )
    return candidate


def _link_out_of(root: Path, folder: Path) -> Path | None:
    """The first entry under `folder` that resolves outside `root`, or None.

    Every file and folder is resolved, links to folders followed (each real
    folder once, so that a loop of links ends).
    """
    seen: set[Path] = set()
    for top, folders, files in os.walk(folder, followlinks=True):
        real = Path(top).resolve()
        if real in seen:
            folders.clear()
            continue
        seen.add(real)
        for name in [*folders, *files]:
            entry = Path(top) / name
            if entry.is_symlink() and not entry.resolve().is_relative_to(root):
                return entry
        folders[:] = [d for d in folders if (Path(top) / d).resolve().is_relative_to(root)]
    return None
