"""Bounds on what a study may ask the readers to allocate, checked from headers first.

A header states how many voxels follow (NIfTI ``dim``, DICOM Rows x Columns x
frames). A damaged or hostile header can state billions; the readers compare it
with these bounds, and with the bytes actually on disk, before allocating.
"""

from __future__ import annotations

from typing import Final

from calcdx.errors import StudyError

__all__ = ["MAX_COMPRESSION", "MAX_VOXELS", "check_voxel_count"]

#: Most voxels one volume may hold: 512 x 512 x 2048 (1 GiB as int16), a whole-body
#: series of 1 mm slices; the analysis needs several times the volume's size.
MAX_VOXELS: Final = 512 * 512 * 2048
#: Most a file's pixel data may expand when decoded. Lossless CT compression gives
#: 2-4:1; the most compressible frame (constant air) reaches about 64:1 in RLE
#: (2 bytes per 128-byte run), about 1,000:1 in deflate and a few thousand:1 in
#: JPEG 2000, whose codestream header alone is some hundred bytes.
MAX_COMPRESSION: Final = 20_000


def check_voxel_count(shape: tuple[int, ...], what: str) -> None:
    """Refuse a volume of more than :data:`MAX_VOXELS` voxels before it is allocated.

    Raises
    ------
    StudyError
        Naming the shape, the count and the bound.
    """
    count = 1
    for n in shape:
        count *= int(n)
    if count > MAX_VOXELS:
        dims = " x ".join(str(int(n)) for n in shape)
        raise StudyError(
            f"{what} declares {dims} = {count} voxels, more than calcdx reads "
            f"({MAX_VOXELS} = 512 x 512 x 2048); if the header is right, crop or "
            "resample the study first, else re-export it"
        )
