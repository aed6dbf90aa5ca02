"""Body region from the image: head, neck, thorax, abdomen, pelvis or limb, plane by plane.

Method
------
The volume is block-averaged onto a ~``grid_mm`` grid and cut into planes across the
patient's long axis (the voxel axis closest to the world S-I axis of the
affine). In each plane:

* body parts: connected regions of HU > ``air_hu`` with holes filled; the
  largest is the *main part* (the trunk, the head or a limb), others are
  limbs beside it (arms beside the trunk, the other leg);
* lungs: connected air regions (HU < ``lung_hu``) of at least ``min_lung_mm2``
  whose mean HU is at least ``outside_air_hu`` (aerated lung; air outside the
  body and bowel gas are pure air, about -1000 HU), in the main part, as a
  fraction of its area; lung reaching a cropped edge of the field of view
  counts, as the part is the filled outline of tissue and lung;
* skeleton layout: bone (HU >= ``bone_hu``) components of the main part; a
  skull is a bone ring whose filled inside is at least ``skull_fraction`` of
  the part; a pelvic bone is a component lying lateral to the middle third of
  the part with at least ``pelvic_bone_mm2`` (on both sides, or twice that on
  one); the spine is a component in the
  middle third, off the centre by at least 0.3 of the half-depth (a limb's bone
  lies at its centre).

Rules, in order: skull -> ``head_face``; lungs >= ``lung_fraction`` ->
``thorax``; pelvic bones -> ``pelvis``; a main part of at
least ``trunk_mm2`` -> ``abdomen``; a main part with a central spine -> ``neck``
when air lies in its middle (the airway) and it is smaller than
``neck_max_mm2``, else ``abdomen`` (a small trunk), unless a second part of
at least half its size lies beside it (a pair of legs); otherwise a limb. A limb
with two bones is ``lower_leg`` (``forearm`` under ``small_limb_mm2``); with one
bone, ``thigh`` (``upper_arm`` under ``small_limb_mm2``). Per-plane calls are
smoothed by a majority over ``smooth_planes`` planes. A voxel in a limb beside a
trunk section (an arm beside the chest or abdomen) takes that limb's region.

Basis
-----
calcdx heuristics from the gross anatomy of axial CT (lungs fill most of the
thoracic cross-section; iliac wings and hips flank the pelvis; an adult trunk
cross-section exceeds ~300 cm^2, a neck or limb is smaller); the sizes are
chosen between those of the shared real scans and an adult's limbs, and are
stated, not fitted.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from scipy import ndimage as ndi

from calcdx.masks.contrast import block_mean

__all__ = ["RegionConfig", "RegionMap", "RegionSpan", "body_regions"]


class RegionConfig(BaseModel):
    """Parameters of :func:`body_regions` (HU, mm, mm^2); each states its basis."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    grid_mm: float = Field(4.0, gt=0, description="sampling grid (heuristic: organs and "
                           "bones of interest span several cells)")
    air_hu: float = Field(-400.0, description="tissue above, air below (between lung and fat)")
    lung_hu: float = Field(-500.0, description="lung: block-mean HU below (aerated lung "
                           "parenchyma, -500 to -950 HU)")
    outside_air_hu: float = Field(-940.0, description="an air region of mean HU below is air "
                                  "outside the body or gas, not lung (air is ~-1000 HU; "
                                  "aerated lung -700 to -900 HU)")
    min_lung_mm2: float = Field(500.0, description="smallest lung region in a section "
                                "(heuristic: small gas pockets are not lung)")
    limb_bone_mm2: float = Field(50.0, description="a limb bone's section at least (heuristic: "
                                 "radius and ulna shafts are ~1 cm across)")
    bone_hu: float = Field(200.0, description="bone in the layout (HU; cortex and most "
                           "trabecular bone, above soft tissue and unenhanced blood)")
    lung_fraction: float = Field(0.08, description="air share of the main part that makes a "
                                 "thoracic plane (heuristic: bowel gas rarely fills 8 %)")
    skull_fraction: float = Field(0.3, description="share of the part inside a bone ring: a "
                                  "skull (heuristic)")
    pelvic_bone_mm2: float = Field(1000.0, description="lateral bone components at least this "
                                   "large on both sides (or twice as large on one) are iliac "
                                   "wings or hips (heuristic: mid-wing ilium > ~10 cm^2; "
                                   "obliquely cut lower ribs of the shared scans <= 6 cm^2)")
    trunk_mm2: float = Field(30000.0, description="main part at least this large is a trunk "
                             "(heuristic: adult abdomen > ~300 cm^2, neck and thigh smaller)")
    neck_max_mm2: float = Field(25000.0, description="largest neck section (heuristic)")
    small_limb_mm2: float = Field(12000.0, description="limb sections below: arm, not leg "
                                  "(heuristic: adult thigh ~150-250 cm^2, arm < 120 cm^2)")
    smooth_planes: int = Field(3, ge=1, description="majority window along the long axis")
    head_vault_mm: float = Field(30.0, gt=0, description="a head: skull-ring planes over at "
                                 "least this length along the long axis (heuristic: the adult "
                                 "cranial vault is ~10 cm high; a rib or pelvic ring in one "
                                 "plane is no vault)")
    brain_hu: tuple[float, float] = Field((0.0, 80.0), description="mean HU inside a vault "
                                          "ring: brain (grey ~35-45, white ~20-30 HU) and CSF "
                                          "(0-15 HU); fat (~-100 HU) and lung lie below")
    head_stop_factor: float = Field(1.5, gt=1, description="below or above a head, a section "
                                    "larger than this times the head's largest is no longer "
                                    "head (heuristic: the shoulders, or a trunk)")
    neck_head_ratio: float = Field(0.6, gt=0, lt=1, description="below a head, a section with "
                                   "a central spine smaller than this share of the head's "
                                   "largest is neck (heuristic: adult neck circumference "
                                   "~33-40 cm vs head ~54-58 cm, an area ratio ~0.35-0.55)")


