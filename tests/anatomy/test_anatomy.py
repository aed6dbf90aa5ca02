"""TotalSegmentator anatomy (calcdx.anatomy) and ``analyze --anatomy``.

Truth: TotalSegmentator's own label files in ../shared/realct (read here with
nibabel, independently of calcdx.anatomy), the case-format vocabulary, and
synthetic label grids of known world position.
"""

import json
from functools import lru_cache
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import yaml

from calcdx.anatomy import load_anatomy, resample_labels, structure_of, total_classes
from calcdx.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
REALCT = ROOT / ".." / "shared" / "realct"
needs_realct = pytest.mark.skipif(not REALCT.is_dir(), reason="shared real-CT folder absent")

TS_SCANS = [
    ("ts_abdomen_native_3mm.nii.gz", "ts_abdomen_native_3mm_totalseg.nii.gz"),
    ("ts_chest_abdomen_dicom", "ts_chest_abdomen_dicom_totalseg.nii.gz"),
]
#: TotalSegmentator organ classes and the case-format organ a lesion inside carries
#: (written out here from the vocabulary, not taken from calcdx.anatomy).
ORGAN_OF = {
    "spleen": "spleen", "kidney_right": "kidney", "kidney_left": "kidney",
    "kidney_cyst_left": "kidney", "kidney_cyst_right": "kidney", "gallbladder": "gallbladder",
    "liver": "liver", "stomach": "bowel", "pancreas": "pancreas",
    "adrenal_gland_right": "adrenal", "adrenal_gland_left": "adrenal", "small_bowel": "bowel",
    "duodenum": "bowel", "colon": "bowel", "urinary_bladder": "bladder",
    "prostate": "prostate", "thyroid_gland": "thyroid", "lung_upper_lobe_left": "lung",
    "lung_lower_lobe_left": "lung", "lung_upper_lobe_right": "lung",
    "lung_middle_lobe_right": "lung", "lung_lower_lobe_right": "lung",
}
BONE = ("vertebrae_", "rib_", "sternum", "skull", "hip_", "femur_", "humerus_", "scapula_",
        "clavicula_", "sacrum")


def _vocabulary() -> dict:
    return yaml.safe_load((ROOT / "src/calcdx/case/vocabulary.yaml").read_text())


def test_class_table_is_totalsegmentator_v2_total():
    classes = total_classes()
    assert len(classes) == 117 and classes[52] == "aorta" and classes[117] == "costal_cartilages"
    shared = REALCT / "totalseg_total_classes.json"
    if shared.is_file():
        assert {int(k): v for k, v in json.loads(shared.read_text()).items()} == classes


def test_every_class_maps_to_vocabulary_terms():
    vocab = _vocabulary()
    unmapped = []
    for name in total_classes().values():
        s = structure_of(name)
        for field in ("organ", "location", "region"):
            value = getattr(s, field)
            assert value is None or value in vocab[field], (name, field, value)
        if s.kind == "other":
            unmapped.append(name)
        assert (s.kind == "bone") == name.startswith(BONE), name
    assert sorted(unmapped) == ["brain", "spinal_cord", "trachea"]
    for name, organ in ORGAN_OF.items():
        assert structure_of(name).organ == organ
    assert structure_of("costal_cartilages").location == "cartilage_nonarticular"
    assert structure_of("iliac_artery_left").location == "artery"
    assert structure_of("aorta").kind == "artery"
    # inside the brain label is intracranial (calcdx's organ 'brain'); its kind stays
    # 'other', so an enhanced study suppresses nothing under the brain's median + 150 HU
    brain = structure_of("brain")
    assert (brain.organ, brain.location, brain.region) == ("brain", "organ", "head_face")


def test_resampling_follows_the_affines():
    # a 10 x 10 x 10 label grid of 2 mm voxels, axes flipped, placed at a known offset
    lab = np.zeros((10, 10, 10), dtype=np.int16)
    lab[2, 3, 4] = 7
    lab_aff = np.array([[-2.0, 0, 0, 50], [0, 2.0, 0, -10], [0, 0, 2.0, 5], [0, 0, 0, 1]])
    world = lab_aff @ np.array([2, 3, 4, 1.0])
    ct_aff = np.diag([1.0, 1.0, 1.0, 1.0])
    ct_aff[:3, 3] = world[:3] - np.array([5.0, 6.0, 7.0])
    out, coverage = resample_labels(lab, lab_aff, ct_aff, (30, 30, 30))
    assert out[5, 6, 7] == 7
    hit = np.argwhere(out == 7)
    # one 2 mm label voxel covers about 2 x 2 x 2 CT voxels of 1 mm
    assert 1 <= len(hit) <= 27 and np.abs(hit - [5, 6, 7]).max() <= 1
    assert 0 < coverage < 1


