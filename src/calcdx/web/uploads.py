"""Storing uploaded studies safely: a zip of a DICOM folder, or a NIfTI file.

Nothing about an upload is trusted: its name is ignored (the kind is read from
the first bytes), files are stored under generated names, a zip member with an
absolute path, a ``..`` component or a symbolic link is refused, and the total
extracted size is bounded.
"""

from __future__ import annotations

import gzip
import shutil
import stat
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO, Final

from calcdx.errors import InputError

__all__ = [
    "UploadError",
    "detect_kind",
    "extract_dicom_zip",
    "resolve_server_path",
    "store_upload",
]

_CHUNK: Final = 1024 * 1024
_MAX_MEMBERS: Final = 100_000
_ZIP_MAGIC: Final = (b"PK\x03\x04",)
_EMPTY_ZIP: Final = b"PK\x05\x06"
_GZIP_MAGIC: Final = b"\x1f\x8b"


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


def _copy_limited(source: IO[bytes], target: Path, limit: int) -> int:
    written = 0
    with target.open("wb") as out:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                raise UploadError(
                    f"the upload is larger than the limit of {limit} bytes", status=413
                )
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


def _is_dicom(path: Path) -> bool:
    with path.open("rb") as stream:
        head = stream.read(132)
    return len(head) == 132 and head[128:132] == b"DICM"


def extract_dicom_zip(archive: Path, target: Path, max_bytes: int) -> int:
    """Extract the DICOM files of a zip into `target`, under generated names.

    Parameters
    ----------
    archive : Path
        The uploaded zip.
    target : Path
        An empty folder to extract into.
    max_bytes : int
        Largest total uncompressed size.

    Returns
    -------
    int
        Number of DICOM files extracted.

    Raises
    ------
    UploadError
        400 for a damaged or empty zip, an unsafe member or no DICOM file;
        413 when the contents are too large.
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
        target.mkdir(parents=True, exist_ok=True)
        kept = 0
        budget = max_bytes
        for index, info in enumerate(files):
            out = target / f"{index:06d}.dcm"
            try:
                with bundle.open(info) as source:
                    budget -= _copy_limited(source, out, budget)
            except UploadError:
                raise UploadError(
                    f"the zip's contents are larger than the limit of {max_bytes} bytes",
                    status=413,
                ) from None
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError):
                raise UploadError(
                    f"zip member #{index + 1} cannot be read (damaged, encrypted or an "
                    "unsupported compression)"
                ) from None
            if _is_dicom(out):
                kept += 1
            else:
                out.unlink()
    if kept == 0:
        raise UploadError(
            "the zip holds no DICOM files (files with the 'DICM' marker); zip the DICOM "
            "folder exported from the PACS"
        )
    return kept


def store_upload(
    source: IO[bytes], job_dir: Path, max_bytes: int, max_extracted: int
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
        _copy_limited(source, raw, max_bytes)
        kind = detect_kind(raw)
        if kind == "zip":
            count = extract_dicom_zip(raw, job_dir / "input", max_extracted)
            raw.unlink()
            return StoredInput(job_dir / "input", "dicom", count)
        final = job_dir / f"input.{kind}"
        raw.rename(final)
        return StoredInput(final, kind, 1)
    except BaseException:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise


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
        When paths are disabled, the path leaves `data_dir` or does not exist.
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
    return candidate
