"""DICOM SEG: one segment per lesion holding exactly the label map's voxels."""

import warnings

import highdicom as hd
import numpy as np
import pydicom
import pytest

from calcdx.errors import InputError
from calcdx.io import read_volume
from calcdx.standards import write_seg, write_sr, write_standard_objects
from calcdx.standards.codes import FINDING_CATEGORY, matrix_code
from calcdx.standards.seg import segment_frames


def label_voxels(label_map, lesion_id):
    """(slice, row, column) of every voxel of a lesion; label map axes are (column, row, slice)."""
    i, j, k = np.nonzero(label_map == lesion_id)
    return set(zip(k.tolist(), j.tolist(), i.tolist(), strict=True))


@pytest.fixture(scope="module")
def seg_path(study, tmp_path_factory):
    return write_seg(study.result, study.volume, study.headers,
                     tmp_path_factory.mktemp("seg") / "lesions.seg.dcm")


def test_segments_describe_each_lesion(study, seg_path):
    seg = hd.seg.segread(seg_path)
    assert seg.SegmentationType == "BINARY"
    assert len(seg.SegmentSequence) == len(study.result.lesions)
    for number, lesion in enumerate(study.result.lesions, start=1):
        item = seg.get_segment_description(number)
        assert item.segment_label == f"Lesion {lesion.id}"
        assert item.segmented_property_category == FINDING_CATEGORY
        assert item.segmented_property_type == matrix_code(lesion.matrix)
        assert item.algorithm_type == hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC
        assert item.algorithm_identification[0].AlgorithmName == "calcdx"
    assert "PixelData" not in study.headers[0]  # headers alone were enough


def test_segment_voxels_equal_label_map_by_source_instance(study, seg_path):
    seg = hd.seg.segread(seg_path)
    uids = [ds.SOPInstanceUID for ds in study.headers]
    pixels = seg.get_pixels_by_source_instance(uids)  # (slices, rows, columns, segments)
    assert pixels.shape[:3] == (study.volume.shape[2], study.volume.shape[1],
                                study.volume.shape[0])
    for number, lesion in enumerate(study.result.lesions, start=1):
        k, r, c = np.nonzero(pixels[..., number - 1])
        got = set(zip(k.tolist(), r.tolist(), c.tolist(), strict=True))
        assert got == label_voxels(study.result.label_map, lesion.id), f"lesion {lesion.id}"


def test_segment_voxels_equal_label_map_in_patient_space(study, seg_path):
    """Independent of highdicom's reader: raw frames, plane positions and the volume affine."""
    ds = pydicom.dcmread(seg_path)
    frames = ds.pixel_array.reshape(-1, ds.Rows, ds.Columns)
    shared = ds.SharedFunctionalGroupsSequence[0]
    iop = np.array(shared.PlaneOrientationSequence[0].ImageOrientationPatient, dtype=float)
    row_cos, col_cos = iop[:3], iop[3:]
    dr, dc = (float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing)
    to_voxel = np.linalg.inv(study.volume.affine)
    found: dict[int, set] = {}
    for frame, group in zip(frames, ds.PerFrameFunctionalGroupsSequence, strict=True):
        number = int(group.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        origin = np.array(group.PlanePositionSequence[0].ImagePositionPatient, dtype=float)
        r, c = np.nonzero(frame)
        lps = origin + c[:, None] * dc * row_cos + r[:, None] * dr * col_cos
        ras = lps * np.array([-1.0, -1.0, 1.0])
        ijk = ras @ to_voxel[:3, :3].T + to_voxel[:3, 3]
        assert np.allclose(ijk, np.rint(ijk), atol=1e-3)
        ijk = np.rint(ijk).astype(int)
        found.setdefault(number, set()).update(
            (int(k), int(j), int(i)) for i, j, k in ijk
        )
    for number, lesion in enumerate(study.result.lesions, start=1):
        assert found.get(number, set()) == label_voxels(study.result.label_map, lesion.id)


def test_segment_frames_transposes_to_rows_and_columns():
    labels = np.zeros((4, 3, 2), dtype=np.uint16)  # 4 columns, 3 rows, 2 slices
    labels[3, 1, 0] = 7
    labels[0, 2, 1] = 9
    out = segment_frames(labels, [9, 7])
    assert out.shape == (2, 3, 4)
    assert out[0, 1, 3] == 2 and out[1, 2, 0] == 1
    assert out.sum() == 3
    with pytest.raises(InputError, match="does not list"):
        segment_frames(labels, [7])


def test_sources_in_the_wrong_order_are_refused(study, tmp_path):
    with pytest.raises(InputError, match="does not lie at slice"):
        write_seg(study.result, study.volume, study.headers[::-1], tmp_path / "x.dcm")
    with pytest.raises(InputError, match="source images for a volume"):
        write_seg(study.result, study.volume, study.headers[1:], tmp_path / "x.dcm")


def test_result_document_needs_the_label_map(study, tmp_path):
    with pytest.raises(InputError, match="label map"):
        write_seg(study.document, study.volume, study.headers, tmp_path / "x.dcm")
    path = write_seg(study.document, study.volume, study.headers, tmp_path / "d.dcm",
                     label_map=study.result.label_map)
    assert len(hd.seg.segread(path).SegmentSequence) == len(study.document["lesions"])


def test_nifti_input_gets_a_clear_error(study, tmp_path):
    volume = read_volume(study.nifti)
    message = "DICOM SEG and SR need a DICOM input"
    with pytest.raises(InputError, match=message):
        write_seg(study.result, volume, study.headers, tmp_path / "seg.dcm")
    with pytest.raises(InputError, match=message):
        write_seg(study.result, volume, [], tmp_path / "seg.dcm")
    with pytest.raises(InputError, match=message):
        write_sr(study.result, volume, pydicom.Dataset(), [], tmp_path / "sr.dcm")
    with pytest.raises(InputError, match=message):
        write_standard_objects(study.result, volume, study.nifti, tmp_path,
                               document=study.document)
    assert not (tmp_path / "seg.dcm").exists()
    assert str(InputError(message)).count("\n") == 0


def test_a_library_warning_on_a_source_header_is_one_note_not_a_lost_seg(study, tmp_path):
    """A phantom's PatientName of one component ("HEAD", as the dcm_qa_ct Philips series
    has it) makes highdicom warn. The warning must not escape to the console (the CLI
    printed it as a raw Python warning) nor cost the SEG (under an error filter it did);
    it becomes one line of the study's notes."""
    source = tmp_path / "dicom"
    source.mkdir()
    for file in sorted(study.dicom.iterdir()):
        ds = pydicom.dcmread(file)
        ds.PatientName = "HEAD"
        ds.save_as(source / file.name)
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning escaping would raise here
        written = write_standard_objects(study.result, study.volume, source, tmp_path / "out",
                                         document=study.document, notes=notes)
    assert {"seg", "sr"} <= set(written)
    said = [n for n in notes if n.startswith("DICOM SEG/SR:")]
    assert len(said) == 1 and "HEAD" in said[0] and "person name" in said[0]
    assert not any("not written" in n for n in notes)