def test_labels_that_do_not_overlap_are_refused(tmp_path):
    lab = np.ones((5, 5, 5), dtype=np.int16)
    path = tmp_path / "far.nii.gz"
    nib.save(nib.Nifti1Image(lab, np.diag([1.0, 1, 1, 1]) + np.array(
        [[0, 0, 0, 900], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])), path)
    with pytest.raises(InputError, match="does not overlap the CT"):
        load_anatomy(path, np.eye(4), (20, 20, 20))


def test_not_totalsegmentator_ids_are_refused(tmp_path):
    path = tmp_path / "ct.nii.gz"
    nib.save(nib.Nifti1Image(np.full((4, 4, 4), 300, dtype=np.int16), np.eye(4)), path)
    with pytest.raises(InputError, match="not TotalSegmentator v2"):
        load_anatomy(path, np.eye(4), (4, 4, 4))


@lru_cache(maxsize=4)
def _volume(name: str):
    from calcdx.io import read_volume

    return read_volume(REALCT / name)


def _reference_labels(name: str, labels: str) -> np.ndarray:
    from calcdx.phantom.realct import labels_on_grid

    volume = _volume(name)
    image = nib.load(REALCT / labels)
    return labels_on_grid(np.asarray(image.dataobj), image.affine, volume.affine, volume.shape)


@needs_realct
def test_folder_of_masks_reads_as_the_multilabel_file(tmp_path):
    name, labels = TS_SCANS[0]
    image = nib.load(REALCT / labels)
    data = np.asarray(image.dataobj)
    classes = total_classes()
    for cid in np.unique(data):
        if cid:
            nib.save(nib.Nifti1Image((data == cid).astype(np.uint8), image.affine),
                     tmp_path / f"{classes[int(cid)]}.nii.gz")
    volume = _volume(name)
    folder = load_anatomy(tmp_path, volume.affine, volume.shape)
    assert np.array_equal(folder.labels, _reference_labels(name, labels))


@needs_realct
def test_dicom_seg_reads_as_the_nifti(tmp_path):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    from calcdx.io.dicom import read_series_headers

    name, labels = TS_SCANS[1]
    volume = _volume(name)
    reference = _reference_labels(name, labels)
    heads = read_series_headers(REALCT / name)
    for h in heads:  # the anonymised series lacks what highdicom needs to reference it
        h.SOPClassUID = h.get("SOPClassUID") or "1.2.840.10008.5.1.4.1.1.2"
        for key in ("SeriesInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID"):
            if not h.get(key):
                setattr(h, key, "1.2.826.0.1.3680043.10.511.1." + str(len(key)))
        for key in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex",
                    "AccessionNumber", "StudyID", "StudyDate", "StudyTime",
                    "ReferringPhysicianName"):
            if key not in h:
                setattr(h, key, "")
    classes = total_classes()
    ids = [c for c in (1, 5, 32, 52) if (reference == c).any()]
    pixels = np.stack([np.transpose(reference == c, (2, 1, 0)) for c in ids], axis=-1)
    algorithm = hd.AlgorithmIdentificationSequence(
        name="TotalSegmentator", family=codes.cid7162.ArtificialIntelligence, version="2")
    seg = hd.seg.Segmentation(
        source_images=heads, pixel_array=pixels.astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[hd.seg.SegmentDescription(
            segment_number=i + 1, segment_label=classes[c],
            segmented_property_category=codes.cid7150.Tissue,
            segmented_property_type=codes.cid7166.ConnectiveTissue,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm) for i, c in enumerate(ids)],
        series_instance_uid=hd.UID(), series_number=5, sop_instance_uid=hd.UID(),
        instance_number=1, manufacturer="test", manufacturer_model_name="test",
        software_versions="1", device_serial_number="1")
    seg.save_as(tmp_path / "ts.seg.dcm")
    read = load_anatomy(tmp_path / "ts.seg.dcm", volume.affine, volume.shape)
    assert len(ids) == 4
    for c in ids:
        assert np.array_equal(read.labels == c, reference == c), classes[c]


@lru_cache(maxsize=4)
def _analysed(name: str, labels: str):
    from calcdx.analysis import analyze_volume
    from calcdx.findings.derive import derive_groups

    volume = _volume(name)
    anatomy = load_anatomy(REALCT / labels, volume.affine, volume.shape)
    result = analyze_volume(volume, anatomy=anatomy)
    return result, derive_groups(result)


