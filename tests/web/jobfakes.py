"""Analyses for jobs run in a child process: module-level, so a spawned child can import them.

Tests put this folder on ``sys.path`` (the child inherits it) and import this
module as ``jobfakes``.
"""

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from calcdx.errors import StudyError

Progress = Callable[[str, float], None]


def works(input_path: Path, out_dir: Path, progress: Progress) -> Path:
    """A tiny result.json, written by the child; its pid is in the result."""
    progress("reading", 0.1)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = out_dir / "result.json"
    result.write_text(json.dumps({"format": "fake", "pid": os.getpid(), "lesions": []}))
    progress("done", 1.0)
    return result


def hungry(input_path: Path, out_dir: Path, progress: Progress) -> Path:
    """Asks for 8 GiB at once."""
    progress("allocating", 0.2)
    block = bytearray(8 * 1024**3)
    return Path(str(len(block)))


def sleepy(input_path: Path, out_dir: Path, progress: Progress) -> Path:
    """Takes a minute."""
    progress("waiting", 0.3)
    time.sleep(60)
    return out_dir / "result.json"


def killed(input_path: Path, out_dir: Path, progress: Progress) -> Path:
    """Its process is killed (as the kernel's out-of-memory killer would)."""
    progress("reading", 0.1)
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(10)
    return out_dir / "result.json"


def names_its_input(input_path: Path, out_dir: Path, progress: Progress) -> Path:
    """Fails naming the absolute path of a file of its input."""
    raise StudyError(f"{input_path.resolve()}/000003.dcm is not a DICOM image file; give a series")


def with_labels(input_path: Path, out_dir: Path, progress: Progress) -> Path:
    """A result.json and a label map with one lesion voxel, on the input's grid."""
    import nibabel as nib
    import numpy as np

    result = works(input_path, out_dir, progress)
    image = nib.load(str(input_path))
    labels = np.zeros(image.shape, dtype=np.uint8)
    labels[1, 1, 1] = 1
    nib.save(nib.Nifti1Image(labels, image.affine), str(out_dir / "lesions.nii.gz"))
    return result
