"""Follow-up comparison against planted truth and against a real CT moved rigidly."""

import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from calcdx.analysis import analyze_volume
from calcdx.followup import ScanLesions, compare_scans, write_comparison
from calcdx.followup.match import ChangeConfig, lesion_snapshots, match_lesions
from calcdx.followup.phantom import followup_pair, rigid_motion

REAL_CT = Path(__file__).resolve().parents[2] / ".." / "shared" / "realct" / \
    "ts_abdomen_native_3mm.nii.gz"


def _scan(volume, name):
    return ScanLesions(volume.hu, volume.affine, analyze_volume(volume).label_map, name)


@pytest.fixture(scope="module", params=[0, 1])
def phantom_comparison(request):
    pair = followup_pair(seed=request.param)
    return pair, compare_scans(_scan(pair.baseline, "baseline"), _scan(pair.followup, "follow"))


def test_registration_recovers_the_planted_motion(phantom_comparison):
    pair, comparison = phantom_comparison
    found = comparison.registration.matrix()
    # a point anywhere in the field of view lands within 1 mm of where the motion puts it
    corners = np.array([[x, y, z, 1.0] for x in (-60, 60) for y in (-60, 60) for z in (-70, 70)])
    error = np.linalg.norm((corners @ found.T - corners @ pair.motion.T)[:, :3], axis=1)
    assert error.max() < 1.0
    assert comparison.registration.rotation_deg == pytest.approx(5.0, abs=0.3)


def test_every_planted_change_is_found_with_its_volume_change(phantom_comparison):
    pair, comparison = phantom_comparison
    for truth in pair.changes:
        nearest = min(comparison.changes, key=lambda c: np.linalg.norm(
            np.subtract(c.centroid_mm, truth.centre_mm)))
        assert np.linalg.norm(np.subtract(nearest.centroid_mm, truth.centre_mm)) < 3.0
        assert nearest.status == truth.status
        if truth.baseline_volume_mm3 and truth.followup_volume_mm3:
            measured = nearest.followup_volume_mm3 / nearest.baseline_volume_mm3
            expected = truth.followup_volume_mm3 / truth.baseline_volume_mm3
            assert measured == pytest.approx(expected, rel=0.10)
    assert comparison.counts()["shrunk"] == 0


@pytest.mark.skipif(not REAL_CT.is_file(), reason="the shared real CT scans are not here")
def test_a_real_ct_against_a_rigidly_moved_copy_of_itself_reports_no_change():
    image = nib.load(REAL_CT)
    hu = np.asarray(image.dataobj, dtype=np.float32)
    from calcdx.volume import Volume

    baseline = Volume(hu=hu.astype(np.int16), affine=image.affine, metadata={"warnings": []})
    centre = image.affine[:3, :3] @ (np.array(hu.shape) / 2.0) + image.affine[:3, 3]
    motion = rigid_motion(5.0, (10.0, -6.0, 3.0), centre)
    # the same voxels, placed elsewhere in the scanner: a copy moved rigidly in patient space
    moved = Volume(hu=baseline.hu, affine=motion @ image.affine, metadata={"warnings": []})
    comparison = compare_scans(_scan(baseline, "real"), _scan(moved, "moved"))
    counts = comparison.counts()
    assert counts["stable"] >= 1
    assert {k: counts[k] for k in ("new", "grown", "shrunk", "resolved")} == \
        {"new": 0, "grown": 0, "shrunk": 0, "resolved": 0}
    found = comparison.registration.matrix()
    corners = np.array([[*(image.affine[:3, :3] @ np.array(c) + image.affine[:3, 3]), 1.0]
                        for c in np.ndindex(2, 2, 2)]) * 1.0
    error = np.linalg.norm((corners @ found.T - corners @ motion.T)[:, :3], axis=1)
    assert error.max() < 2.0  # below one 3 mm voxel


