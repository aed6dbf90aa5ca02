"""Low-dose noise (SD 25-30 HU) makes no lesions; a real deposit is still found."""

import numpy as np
import pytest

from calcdx.analysis import AnalysisParameters
from calcdx.lesions.detect import detect_lesions
from calcdx.lesions.noise import noise_sd_hu


def _noisy_body(sd_hu, seed):
    rng = np.random.default_rng(seed)
    shape = (120, 120, 40)
    x, y = np.meshgrid(np.arange(120) - 60.0, np.arange(120) - 60.0, indexing="ij")
    hu = np.full(shape, -1000.0, dtype=np.float32)
    hu[x**2 + y**2 <= 50**2] = 40.0
    hu += rng.normal(0.0, sd_hu, shape).astype(np.float32)
    return np.round(hu).astype(np.int16), x, y


@pytest.mark.parametrize("sd_hu", [25.0, 30.0])
def test_noise_sd_is_measured(sd_hu):
    hu, _, _ = _noisy_body(sd_hu, seed=1)
    est = noise_sd_hu(hu)
    assert est is not None
    assert est.sd_hu == pytest.approx(sd_hu, rel=0.1)
    assert est.tissue_hu == pytest.approx(40.0, abs=3.0)


@pytest.mark.parametrize("sd_hu", [25.0, 30.0])
def test_low_dose_noise_makes_no_lesion_deposit_found(sd_hu):
    hu, x, y = _noisy_body(sd_hu, seed=2)
    # Noise alone brings tens to hundreds of tissue voxels to 130 HU (2.9-3.6 SD).
    assert np.count_nonzero(hu >= 130) > 50
    deposit = (x - 20) ** 2 + y**2 <= 3**2
    hu[deposit, 18:22] = 400
    det = detect_lesions(hu, np.eye(4), AnalysisParameters())
    assert len(det.lesions) == 1
    les = det.lesions[0]
    assert np.all(np.abs(les.ijk.mean(axis=0) - [80, 60, 19.5]) < 1.0)
