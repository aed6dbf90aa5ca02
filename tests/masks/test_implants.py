"""Implants on analytic volumes: a cemented hip stem and an aortic stent graft.

Truth is the geometry drawn here.

Hip stem: a femoral shaft (cortex 4 mm at 1200 HU round fatty marrow) holding a
metal stem (3071 HU, the top of a 12-bit CT scale, as cobalt-chromium and
titanium stems reach) in a cement mantle (1800 HU: PMMA with barium sulphate),
bright and dark streaks radiating from the metal (+-500 HU, fading over about
12 mm, the alternating bands of beam hardening and photon starvation), and one
500 HU deposit 90 mm from the stem.

Stent graft: an aorta 24 mm across (blood 40 HU, native) carrying a Z-stent on
its wall (rings of zig-zag wire, 8 apices a ring, 15 mm tall, over 80 mm) and one
calcified wall plaque (600 HU) 12 mm below the stent's end. The struts are drawn
saturated (3071 HU, thick stainless-steel wire) or at 1500 HU (thin nitinol wire,
0.2-0.3 mm, blurred by partial volume below the 2500 HU metal threshold of
calcdx.analysis.AnalysisParameters).
"""

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage as ndi

from calcdx.analysis import AnalysisParameters, analyze_volume
from calcdx.io import read_volume
from calcdx.lesions.detect import detect_lesions
from calcdx.masks.metal import StentConfig, find_stents, metal_streaks
from calcdx.volume import Volume

SPACING = (0.8, 0.8, 2.0)
STENT_SPACING = (0.8, 0.8, 1.0)


def _grid(spacing, extent_mm):
    """Voxel-centre coordinates (mm) of a grid centred on 0, and a body of muscle in fat."""
    n = [round(e / s) for e, s in zip(extent_mm, spacing, strict=True)]
    axes = [(np.arange(k) - (k - 1) / 2) * s for k, s in zip(n, spacing, strict=True)]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    hu = np.full(x.shape, -1000.0)
    half_x, half_y = extent_mm[0] / 2.0 - 5.0, extent_mm[1] / 2.0 - 5.0
    body = (x / half_x) ** 2 + (y / half_y) ** 2 <= 1.0
    hu[body] = -100.0
    hu[(x / (half_x - 5.0)) ** 2 + (y / (half_y - 5.0)) ** 2 <= 1.0] = 50.0
    return x, y, z, hu, body


def _hip_stem(spacing=SPACING, streak_hu=500.0, metal_hu=3071.0, ceiling_hu=3071):
    x, y, z, hu, body = _grid(spacing, (200.0, 160.0, 80.0))
    r = np.hypot(x + 40.0, y)
    hu[r <= 13.0] = 1200.0
    hu[r <= 9.0] = -50.0
    hu[r <= 8.0] = 1800.0
    hu[r <= 5.0] = metal_hu
    theta = np.arctan2(y, x + 40.0)
    streak = streak_hu * np.cos(8.0 * theta) * np.exp(-np.clip(r - 5.0, 0.0, None) / 12.0)
    hu += np.where(body & (r > 5.0), streak, 0.0)
    deposit = np.sqrt((x - 50.0) ** 2 + (y - 10.0) ** 2 + z**2) <= 4.0
    hu[deposit] = 500.0
    hu = np.clip(np.round(hu), -1024, ceiling_hu).astype(np.int16)
    return Volume(hu, np.diag([*spacing, 1.0])), r, deposit, body


@pytest.fixture(scope="module")
def stem():
    volume, r, deposit, body = _hip_stem()
    return volume, analyze_volume(volume), r, deposit, body


def test_the_stem_is_foreign_material_not_a_lesion(stem):
    _, result, r, _, _ = stem
    assert len(result.foreign_material) == 1
    assert result.foreign_material[0].peak_hu >= 2500
    # metal stem: pi 5^2 x 80 mm (within a voxel layer of partial volume)
    assert result.foreign_material[0].volume_mm3 == pytest.approx(np.pi * 25.0 * 80.0, rel=0.2)
    assert not np.any(result.label_map[r <= 40.0])  # nor bone, cement or streaks


