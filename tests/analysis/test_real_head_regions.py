"""Body region of a real head CT: the GE head series with gantry tilt.

``../shared/realct/dcmqa_ge_head_tilt`` (dcm_qa_ct, BSD 2-Clause; README in the
shared folder) is a complete head CT, vertex to skull base, with +18.5 degrees of
gantry tilt and uneven slice steps. Independent truth: it is a head (its images,
and its header's BodyPartExamined HEAD), so every plane and lesion is head_face
or neck and no abdominal or pelvic entity may be raised.
"""

from pathlib import Path

import numpy as np
import pytest

from calcdx.io import read_volume
from calcdx.masks.region import body_regions
from calcdx.study import run_study

SERIES = Path(__file__).resolve().parents[2] / ".." / "shared" / "realct" / "dcmqa_ge_head_tilt"

pytestmark = pytest.mark.skipif(
    not SERIES.is_dir(), reason="the shared GE head series ../shared/realct is absent"
)

HEAD = {"head_face", "neck"}
#: Entities whose KB region is abdomen or pelvis only (a red flag of one on a head is wrong).
TRUNK_ONLY = ("gallbladder", "gallstone", "nephro", "renal", "pancrea", "splen", "hepat",
              "bladder", "prostat", "uterine", "ovari", "appendi", "adrenal")


@pytest.fixture(scope="module")
def volume():
    return read_volume(SERIES)


def test_every_plane_is_head_from_the_image_alone(volume):
    regions = body_regions(volume.hu, volume.affine)  # no header hint (as from NIfTI)
    assert set(regions.regions) <= HEAD, regions.spans


def test_the_header_hint_is_read(volume):
    assert volume.metadata["body_part_examined"] == "HEAD"


def test_a_head_hint_keeps_a_trunk_call_out():
    # an image the image rules call abdomen (a large soft-tissue section with a central spine
    # would be trunk): the HEAD hint allows only head_face and neck
    hu = np.full((80, 80, 12), -1000.0, dtype=np.float32)
    yy, xx = np.mgrid[:80, :80]
    hu[(yy - 40) ** 2 + (xx - 40) ** 2 < 38 ** 2] = 40.0
    affine = np.diag([5.0, 5.0, 5.0, 1.0])
    assert set(body_regions(hu, affine).regions) == {"abdomen"}
    assert set(body_regions(hu, affine, body_part="HEAD").regions) == {"head_face"}
    assert set(body_regions(hu, affine, body_part="Neck").regions) == {"neck"}
    assert set(body_regions(hu, affine, body_part="ABDOMEN").regions) == {"abdomen"}


def test_lesions_and_differential_are_of_a_head(tmp_path):
    outcome = run_study(SERIES, tmp_path / "out")
    doc = outcome.document
    for les in doc["lesions"]:
        assert les.get("region") in HEAD, les.get("region")
    flags = [f.lower() for f in _red_flags(doc)]
    assert not [f for f in flags if any(w in f for w in TRUNK_ONLY)], flags
    assert doc["lesions"], "the series has calcifications to place"
    # the header's hint is kept with the input's metadata, where a user can see what was used
    assert doc["input"]["metadata"]["body_part_examined"] == "HEAD"


def _red_flags(doc):
    """The raised red flags: a differential's own, not those listed with each entity."""
    found = []
    if isinstance(doc, dict):
        if isinstance(doc.get("differential"), list) and isinstance(doc.get("red_flags"), list):
            found += [str(x) for x in doc["red_flags"]]
        for v in doc.values():
            found += _red_flags(v)
    elif isinstance(doc, list):
        for v in doc:
            found += _red_flags(v)
    return found