class RegionSpan(BaseModel):
    """A run of planes with one region."""

    model_config = ConfigDict(frozen=True)

    region: str
    first_plane: int
    last_plane: int
    evidence: str


class RegionMap(BaseModel):
    """Region of every plane across the long axis, and how to look a voxel up."""

    model_config = ConfigDict(frozen=True)

    axis: int
    factor: int
    regions: list[str]
    spans: list[RegionSpan]
    limb_region: str | None = None
    sides: list[str | None] = Field(default_factory=list)
    in_plane_factors: tuple[int, int] = (1, 1)
    _beside: NDArray[np.bool_] | None = PrivateAttr(default=None)

    def at(self, ijk: NDArray[np.floating[Any]] | tuple[float, float, float]) -> str:
        """Region of a full-grid voxel (fractional allowed).

        The region of its plane, or, for a voxel in a limb beside the main part
        (an arm beside the trunk), that limb's region.
        """
        plane = int(np.clip(float(ijk[self.axis]) // self.factor, 0, len(self.regions) - 1))
        beside = self._beside
        if beside is not None and self.sides and self.sides[plane]:
            rest = [float(ijk[a]) for a in range(3) if a != self.axis]
            a = int(np.clip(rest[0] // self.in_plane_factors[0], 0, beside.shape[1] - 1))
            b = int(np.clip(rest[1] // self.in_plane_factors[1], 0, beside.shape[2] - 1))
            if beside[plane, a, b]:
                return str(self.sides[plane])
        return self.regions[plane]

    @property
    def study_region(self) -> str:
        """The region covering most planes."""
        return Counter(self.regions).most_common(1)[0][0]


def _n_bones(bone: NDArray[np.bool_], cell_mm2: float, config: RegionConfig) -> int:
    """Bone components of at least ``limb_bone_mm2``."""
    lab, _ = ndi.label(bone)
    sizes = np.bincount(lab.ravel())[1:] * cell_mm2
    return int(np.count_nonzero(sizes >= config.limb_bone_mm2))


def _limb(bones: int, area: float, config: RegionConfig) -> str:
    if bones >= 2:
        return "forearm" if area < config.small_limb_mm2 else "lower_leg"
    return "upper_arm" if area < config.small_limb_mm2 else "thigh"


def _plane_region(plane: NDArray[np.float32], cell_mm2: float, config: RegionConfig
                  ) -> tuple[str, str, str | None, NDArray[np.bool_]]:
    """Region of one plane, its evidence, and the region and place of limbs beside a trunk."""
    region, evidence, side, beside = _plane_call(plane, cell_mm2, config)
    if side is None or region not in _TRUNK:
        return region, evidence, None, np.zeros(plane.shape, dtype=bool)
    return region, evidence, side, beside


#: Regions of a trunk section, beside which a limb is an arm (or the other leg).
_TRUNK = frozenset({"thorax", "abdomen", "pelvis"})


def _parts(plane: NDArray[np.float32], cell_mm2: float, config: RegionConfig
           ) -> tuple[NDArray[np.int32], int, NDArray[np.int64], NDArray[np.bool_]]:
    """Body parts (filled tissue and lung), their count and sizes, and lung-like air."""
    tissue = plane > config.air_hu
    air, n_air = ndi.label(plane < config.lung_hu)
    if n_air:
        idx = np.arange(1, n_air + 1)
        mean = np.asarray(ndi.mean(plane, air, idx))
        size = np.bincount(air.ravel(), minlength=n_air + 1)[1:] * cell_mm2
        lung_ids = idx[(mean >= config.outside_air_hu) & (size >= config.min_lung_mm2)]
        lunglike = np.isin(air, lung_ids)
    else:
        lunglike = np.zeros_like(tissue)
    parts, n = ndi.label(ndi.binary_fill_holes(tissue | lunglike))
    sizes = np.bincount(parts.ravel())
    sizes[0] = 0
    return parts, n, sizes, lunglike


def _head_features(plane: NDArray[np.float32], cell_mm2: float, config: RegionConfig
                   ) -> tuple[float, float | None]:
    """Main part's area (mm^2) and, when a skull ring encloses it, the mean HU inside the ring."""
    if not (plane > config.air_hu).any():
        return 0.0, None
    parts, _, sizes, _ = _parts(plane, cell_mm2, config)
    main = parts == int(np.argmax(sizes))
    area = float(main.sum()) * cell_mm2
    bone = (plane >= config.bone_hu) & main
    inside = ndi.binary_fill_holes(bone) & ~bone
    if float(inside.sum()) * cell_mm2 < config.skull_fraction * area:
        return area, None
    return area, float(plane[inside].mean())


def _plane_call(plane: NDArray[np.float32], cell_mm2: float, config: RegionConfig
                ) -> tuple[str, str, str | None, NDArray[np.bool_]]:
    beside = np.zeros(plane.shape, dtype=bool)
    if not (plane > config.air_hu).any():
        return "", "no body", None, beside
    parts, n, sizes, lunglike = _parts(plane, cell_mm2, config)
    main = parts == int(np.argmax(sizes))
    area = float(main.sum()) * cell_mm2
    bone = (plane >= config.bone_hu) & main
    bone_lab, nb = ndi.label(bone)
    others = [p for p in range(1, n + 1) if p != int(np.argmax(sizes)) and
              sizes[p] * cell_mm2 >= 1000.0]
    side = None
    if others:
        limb = parts == max(others, key=lambda p: sizes[p])
        side = _limb(_n_bones((plane >= config.bone_hu) & limb, cell_mm2, config),
                     float(limb.sum()) * cell_mm2, config)
        beside = np.isin(parts, others)
    filled_bone = ndi.binary_fill_holes(bone)
    ring_inside = float((filled_bone & ~bone).sum()) * cell_mm2
    if ring_inside >= config.skull_fraction * area:
        return ("head_face", f"a bone ring encloses {ring_inside / area:.0%} of the section",
                side, beside)
    lung = float((main & lunglike).sum()) * cell_mm2 / area
    if lung >= config.lung_fraction:
        return "thorax", f"air fills {lung:.0%} of the section (lungs)", side, beside
    ii, jj = np.nonzero(main)
    ci, cj = ii.mean(), jj.mean()
    half_i = max((ii.max() - ii.min()) / 2.0, 1.0)
    half_j = max((jj.max() - jj.min()) / 2.0, 1.0)
    central = False
    lateral_mm2 = {-1: 0.0, 1: 0.0}
    for b in range(1, nb + 1):
        bi, bj = np.nonzero(bone_lab == b)
        b_area = len(bi) * cell_mm2
        offset = bi.mean() - ci
        if abs(offset) > half_i / 3.0:
            key = 1 if offset > 0 else -1
            lateral_mm2[key] = max(lateral_mm2[key], b_area)
        else:  # the spine lies in the middle third, off-centre (posterior)
            central = central or (b_area >= 100.0 and abs(bj.mean() - cj) >= 0.3 * half_j)
    small, large = sorted(lateral_mm2.values())
    if small >= config.pelvic_bone_mm2 or large >= 2 * config.pelvic_bone_mm2:
        return "pelvis", (f"lateral bones of {large / 100:.0f} and {small / 100:.0f} cm^2 "
                          "(iliac wings or hips)"), side, beside
    if area >= config.trunk_mm2:
        return "abdomen", f"trunk section of {area / 100:.0f} cm^2 without lungs or pelvic " \
            "bones", side, beside
    pair = any(sizes[p] >= 0.5 * sizes[int(np.argmax(sizes))] for p in others)
    if central and not pair:
        mid = main[int(ci) - 3:int(ci) + 4, int(cj) - 3:int(cj) + 4]
        mid_air = (plane[int(ci) - 3:int(ci) + 4, int(cj) - 3:int(cj) + 4] < config.lung_hu)
        if area < config.neck_max_mm2 and (mid_air & mid).any():
            return ("neck", f"section of {area / 100:.0f} cm^2 with spine and airway", side,
                    beside)
        return ("abdomen", f"small trunk section ({area / 100:.0f} cm^2) with a spine", side,
                beside)
    nb = _n_bones(bone, cell_mm2, config)
    region = _limb(nb, area, config)
    return (region, f"limb section of {area / 100:.0f} cm^2 with {nb} bone(s)", None,
            beside)


#: BodyPartExamined terms (DICOM PS3.16 CID 4031 and common vendor values) of a head study.
_HEAD_PARTS = frozenset({"HEAD", "BRAIN", "SKULL", "FACE", "ORBIT", "SINUS", "IAC", "JAW",
                         "TMJ"})


def _allowed(body_part: str | None) -> tuple[str, ...] | None:
    """Regions a BodyPartExamined term allows, the first the substitute; None: no constraint."""
    term = "".join(ch for ch in str(body_part or "").upper() if ch.isalnum())
    if term in ("NECK", "HEADNECK"):
        return ("neck", "head_face", "thorax")
    if term in _HEAD_PARTS:
        return ("head_face", "neck")
    return None


def _head_planes(raw: list[str], coarse: NDArray[Any], cell_mm2: float, step_mm: float,
                 superior: int, config: RegionConfig) -> list[str]:
    """Recognise a head in 3-D and give the planes continuous with it their region.

    A head is a run of planes over at least ``head_vault_mm`` where a bone ring
    encloses brain-density tissue (``brain_hu``) in a part smaller than a trunk.
    Planes above it (the vertex, cut tangentially: no ring) are ``head_face``;
    planes below it down to the skull base and face (orbits, maxilla, mandible:
    no closed ring) are ``head_face`` until a section with lungs (``thorax``) or
    one larger than ``head_stop_factor`` times the head's largest; below the head
    a plane called ``neck``, or one smaller than ``neck_head_ratio`` of the head's
    largest, starts the neck, and the planes after it are ``neck``.
    """
    feats = [_head_features(coarse[p], cell_mm2, config) for p in range(len(raw))]
    lo_hu, hi_hu = config.brain_hu
    vault = [m is not None and lo_hu <= m <= hi_hu and 0 < a < config.trunk_mm2
             for a, m in feats]
    best: tuple[int, int] | None = None
    p = 0
    while p < len(vault):
        if not vault[p]:
            p += 1
            continue
        q = p
        while q + 1 < len(vault) and vault[q + 1]:
            q += 1
        if (q - p + 1) * step_mm >= config.head_vault_mm and (
                best is None or q - p > best[1] - best[0]):
            best = (p, q)
        p = q + 1
    if best is None:
        return raw
    out = list(raw)
    head_max = max(feats[p][0] for p in range(best[0], best[1] + 1))
    limit = config.head_stop_factor * head_max
    for p in range(best[0], best[1] + 1):
        out[p] = "head_face"
    top = range(best[1] + 1, len(raw)) if superior > 0 else range(best[0] - 1, -1, -1)
    for p in top:
        if raw[p] == "thorax" or feats[p][0] > limit:
            break
        out[p] = "head_face" if raw[p] else raw[p]
    below = range(best[0] - 1, -1, -1) if superior > 0 else range(best[1] + 1, len(raw))
    neck = False
    for p in below:
        area = feats[p][0]
        if raw[p] == "thorax" or area > limit:
            break
        if not raw[p]:
            continue
        neck = neck or raw[p] == "neck" or area < config.neck_head_ratio * head_max
        out[p] = "neck" if neck else "head_face"
    return out


def body_regions(
    hu: NDArray[Any],
    affine: NDArray[np.float64],
    *,
    config: RegionConfig | None = None,
    body_part: str | None = None,
) -> RegionMap:
    """Call the body region of every plane across the patient's long axis.

    Parameters
    ----------
    hu : (I, J, K) ndarray
        CT in HU.
    affine : (4, 4) ndarray
        Voxel-to-RAS+ affine (mm); its S-I component picks the long axis.
    config : RegionConfig, optional
    body_part : str, optional
        DICOM BodyPartExamined (0018,0015), a hint that constrains the image's call:
        a head term (HEAD, BRAIN, SKULL, FACE, ...) allows only ``head_face`` and
        ``neck`` (other calls become ``head_face``); NECK or HEADNECK allows
        ``neck``, ``head_face`` and ``thorax`` (others become ``neck``). Other or no
        terms leave the image's call alone (NIfTI has no header; the image alone
        must be right).

    Returns
    -------
    RegionMap
        Every plane has a region (planes without body take their neighbours').
    """
    config = config or RegionConfig()
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    axis = int(np.argmax(np.abs(affine[2, :3]) / spacing))
    factors = [max(1, round(config.grid_mm / s)) for s in spacing]
    if min(n // f for n, f in zip(hu.shape, factors, strict=True)) < 1:
        factors = [1, 1, 1]
    coarse = block_mean(hu, (factors[0], factors[1], factors[2]))
    coarse = np.moveaxis(coarse, axis, 0)
    in_plane = [s * f for a, (s, f) in enumerate(zip(spacing, factors, strict=True)) if a != axis]
    cell = float(in_plane[0] * in_plane[1])
    calls = [_plane_region(coarse[p], cell, config) for p in range(coarse.shape[0])]
    step_mm = float(spacing[axis] * factors[axis])
    superior = 1 if affine[2, axis] >= 0 else -1
    raw = _head_planes([c[0] for c in calls], coarse, cell, step_mm, superior, config)
    allowed = _allowed(body_part)
    if allowed is not None:
        raw = [r if not r or r in allowed else allowed[0] for r in raw]
    known = [r for r in raw if r]
    fallback = Counter(known).most_common(1)[0][0] if known else "abdomen"
    raw = [r or fallback for r in raw]
    half = config.smooth_planes // 2
    smooth = [Counter(raw[max(0, p - half):p + half + 1]).most_common(1)[0][0]
              for p in range(len(raw))]
    spans: list[RegionSpan] = []
    for p, region in enumerate(smooth):
        if spans and spans[-1].region == region:
            spans[-1] = spans[-1].model_copy(update={"last_plane": p})
        else:
            spans.append(RegionSpan(region=region, first_plane=p, last_plane=p,
                                    evidence=calls[p][1]))
    limbs = [c[2] for c in calls if c[2]]
    rest = [f for a, f in enumerate(factors) if a != axis]
    out = RegionMap(
        axis=axis, factor=factors[axis], regions=smooth, spans=spans,
        limb_region=Counter(limbs).most_common(1)[0][0] if limbs else None,
        sides=[c[2] for c in calls], in_plane_factors=(rest[0], rest[1]),
    )
    out._beside = np.stack([c[3] for c in calls]) if calls else None
    return out