def test_a_deposit_away_from_the_stem_is_still_found(stem):
    _, result, _, deposit, _ = stem
    found = set(np.unique(result.label_map[deposit])) - {0}
    assert len(found) == 1
    lesion = result.lesions[found.pop() - 1]
    assert lesion.volume_mm3 == pytest.approx(4.0 / 3.0 * np.pi * 4.0**3, rel=0.2)
    assert result.totals.n_lesions == 1


def test_the_bone_round_the_stem_is_skeleton(stem):
    volume, _, r, _, _ = stem
    bone = detect_lesions(volume.hu, volume.affine, AnalysisParameters()).bone
    full = bone.full(volume.shape)
    assert full[r <= 13.0].mean() >= 0.95


def test_the_streaks_do_not_grow_the_skeleton(stem):
    volume, _, r, _, body = stem
    bone = detect_lesions(volume.hu, volume.affine, AnalysisParameters()).bone
    full = bone.full(volume.shape)
    vv = float(np.prod(SPACING))
    spill = np.count_nonzero(full & (r > 14.0) & body) * vv
    assert spill <= 0.1 * np.pi * 13.0**2 * volume.shape[2] * SPACING[2]


def _stent_graft(strut_hu):
    x, y, z, hu, _ = _grid(STENT_SPACING, (160.0, 140.0, 120.0))
    r = np.hypot(x - 10.0, y + 10.0)
    theta = np.arctan2(y + 10.0, x - 10.0)
    hu[r <= 12.0] = 40.0
    height = np.mod(z + 40.0, 15.0) / 15.0  # within a ring, 0..1
    zigzag = np.abs((theta / (2.0 * np.pi) * 8.0) % 1.0 - 0.5) * 2.0  # 0..1, 8 apices
    wire = (np.abs(r - 12.0) <= 0.6) & (np.abs(zigzag - height) <= 0.06) & (np.abs(z) <= 40.0)
    hu[wire] = strut_hu
    plaque = (np.abs(r - 12.5) <= 1.0) & (np.abs(theta - 1.0) <= 0.4) & (np.abs(z + 52.0) <= 3.0)
    hu[plaque] = 600.0
    return Volume(np.round(hu).astype(np.int16), np.diag([*STENT_SPACING, 1.0])), wire, plaque


@pytest.mark.parametrize("strut_hu", [3071, 1500])
def test_struts_are_not_lesions_and_the_plaque_beyond_is_found(strut_hu):
    volume, wire, plaque = _stent_graft(strut_hu)
    result = analyze_volume(volume)
    near_struts = ndi.binary_dilation(wire, iterations=2)
    assert not np.any(result.label_map[near_struts])
    found = set(np.unique(result.label_map[plaque])) - {0}
    assert len(found) == 1
    assert result.lesions[found.pop() - 1].volume_mm3 >= 0.8 * plaque.sum() * np.prod(STENT_SPACING)


def test_the_report_says_what_the_metal_kept_from_being_assessed(stem):
    _, result, _, _, _ = stem
    (note,) = [n for n in result.masks.notes if n.startswith("metal present")]
    # the stem fills every slice: the whole stack, 0 to 78 mm, within 50 mm of it
    assert "slices 0-39" in note and "z 0 to 78 mm" in note and "50 mm" in note
    assert result.masks.excluded["metal_streak_volume_mm3"] > 0


def test_an_extended_hu_stem_read_from_nifti(tmp_path):
    """Extended-HU scanners store metal far beyond 3071 HU; the streaks are deeper too."""
    volume, r, deposit, body = _hip_stem(streak_hu=1000.0, metal_hu=12000.0, ceiling_hu=30000)
    path = tmp_path / "stem.nii.gz"
    nib.save(nib.Nifti1Image(volume.hu, volume.affine), path)
    read = read_volume(path)
    result = analyze_volume(read)
    assert result.foreign_material[0].peak_hu == 12000.0
    assert not np.any(result.label_map[r <= 40.0])
    found = set(np.unique(result.label_map[deposit])) - {0}
    assert len(found) == 1 and result.totals.n_lesions == 1
    full = detect_lesions(read.hu, read.affine, AnalysisParameters()).bone.full(read.shape)
    assert full[r <= 13.0].mean() >= 0.95
    spill = np.count_nonzero(full & (r > 14.0) & body) * float(np.prod(SPACING))
    assert spill <= 0.1 * np.pi * 13.0**2 * volume.shape[2] * SPACING[2]


