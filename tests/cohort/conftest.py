"""A small cohort on disk: two subjects with two timepoints each, and one unreadable study.

Subject A is the follow-up phantom pair (known changes); subject B is the standard phantom
at two noise seeds (no change planted); ``broken`` is a text file named like a NIfTI.
"""

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from calcdx.followup.phantom import followup_pair
from calcdx.phantom import make_phantom


def _nifti(volume, path: Path) -> Path:
    nib.save(nib.Nifti1Image(np.asarray(volume.hu), volume.affine), path)
    return path


@pytest.fixture(scope="session")
def cohort_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cohort_inputs")
    pair = followup_pair(seed=3)
    _nifti(pair.baseline, root / "a0.nii.gz")
    _nifti(pair.followup, root / "a1.nii.gz")
    for seed in (0, 1):
        _nifti(make_phantom(shape=(96, 96, 48), spacing_mm=(1.6, 1.6, 4.0), seed=seed).volume,
               root / f"b{seed}.nii.gz")
    (root / "broken.nii.gz").write_text("not an image")
    (root / "manifest.csv").write_text(
        "path,subject,timepoint,age,sex,history\n"
        "a0.nii.gz,A,0,34,male,trauma_recent\n"
        "a1.nii.gz,A,6,34,male,trauma_recent\n"
        "b0.nii.gz,B,baseline,61,female,\n"
        "b1.nii.gz,B,month12,62,female,\n"
        "broken.nii.gz,C,0,,,\n"
    )
    return root
