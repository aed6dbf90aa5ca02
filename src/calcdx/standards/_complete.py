"""Complete anonymised source headers so that a valid DICOM SEG and SR can reference them.

Anonymisers often blank identifiers that DICOM requires (Type 1) in the images a SEG or SR
references: SOPClassUID and SOPInstanceUID (while the file meta information still holds them),
StudyInstanceUID, SeriesInstanceUID, FrameOfReferenceUID. :func:`complete_source_headers`
works on copies: it takes a value from the file meta information where the standard says the
two are equal (PS3.10: MediaStorageSOPClassUID / MediaStorageSOPInstanceUID), otherwise
generates one UID for the whole series (derived from what the headers still hold, so a rerun
gives the same UID) and says so. The source files are never changed.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

__all__ = ["complete_source_headers"]

#: CT Image Storage, the SOP class of single-frame CT images.
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def _blank(ds: Dataset, keyword: str) -> bool:
    return not str(ds.get(keyword, "") or "").strip()


def _series_seed(headers: Sequence[Dataset], keyword: str) -> list[str]:
    """Stable entropy for a generated UID: what identifies the series in its headers."""
    digest = hashlib.sha256(keyword.encode())
    for ds in headers:
        for key in ("MediaStorageSOPInstanceUID",):
            digest.update(str(getattr(ds.file_meta, key, "") if hasattr(ds, "file_meta")
                              else "").encode())
        digest.update(str(ds.get("ImagePositionPatient", "")).encode())
    return [digest.hexdigest()]


def complete_source_headers(
    headers: Sequence[Dataset], *, slice_step_mm: float | None = None,
) -> tuple[list[Dataset], list[str]]:
    """Copies of the source headers with blank required identifiers filled in.

    Parameters
    ----------
    headers : sequence of pydicom.Dataset
        The analysed series' headers (:func:`calcdx.io.dicom.read_series_headers`).
    slice_step_mm : float, optional
        The analysed volume's slice step: the SliceThickness given to images that state
        none (the SEG's pixel measures need one, PS3.3 C.7.6.16.2.1).

    Returns
    -------
    headers : list of pydicom.Dataset
        Copies; unchanged when nothing was blank.
    notes : list of str
        One line per identifier filled in, saying from where.
    """
    out = [copy.deepcopy(ds) for ds in headers]
    notes: list[str] = []
    meta_filled = {"SOPClassUID": 0, "SOPInstanceUID": 0}
    generated_sop = 0
    for ds in out:
        meta = getattr(ds, "file_meta", None)
        generated_here = False
        for keyword, meta_key in (("SOPClassUID", "MediaStorageSOPClassUID"),
                                  ("SOPInstanceUID", "MediaStorageSOPInstanceUID")):
            if _blank(ds, keyword):
                value = str(getattr(meta, meta_key, "") or "").strip() if meta else ""
                if value:
                    setattr(ds, keyword, value)
                    meta_filled[keyword] += 1
                elif keyword == "SOPClassUID":
                    ds.SOPClassUID = CT_IMAGE_STORAGE
                    generated_here = True
                else:
                    ds.SOPInstanceUID = generate_uid(entropy_srcs=_series_seed([ds], keyword))
                    generated_here = True
        generated_sop += generated_here  # images, not identifiers
    for keyword, count in meta_filled.items():
        if count:
            notes.append(f"{count} source image(s) had a blank {keyword}; taken from their file "
                         "meta information (which holds the same value)")
    if generated_sop:
        notes.append(f"{generated_sop} source image(s) had no SOP class or instance UID anywhere; "
                     "generated ones are referenced, which a PACS cannot match to the images")
    for keyword, what in (("StudyInstanceUID", "study"), ("SeriesInstanceUID", "series"),
                          ("FrameOfReferenceUID", "frame of reference")):
        values = {str(ds.get(keyword, "") or "").strip() for ds in out}
        if values == {""} or "" in values:
            present = sorted(v for v in values if v)
            uid = present[0] if len(present) == 1 else generate_uid(
                entropy_srcs=_series_seed(out, keyword))
            for ds in out:
                if _blank(ds, keyword):
                    setattr(ds, keyword, uid)
            source = "the other images of the series" if present else "a UID generated for it"
            notes.append(f"the source series has no {keyword}; SEG and SR carry {source}"
                         + ("" if present else f", so a PACS will not file them with the "
                            f"original {what}"))
    for keyword in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "StudyDate",
                    "StudyTime", "AccessionNumber", "StudyID", "ReferringPhysicianName"):
        for ds in out:
            if keyword not in ds:
                setattr(ds, keyword, "")  # Type 2: present, may be empty
    # PatientIdentityRemoved YES needs a method (Type 1C, PS3.3 C.7.1.1), which highdicom
    # copies from the source's Patient module; some de-identified series state none
    unstated = [ds for ds in out if str(ds.get("PatientIdentityRemoved", "")).upper() == "YES"
                and not ds.get("DeidentificationMethod")
                and not ds.get("DeidentificationMethodCodeSequence")]
    for ds in unstated:
        ds.DeidentificationMethod = "not stated in the source images"
    if unstated:
        notes.append(f"{len(unstated)} source image(s) say PatientIdentityRemoved YES without a "
                     "method; SEG and SR state the method as 'not stated in the source images'")
    thin = [ds for ds in out if not _positive(ds.get("SliceThickness"))]
    if thin and slice_step_mm is not None and slice_step_mm > 0:
        for ds in thin:
            ds.SliceThickness = f"{slice_step_mm:.6g}"
        notes.append(f"{len(thin)} source image(s) have no SliceThickness; SEG and SR state the "
                     f"{slice_step_mm:.6g} mm slice step of the analysed volume")
    return out, notes


def _positive(value: object) -> bool:
    try:
        return float(str(value)) > 0
    except ValueError:
        return False