def _slice_with_metal(extra):
    """One 0.8 mm slice (3 deep) of muscle with a 4 mm metal rod at the centre."""
    n = 151
    axis = (np.arange(n) - n // 2) * 0.8
    x, y = np.meshgrid(axis, axis, indexing="ij")
    plane = np.full((n, n), 50.0)
    extra(plane, x, y)
    plane[np.hypot(x, y) <= 4.0] = 3071.0
    hu = np.repeat(plane[:, :, None], 3, axis=2)
    ijk = np.argwhere(hu >= 130.0)
    metal = np.argwhere(hu >= 2500.0)
    return hu, x, y, ijk, metal


def test_bright_streaks_with_dark_bands_are_streaks():
    def streaks(plane, x, y):
        r, theta = np.hypot(x, y), np.arctan2(y, x)
        plane += 400.0 * np.cos(6.0 * theta) * np.exp(-np.clip(r - 4.0, 0, None) / 15.0)

    hu, x, y, ijk, metal = _slice_with_metal(streaks)
    flags = metal_streaks(hu, (0.8, 0.8, 0.8), ijk, metal, radius_mm=50.0)
    r = np.hypot(x, y)[ijk[:, 0], ijk[:, 1]]
    beyond = r > 6.0  # beyond the rod and its blooming
    assert flags[beyond].mean() >= 0.9
    assert not flags[r <= 4.0].any()


def test_bone_near_metal_is_not_a_streak():
    """A cortex ring round the rod, a radial bone plate in fat, a thin wall on gas."""
    def bone(plane, x, y):
        r = np.hypot(x, y)
        plane[(r >= 8.0) & (r <= 12.0)] = 1200.0  # cortex round a stem
        # a plate 10 mm thick running away from the rod (a pubic ramus from a cup):
        # 1.5 mm cortex (1000 HU) round cancellous bone (300 HU), in fat
        plane[(x >= 15.0) & (x <= 45.0) & (np.abs(y) <= 12.0)] = -100.0
        plane[(x >= 16.0) & (x <= 42.0) & (np.abs(y) <= 5.0)] = 1000.0
        plane[(x >= 17.5) & (x <= 40.5) & (np.abs(y) <= 3.5)] = 300.0
        plane[(x <= -15.0) & (x >= -40.0) & (y > 1.0) & (y <= 15.0)] = -900.0  # gas
        plane[(x <= -15.0) & (x >= -40.0) & (np.abs(y) <= 1.0)] = 600.0  # thin wall on it

    hu, _, _, ijk, metal = _slice_with_metal(bone)
    flags = metal_streaks(hu, (0.8, 0.8, 0.8), ijk, metal, radius_mm=50.0)
    assert not flags.any()


def test_patchy_wall_calcification_is_no_stent():
    """Dense plaques on part of a vessel's wall, of uneven density, are lesions."""
    rng = np.random.default_rng(3)
    pieces = []
    for k0 in (10, 30, 50):  # three plaques along the vessel, each on a quarter of the wall
        cells = [(round(50 + 12 * np.cos(t)), round(50 + 12 * np.sin(t)), k)
                 for t in np.linspace(0.2, 1.6, 12) for k in range(k0, k0 + 6)]
        ijk = np.unique(np.asarray(cells), axis=0)
        pieces.append((ijk, rng.uniform(1000.0, 2200.0, len(ijk))))
    drop, stents = find_stents(pieces, np.diag([0.8, 0.8, 1.0, 1.0]), config=StentConfig())
    assert stents == [] and not any(d.any() for d in drop)


def test_a_stent_touching_a_plaque_leaves_the_plaque():
    volume, wire, _ = _stent_graft(1500)
    hu = volume.hu.astype(np.int16).copy()
    x, y, z, *_ = _grid(STENT_SPACING, (160.0, 140.0, 120.0))
    r, theta = np.hypot(x - 10.0, y + 10.0), np.arctan2(y + 10.0, x - 10.0)
    # a calcified plaque on the wall outside the struts, touching them, mid-stent
    plaque = (r > 12.6) & (r <= 15.0) & (np.abs(theta - 2.0) <= 0.5) & (np.abs(z) <= 4.0)
    hu[plaque] = 700
    result = analyze_volume(Volume(hu, volume.affine))
    assert [m.matrix for m in result.foreign_material] == ["stent"]
    found = set(np.unique(result.label_map[plaque])) - {0}
    assert len(found) == 1
    vv = float(np.prod(STENT_SPACING))
    # the plaque beyond the 2 mm blooming margin of the struts is still reported
    beyond = plaque & ~ndi.binary_dilation(wire, iterations=3)
    assert result.lesions[found.pop() - 1].volume_mm3 >= 0.8 * beyond.sum() * vv


REALCT = Path(__file__).resolve().parents[2] / ".." / "shared" / "realct"
SERIES = "ts_chest_abdomen_dicom"


@pytest.mark.skipif(not (REALCT / SERIES).is_dir(), reason="the shared real CT is absent")
def test_a_screw_in_a_real_vertebra_does_not_grow_its_skeleton():
    """Real CT (0.98 x 0.98 x 2 mm) with a titanium screw and its streaks drawn in.

    Truth: TotalSegmentator's bone classes on the original series. The screw (6 mm
    across, 40 mm along the antero-posterior axis through T12's label centroid, 3
    slices, 3071 HU) radiates bright and dark streaks (+-400 HU, 10 bright bands
    round it, fading over 15 mm) over the body in its slices. Beyond the bone and
    the screw's blooming, the skeleton may take up at most a quarter of the mineral
    the streaks make (the rest is mostly the streaks' roots on the bone, where the arc
    round the screw holds bone), and lesions away from its slices stay as they were.
    """
    from calcdx.phantom.realct import bone_class_ids, labels_on_grid, load_class_table

    volume = read_volume(REALCT / SERIES)
    image = nib.load(REALCT / f"{SERIES}_totalseg.nii.gz")
    labels = labels_on_grid(np.asarray(image.dataobj), image.affine, volume.affine,
                            volume.shape)
    classes = load_class_table(REALCT / "totalseg_total_classes.json")
    bone = np.isin(labels, bone_class_ids(classes))
    t12 = next(i for i, n in classes.items() if n == "vertebrae_T12")
    spacing = np.linalg.norm(volume.affine[:3, :3], axis=0)
    ks = (7, 8, 9)
    ci, cj = np.argwhere(labels[:, :, 8] == t12).mean(axis=0)
    i, j = np.meshgrid(np.arange(volume.shape[0]), np.arange(volume.shape[1]), indexing="ij")
    x, y = (i - ci) * spacing[0], (j - cj) * spacing[1]
    d = np.hypot(x, y - np.clip(y, -20.0, 20.0))  # in-plane distance to the screw's axis
    streak = 400.0 * np.cos(10.0 * np.arctan2(y, x)) * np.exp(-np.clip(d - 3.0, 0, None) / 15.0)
    hu = np.asarray(volume.hu, dtype=np.float32).copy()
    for k in ks:
        plane = hu[:, :, k]
        plane += np.where((plane > -400.0) & (d > 3.0), streak, 0.0)
        plane[d <= 3.0] = 3071.0
    screwed = Volume(np.clip(np.round(hu), -1024, 3071).astype(np.int16), volume.affine,
                     metadata=dict(volume.metadata))
    params = AnalysisParameters()
    before = detect_lesions(volume.hu, volume.affine, params, metadata=volume.metadata)
    after = detect_lesions(screwed.hu, screwed.affine, params, metadata=screwed.metadata)
    assert len(after.metal.objects) == 1
    # beyond the bone (two voxels in-plane) and the screw's blooming, in its slices
    beyond = ~ndi.binary_dilation(bone, structure=np.ones((5, 5, 1), dtype=bool))
    beyond &= (d > 5.0)[:, :, None]
    beyond[:, :, [k for k in range(volume.shape[2]) if k not in ks]] = False
    vv = float(np.prod(spacing))
    made = np.count_nonzero(beyond & (screwed.hu >= 130) & (volume.hu < 130)) * vv
    grown = (np.count_nonzero(after.bone.full(volume.shape) & beyond)
             - np.count_nonzero(before.bone.full(volume.shape) & beyond)) * vv
    # measured: net growth 430 of the 2,312 mm^3 of mineral the streaks make there (19 %;
    # 27 % before broad bands were streaks: its bands widen beyond 8 mm along the screw); without
    # the streak rule 1,190 mm^3 (52 %)
    assert grown <= 0.25 * made
    # lesions away from the screw's slices are the same
    def away(det):
        return sorted(len(les.ijk) for les in det.lesions if les.ijk[:, 2].max() < 5
                      or les.ijk[:, 2].min() > 11)
    assert away(after) == away(before)


@pytest.mark.parametrize("strut_hu", [3071, 1500])
def test_wall_calcification_inside_the_stented_segment_is_found(strut_hu):
    """Struts saturated at 3071 HU (thick steel wire) or at 1500 HU: one stent, and a
    plaque on the wall between its rings, mid-graft, is still reported."""
    volume, wire, _ = _stent_graft(strut_hu)
    hu = volume.hu.copy()
    x, y, z, *_ = _grid(STENT_SPACING, (160.0, 140.0, 120.0))
    r, theta = np.hypot(x - 10.0, y + 10.0), np.arctan2(y + 10.0, x - 10.0)
    plaque = (r > 12.8) & (r <= 15.0) & (np.abs(theta + 2.0) <= 0.4) & (np.abs(z - 5.0) <= 3.0)
    plaque &= ~ndi.binary_dilation(wire, iterations=3)
    hu[plaque] = 600
    result = analyze_volume(Volume(hu, volume.affine))
    (stent,) = result.foreign_material
    assert stent.matrix == "stent"
    assert stent.length_mm == pytest.approx(80.0, abs=3.0)
    assert stent.radius_mm == pytest.approx(12.0, abs=1.0)
    found = set(np.unique(result.label_map[plaque])) - {0}
    assert len(found) == 1
    vv = float(np.prod(STENT_SPACING))
    assert result.lesions[found.pop() - 1].volume_mm3 >= 0.8 * plaque.sum() * vv


def test_a_metal_tube_is_metal_not_a_stent():
    """A cannulated nail (10 mm across, 4 mm canal, 3071 HU) fills its circle: metal."""
    x, y, _, hu, _ = _grid(SPACING, (120.0, 120.0, 80.0))
    r = np.hypot(x, y)
    hu[(r <= 5.0) & (r >= 2.0)] = 3071.0
    result = analyze_volume(Volume(np.round(hu).astype(np.int16), np.diag([*SPACING, 1.0])))
    assert [m.matrix for m in result.foreign_material] == ["foreign_material"]


KNEE_SPACING = (0.8, 0.8, 2.0)


def _knee(streak_hu=300.0):
    """A total knee: femoral shell over the condyles, tibial tray and stem, streaks.

    Femoral shaft (r 14 mm, cortex 4 mm at 1200 HU) widening to condyles (ellipse
    80 x 60 mm, 1 mm cortex at 800 HU round 300 HU); a cobalt-chromium shell 3 mm
    thick over them (z 0-12 mm, 3071 HU); a polyethylene insert (-90 HU, z -6-0 mm);
    a titanium tray (z -8 to -6 mm) and stem (r 6 mm, to z -40 mm) in the tibia
    (ellipse 76 x 52 mm, 800 HU cortex round 250 HU). In the metal's slices, bright
    and dark streaks (+-streak_hu, 8 bright bands, fading over 15 mm beyond the
    metal); a 4 mm deposit (500 HU) 60 mm from the axis, 50 mm above the joint.
    """
    x, y, z, hu, body = _grid(KNEE_SPACING, (200.0, 180.0, 160.0))
    r, theta = np.hypot(x, y), np.arctan2(y, x)

    def ellipse(a, b):
        return (x / a) ** 2 + (y / b) ** 2 <= 1.0

    shaft, condyles, tibia = z > 20.0, (z > 0.0) & (z <= 20.0), (z <= -6.0) & (z > -80.0)
    hu[shaft & (r <= 14.0)] = 1200.0
    hu[shaft & (r <= 10.0)] = -50.0
    hu[condyles & ellipse(40.0, 30.0)] = 800.0
    hu[condyles & ellipse(39.0, 29.0)] = 300.0
    hu[tibia & ellipse(38.0, 26.0)] = 800.0
    hu[tibia & ellipse(37.0, 25.0)] = 250.0
    bone = (shaft & (r <= 14.0)) | (condyles & ellipse(40.0, 30.0)) | (tibia & ellipse(38.0, 26.0))
    hu[(z > -6.0) & (z <= 0.0) & ellipse(38.0, 26.0)] = -90.0
    shell = (z > 0.0) & (z <= 12.0) & ellipse(43.0, 33.0) & ~ellipse(40.0, 30.0)
    tray = (z > -8.0) & (z <= -6.0) & ellipse(38.0, 26.0)
    stem = (z <= -6.0) & (z > -40.0) & (r <= 6.0)
    metal = shell | tray | stem
    hu[metal] = 3071.0
    edge = np.where(z > 0.0, 43.0, np.where(z > -8.0, 38.0, 6.0))
    in_slices = ((z > -40.0) & (z <= -6.0)) | ((z > 0.0) & (z <= 12.0))
    streak = streak_hu * np.cos(8.0 * theta) * np.exp(-np.clip(r - edge, 0.0, None) / 15.0)
    hu += np.where(body & in_slices & ~metal, streak, 0.0)
    deposit = np.sqrt((x - 60.0) ** 2 + (y + 20.0) ** 2 + (z - 50.0) ** 2) <= 4.0
    hu[deposit] = 500.0
    hu = np.clip(np.round(hu), -1024, 3071).astype(np.int16)
    return Volume(hu, np.diag([*KNEE_SPACING, 1.0])), bone, metal, deposit, body, in_slices


def test_a_knee_prosthesis_is_metal_and_a_deposit_above_it_is_found():
    volume, bone, metal, deposit, _, _ = _knee()
    result = analyze_volume(volume)
    assert len(result.foreign_material) == 2  # femoral shell; tray with its stem
    assert all(m.matrix == "foreign_material" for m in result.foreign_material)
    assert not np.any(result.label_map[ndi.binary_dilation(metal, iterations=2)])
    found = set(np.unique(result.label_map[deposit])) - {0}
    assert len(found) == 1 and result.totals.n_lesions == 1
    full = detect_lesions(volume.hu, volume.affine, AnalysisParameters()).bone.full(volume.shape)
    assert full[bone].mean() >= 0.95


def test_the_streaks_of_a_knee_prosthesis_do_not_grow_the_skeleton():
    """Round the 86 x 66 mm femoral shell the bright bands are 14-17 mm wide; measured
    6,170 mm^3 of skeleton beyond the bone and metal (4 % of the 150,600 mm^3 of bone in
    the metal's slices; 22,400 mm^3 when only bands up to 8 mm were streaks)."""
    volume, bone, metal, _, body, in_slices = _knee()
    full = detect_lesions(volume.hu, volume.affine, AnalysisParameters()).bone.full(volume.shape)
    near = ndi.binary_dilation(bone | metal, structure=np.ones((3, 3, 1), dtype=bool))
    vv = float(np.prod(KNEE_SPACING))
    spill = np.count_nonzero(full & ~near & body) * vv
    assert spill <= 0.1 * np.count_nonzero(bone & in_slices) * vv


def test_blurred_noisy_struts_and_their_blooming_are_not_lesions():
    """Steel struts as a scanner reads them: blurred (Gaussian PSF, SD 0.5 mm) to peaks
    of about 1,600 HU with a blooming halo, plus noise of SD 20 HU."""
    volume, wire, plaque = _stent_graft(3071)
    hu = ndi.gaussian_filter(volume.hu.astype(np.float64), 0.6)
    hu += np.random.default_rng(2).normal(0.0, 20.0, hu.shape)
    assert 1000.0 <= hu[wire].max() <= 2000.0
    result = analyze_volume(Volume(np.round(hu).astype(np.int16), volume.affine))
    assert [m.matrix for m in result.foreign_material] == ["stent"]
    assert not np.any(result.label_map[ndi.binary_dilation(wire, iterations=2)])
    found = set(np.unique(result.label_map[plaque])) - {0}
    assert len(found) == 1 and result.totals.n_lesions == 1


def _enhanced_stent_graft(strut_hu, plaque_hu):
    """The stent graft with its lumen enhanced (arterial, 350 HU, noise SD 15 HU) and a
    calcified plaque (`plaque_hu`) on the wall just outside the struts, mid-graft."""
    volume, wire, lower = _stent_graft(strut_hu)
    hu = volume.hu.astype(np.float64)
    x, y, z, *_ = _grid(STENT_SPACING, (160.0, 140.0, 120.0))
    r, theta = np.hypot(x - 10.0, y + 10.0), np.arctan2(y + 10.0, x - 10.0)
    lumen = (r <= 11.4) & ~wire
    hu[lumen] = 350.0 + np.random.default_rng(0).normal(0.0, 15.0, int(lumen.sum()))
    plaque = (r > 12.8) & (r <= 15.0) & (np.abs(theta + 2.0) <= 0.4) & (np.abs(z - 5.0) <= 3.0)
    plaque &= ~ndi.binary_dilation(wire, iterations=3)
    hu[plaque] = plaque_hu
    return (Volume(np.round(hu).astype(np.int16), volume.affine), wire, lower, plaque,
            lumen & (r <= 10.0))


@pytest.mark.parametrize(("strut_hu", "plaque_hu"), [
    (3071, 700.0), (1500, 700.0), (3071, 1000.0), (1500, 1000.0), (1500, 1400.0)])
def test_a_stent_graft_in_an_enhanced_aorta_keeps_its_wall_calcification(strut_hu, plaque_hu):
    """Arterial phase: the enhanced lumen is never reported, nor the struts; the plaque
    on the wall beside the struts (denser than the lumen by the plaque margin) and the
    one below the graft are."""
    volume, wire, lower, plaque, lumen = _enhanced_stent_graft(strut_hu, plaque_hu)
    result = analyze_volume(volume)
    assert result.contrast.enhanced
    assert [m.matrix for m in result.foreign_material] == ["stent"]
    assert not np.any(result.label_map[lumen & ~ndi.binary_dilation(wire, iterations=2)])
    assert not np.any(result.label_map[ndi.binary_dilation(wire, iterations=2)])
    vv = float(np.prod(STENT_SPACING))
    for truth in (plaque, lower):
        found = set(np.unique(result.label_map[truth])) - {0}
        assert len(found) == 1
        assert result.lesions[found.pop() - 1].volume_mm3 >= 0.8 * truth.sum() * vv
HIP_SPACING = (0.8, 0.8, 2.0)


def _hips(sides=(1.0,), streak_hu=400.0, dark_hu=300.0):
    """Total hips read at the 3071 HU ceiling of a 12-bit scale: pelvis, cup, head, neck.

    Per side (centre x = +-70 mm): a cobalt-chromium head (r 14 mm) in a titanium
    cup (shell r 22-25 mm, its upper half, z >= -4 mm), both 3071 HU (saturated) with
    a polyethylene liner (-90 HU) between; the acetabulum round the cup (r 25-35 mm,
    2 mm cortex at 1000 HU round 300 HU, over the cup's slices) with a pubic ramus
    running medially (16 x 12 mm, 1.5 mm cortex at 1000 HU round 300 HU, in fat).
    In the metal's slices, bright and dark streaks round each head (+-streak_hu, 8
    bright bands, fading over 15 mm beyond the cup) and, with two hips, the dark
    band of beam hardening between them (-dark_hu along the strip joining the heads,
    as wide as a head). A 4 mm deposit (500 HU) 40 mm above the cups.
    """
    x, y, z, hu, body = _grid(HIP_SPACING, (300.0, 200.0, 100.0))
    bone = np.zeros(x.shape, dtype=bool)
    metal = np.zeros(x.shape, dtype=bool)
    streak = np.zeros(x.shape)
    cups = z >= -4.0
    for side in sides:
        cx = 70.0 * side
        rho = np.sqrt((x - cx) ** 2 + y**2 + z**2)
        r2 = np.hypot(x - cx, y)
        aceta = (rho <= 35.0) & (rho > 25.0) & (z >= -4.0)
        hu[aceta] = 1000.0
        hu[aceta & (rho <= 33.0) & (rho > 25.0)] = 300.0
        hu[aceta & (rho <= 26.0)] = 1000.0
        ramus = (np.abs(x - cx + side * 45.0) <= 16.0) & (np.abs(y) <= 6.0) & (np.abs(z) <= 8.0)
        hu[ramus & ~aceta] = -100.0
        inner = (np.abs(x - cx + side * 45.0) <= 15.0) & (np.abs(y) <= 4.5) & (np.abs(z) <= 7.0)
        rim = (np.abs(x - cx + side * 45.0) <= 15.0) & (np.abs(y) <= 6.0) & (np.abs(z) <= 8.0)
        hu[rim & ~aceta] = 1000.0
        hu[inner & ~aceta] = 300.0
        bone |= aceta | (rim & ~aceta)
        hu[(rho <= 22.0) & (rho > 14.0) & cups] = -90.0
        cup = (rho <= 25.0) & (rho > 22.0) & cups
        head = rho <= 14.0
        metal |= cup | head
        theta = np.arctan2(y, x - cx)
        streak += streak_hu * np.cos(8.0 * theta) * np.exp(-np.clip(r2 - 25.0, 0, None) / 15.0)
    in_slices = np.broadcast_to(metal.any(axis=(0, 1)), metal.shape)
    if len(sides) == 2:
        between = (np.abs(y) <= 14.0) & (np.abs(x) <= 70.0)
        streak -= np.where(between, dark_hu, 0.0)
    hu += np.where(body & in_slices & ~metal, streak, 0.0)
    hu[metal] = 3071.0
    deposit = np.sqrt((x - 20.0) ** 2 + (y - 30.0) ** 2 + (z - 42.0) ** 2) <= 4.0
    hu[deposit] = 500.0
    hu = np.clip(np.round(hu), -1024, 3071).astype(np.int16)
    return Volume(hu, np.diag([*HIP_SPACING, 1.0])), bone, metal, deposit, body, in_slices


@pytest.mark.parametrize("sides", [
    pytest.param((1.0,), id="one hip"),
    pytest.param((1.0, -1.0), id="both hips", marks=pytest.mark.xfail(strict=True, reason=(
        "measured: 8,900 mm^3 of soft tissue beyond the bone and metal is skeleton (11,600 "
        "allowed; 52,700 before the liner was an implant cavity and broad bands were read "
        "over one period), but 93.2 % of the bone is skeleton (95 % asked): the pubic rami "
        "in the dark band between the hips (cortex 700 HU in tissue at -250 to -400 HU) "
        "are taken for bright streaks beside a dark band")))])
def test_hip_prostheses_at_the_hu_ceiling(sides):
    """Saturated heads and cups are metal; the acetabulum and ramus stay skeleton, the
    streaks (and the dark band between two hips) do not grow it, a deposit above is found."""
    volume, bone, metal, deposit, body, in_slices = _hips(sides)
    result = analyze_volume(volume)
    assert len(result.foreign_material) == 2 * len(sides)  # a head and a cup each
    assert all(m.matrix == "foreign_material" and m.peak_hu == 3071.0
               for m in result.foreign_material)
    assert not np.any(result.label_map[ndi.binary_dilation(metal, iterations=2)])
    found = set(np.unique(result.label_map[deposit])) - {0}
    assert len(found) == 1 and result.totals.n_lesions == 1
    full = detect_lesions(volume.hu, volume.affine, AnalysisParameters()).bone.full(volume.shape)
    assert full[bone].mean() >= 0.95
    near = ndi.binary_dilation(bone | metal, structure=np.ones((3, 3, 1), dtype=bool))
    vv = float(np.prod(HIP_SPACING))
    spill = np.count_nonzero(full & ~near & body & in_slices) * vv
    assert spill <= 0.1 * np.count_nonzero(bone & in_slices) * vv