@needs_realct
@pytest.mark.parametrize(("name", "labels"), TS_SCANS)
def test_with_anatomy_little_reported_mineral_is_bone(name, labels):
    result, _ = _analysed(name, labels)
    ref = _reference_labels(name, labels)
    classes = total_classes()
    bone = np.isin(ref, [i for i, n in classes.items() if n.startswith(BONE)])
    reported = result.label_map > 0
    assert reported.any()
    assert 100.0 * np.count_nonzero(reported & bone) / np.count_nonzero(reported) <= 0.5


@needs_realct
@pytest.mark.parametrize(("name", "labels"), TS_SCANS)
def test_every_lesion_inside_an_organ_carries_it(name, labels):
    result, groups = _analysed(name, labels)
    ref = _reference_labels(name, labels)
    classes = total_classes()
    by_id = {lesion.id: lesion for lesion in result.lesions}
    checked = 0
    organ_of_lesion: dict[int, str] = {}
    for lesion_id, lesion in by_id.items():
        inside = ref[result.label_map == lesion_id]
        counts = np.bincount(inside[inside > 0], minlength=1)
        if counts.size == 0 or counts.max() * 2 < inside.size:
            continue  # not mostly inside one label
        organ = ORGAN_OF.get(classes[int(np.argmax(counts))])
        if organ is None:
            continue
        checked += 1
        organ_of_lesion[lesion_id] = organ
        assert lesion.anatomy is not None and lesion.anatomy.organ == organ, lesion_id
        assert lesion.location == "organ"
    assert checked >= 1
    for group in groups:
        organs = {organ_of_lesion.get(i) for i in group.lesion_ids}
        if len(organs) == 1 and None not in organs:
            assert group.imaging.get("organ") == organs.pop()


@needs_realct
def test_native_aortic_wall_plaque_is_found_and_located():
    name, labels = TS_SCANS[0]
    result, _ = _analysed(name, labels)
    ref = _reference_labels(name, labels)
    from scipy import ndimage as ndi

    wall = ndi.binary_dilation(ref == 52)  # the label and the voxel layer around it
    hu = _volume(name).hu
    assert np.count_nonzero(wall & (hu >= 150)) >= 1  # mineral on the aortic wall
    in_aorta = [lesion for lesion in result.lesions
                if lesion.anatomy is not None and lesion.anatomy.structure == "aorta"]
    assert in_aorta and all(lesion.location == "artery" for lesion in in_aorta)
    assert result.contrast.phase is not None and result.contrast.phase.phase == "native"


@needs_realct
def test_cli_analyze_with_anatomy_writes_organs(tmp_path, capsys):
    from calcdx.cli.main import main

    name, labels = TS_SCANS[0]
    out = tmp_path / "out"
    assert main(["analyze", str(REALCT / name), "--anatomy", str(REALCT / labels),
                 "--out", str(out)]) == 0
    doc = json.loads((out / "result.json").read_text())
    kidney = [les for les in doc["lesions"]
              if (les.get("anatomy") or {}).get("organ") == "kidney"]
    assert kidney
    assert any(g["case"]["imaging"].get("organ") == "kidney" for g in doc["groups"])
    assert doc["contrast"]["phase"]["phase"] == "native"
    assert "anatomy from TotalSegmentator" in " ".join(doc["masks"]["notes"])
    html = (out / "report.html").read_text()
    assert "organ (in kidney " in html
    assert "Patient sex" in html and "not known" in html
    bad = tmp_path / "bad"
    far = tmp_path / "far.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((4, 4, 4), np.int16), np.diag([1.0, 1, 1, 1]) + np.array(
        [[0, 0, 0, 5000], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])), far)
    capsys.readouterr()
    assert main(["analyze", str(REALCT / name), "--anatomy", str(far), "--out", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "does not overlap the CT" in err and "\n" not in err.strip()
    assert not bad.exists()


@needs_realct
def test_cohort_study_with_an_anatomy_column(tmp_path):
    from calcdx.cohort.task import analyze_study

    name, labels = TS_SCANS[0]
    (tmp_path / "studies").mkdir()
    (tmp_path / "failed").mkdir()
    study = {"study_id": "s1", "subject": "A", "timepoint": "0", "order": 0,
             "path": str(REALCT / name), "anatomy": str(REALCT / labels), "context": {},
             "series_uid": None}
    marker = analyze_study(study, str(tmp_path / "studies"), str(tmp_path / "failed"), "k", {})
    assert marker["status"] == "done", marker
    doc = json.loads((tmp_path / "studies" / "s1" / "result.json").read_text())
    assert any((les.get("anatomy") or {}).get("organ") == "kidney" for les in doc["lesions"])
