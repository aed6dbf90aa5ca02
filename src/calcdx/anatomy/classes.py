"""TotalSegmentator's class table and what each class means for calcdx.

The ``total`` task of TotalSegmentator v2 (Wasserthal et al., Radiology:
Artificial Intelligence 2023, doi:10.1148/ryai.230024) labels 117 structures;
its class ids and names ship as ``data/totalseg_total_classes.json``, copied from
the TotalSegmentator class map (Apache License 2.0).

Each class is mapped to a :class:`Structure`: its kind (bone, cartilage,
artery, vein, heart, organ, bowel, lung, muscle, other) and the case-format
values (``src/calcdx/case/vocabulary.yaml``) a lesion inside it carries:
``organ``, ``location`` and, where the structure fixes it, ``region``. A value
the vocabulary has no term for (heart, oesophagus, trachea) is left unstated.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["BONE_KINDS", "Structure", "structure_of", "total_classes"]

Kind = Literal["bone", "cartilage", "artery", "vein", "heart", "organ", "bowel", "lung",
               "muscle", "other"]

#: Kinds whose voxels are skeleton.
BONE_KINDS: frozenset[str] = frozenset({"bone"})


class Structure(BaseModel):
    """What one anatomical label means for a lesion inside it.

    Attributes
    ----------
    name : str
        TotalSegmentator class name (``kidney_left``).
    kind : str
        ``bone``, ``cartilage``, ``artery``, ``vein``, ``heart``, ``organ``,
        ``bowel``, ``lung``, ``muscle`` or ``other``.
    organ, location, region : str or None
        Case-format values (vocabulary terms) a lesion inside it carries.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    kind: Kind
    organ: str | None = None
    location: str | None = None
    region: str | None = None

    @property
    def label(self) -> str:
        """Human-readable name (``kidney left``)."""
        return self.name.replace("_", " ")


# (prefix, kind, organ, location, region); first match wins.
_RULES: tuple[tuple[str, Kind, str | None, str | None, str | None], ...] = (
    ("costal_cartilages", "cartilage", None, "cartilage_nonarticular", "chest_wall"),
    ("vertebrae_C", "bone", None, None, "neck"),
    ("vertebrae_", "bone", None, None, None),
    ("rib_", "bone", None, None, "chest_wall"),
    ("sternum", "bone", None, None, "chest_wall"),
    ("skull", "bone", None, None, "head_face"),
    ("sacrum", "bone", None, None, "pelvis"),
    ("hip_", "bone", None, None, "pelvis"),
    ("femur_", "bone", None, None, "thigh"),
    ("humerus_", "bone", None, None, "upper_arm"),
    ("scapula_", "bone", None, None, "shoulder"),
    ("clavicula_", "bone", None, None, "shoulder"),
    ("aorta", "artery", None, "artery", None),
    ("brachiocephalic_trunk", "artery", None, "artery", "thorax"),
    ("subclavian_artery_", "artery", None, "artery", "thorax"),
    ("common_carotid_artery_", "artery", None, "artery", "neck"),
    ("iliac_artery_", "artery", None, "artery", "pelvis"),
    ("pulmonary_vein", "vein", None, "vein", "thorax"),
    ("brachiocephalic_vein_", "vein", None, "vein", "thorax"),
    ("superior_vena_cava", "vein", None, "vein", "thorax"),
    ("inferior_vena_cava", "vein", None, "vein", None),
    ("portal_vein_and_splenic_vein", "vein", None, "vein", "abdomen"),
    ("iliac_vena_", "vein", None, "vein", "pelvis"),
    ("heart", "heart", None, None, "thorax"),
    ("atrial_appendage_", "heart", None, None, "thorax"),
    ("spleen", "organ", "spleen", "organ", "abdomen"),
    ("kidney_", "organ", "kidney", "organ", None),
    ("ureter", "organ", "ureter", "organ", None),
    ("gallbladder", "organ", "gallbladder", "organ", "abdomen"),
    ("liver", "organ", "liver", "organ", "abdomen"),
    ("pancreas", "organ", "pancreas", "organ", "abdomen"),
    ("adrenal_gland_", "organ", "adrenal", "organ", None),
    ("stomach", "bowel", "bowel", "organ", "abdomen"),
    ("small_bowel", "bowel", "bowel", "organ", None),
    ("duodenum", "bowel", "bowel", "organ", "abdomen"),
    ("colon", "bowel", "bowel", "organ", None),
    ("appendix", "bowel", "appendix", "organ", None),
    ("urinary_bladder", "organ", "bladder", "organ", "pelvis"),
    ("prostate", "organ", "prostate", "organ", "pelvis"),
    ("thyroid_gland", "organ", "thyroid", "organ", "neck"),
    ("lung_", "lung", "lung", "organ", "thorax"),
    ("esophagus", "organ", None, None, None),
    ("trachea", "other", None, None, None),
    ("gluteus_", "muscle", None, "muscle", "gluteal"),
    ("iliopsoas_", "muscle", None, "muscle", None),
    ("autochthon_", "muscle", None, "muscle", "spine_paraspinal"),
    ("brain", "other", "brain", "organ", "head_face"),
    ("spinal_cord", "other", None, None, None),
)


@lru_cache(maxsize=1)
def total_classes() -> dict[int, str]:
    """TotalSegmentator v2 ``total`` class ids and names (package data).

    Returns
    -------
    dict of int to str
    """
    text = resources.files("calcdx.anatomy").joinpath("data/totalseg_total_classes.json")
    raw = json.loads(text.read_text(encoding="utf-8"))
    return {int(k): str(v) for k, v in raw.items()}


@lru_cache(maxsize=512)
def structure_of(name: str) -> Structure:
    """Map a TotalSegmentator class name to its :class:`Structure`.

    Parameters
    ----------
    name : str
        Class name (``kidney_left``); case and spaces are normalised.

    Returns
    -------
    Structure
        ``kind="other"`` with no case values for an unknown name.
    """
    key = name.strip().replace(" ", "_")
    for prefix, kind, organ, location, region in _RULES:
        if key.lower().startswith(prefix.lower()):
            return Structure(name=key, kind=kind, organ=organ, location=location, region=region)
    return Structure(name=key, kind="other")