def _ball(shape, centre, radius):
    grid = np.indices(shape).transpose(1, 2, 3, 0)
    return np.linalg.norm(grid - np.asarray(centre), axis=-1) <= radius


def test_small_changes_within_the_tolerance_are_stable_and_specks_are_not_called():
    shape = (60, 60, 60)
    affine = np.eye(4)
    base_labels = np.zeros(shape, np.int32)
    follow_labels = np.zeros(shape, np.int32)
    base_labels[_ball(shape, (20, 20, 20), 8)] = 1
    follow_labels[_ball(shape, (20, 20, 20), 8.2)] = 1   # +8 % volume: within 15 %
    follow_labels[40, 40, 40] = 2                        # one voxel: too small to call new
    hu_base = np.where(base_labels > 0, 500.0, 40.0)
    hu_follow = np.where(follow_labels > 0, 500.0, 40.0)
    changes = match_lesions(
        lesion_snapshots(base_labels, hu_base, affine),
        lesion_snapshots(follow_labels, hu_follow, affine),
        baseline_labels=base_labels, baseline_hu=hu_base,
        followup_labels_on_baseline=follow_labels, followup_hu_on_baseline=hu_follow,
        baseline_affine=affine, baseline_to_followup=np.eye(4), voxel_mm=1.0,
        threshold_hu=130.0, config=ChangeConfig())
    assert [c.status for c in changes] == ["stable", "indeterminate"]
    assert changes[0].volume_change_pct == pytest.approx(
        100 * (follow_labels == 1).sum() / (base_labels == 1).sum() - 100)


def test_a_denser_rim_is_flagged_as_maturing():
    shape = (40, 40, 40)
    labels = np.zeros(shape, np.int32)
    labels[_ball(shape, (20, 20, 20), 9)] = 1
    shell = (labels > 0) & ~_ball(shape, (20, 20, 20), 7.5)
    hu_base = np.where(labels > 0, 250.0, 40.0)
    hu_follow = np.where(shell, 700.0, hu_base)
    changes = match_lesions(
        lesion_snapshots(labels, hu_base, np.eye(4)),
        lesion_snapshots(labels, hu_follow, np.eye(4)),
        baseline_labels=labels, baseline_hu=hu_base, followup_labels_on_baseline=labels,
        followup_hu_on_baseline=hu_follow, baseline_affine=np.eye(4),
        baseline_to_followup=np.eye(4), voxel_mm=1.0, threshold_hu=130.0)
    (change,) = changes
    assert change.status == "stable" and change.maturing
    assert change.rim_hu_change == pytest.approx(450.0)


def test_compare_command_writes_json_and_report_and_refuses_to_overwrite(tmp_path: Path):
    pair = followup_pair(seed=2)
    for name, volume in (("b", pair.baseline), ("f", pair.followup)):
        nib.save(nib.Nifti1Image(np.asarray(volume.hu), volume.affine), tmp_path / f"{name}.nii.gz")
    command = [sys.executable, "-m", "calcdx.cli.main", "compare", str(tmp_path / "b.nii.gz"),
               str(tmp_path / "f.nii.gz"), "--out", str(tmp_path / "cmp")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert document["format"] == "calcdx-compare/1"
    assert document["counts"]["new"] == 1 and document["counts"]["resolved"] == 1
    html = (tmp_path / "cmp" / "compare.html").read_text()
    assert html.count("data:image/png;base64,") == len(document["changes"])
    again = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 2 and "--overwrite" in again.stderr
    assert "Traceback" not in again.stderr


def test_write_comparison_leaves_no_partial_folder_on_failure(tmp_path: Path, monkeypatch):
    pair = followup_pair(seed=0)
    comparison = compare_scans(_scan(pair.baseline, "b"), _scan(pair.followup, "f"))
    import calcdx.followup.compare as module

    def broken(_):
        raise RuntimeError("disk full")

    monkeypatch.setattr(module, "_html", broken)
    with pytest.raises(RuntimeError):
        write_comparison(comparison, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []
