"""Key images depend on the patient geometry only, never on how the grid is stored."""

import base64
import dataclasses
import io

import numpy as np
from PIL import Image

from calcdx.analysis import AnalysisResult
from calcdx.report import ImageOptions, key_images
from calcdx.report._orient import canonical
from calcdx.volume import Volume

_OPTIONS = ImageOptions(size_px=160, max_groups=3)


def _pixels(uri: str) -> np.ndarray:
    data = base64.b64decode(uri.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def _regrid(volume: Volume, result: AnalysisResult, perm: tuple[int, int, int],
            flip: tuple[bool, bool, bool]) -> tuple[Volume, AnalysisResult]:
    """The same study stored with axes permuted (new axis a = old axis perm[a]) and flipped."""
    shape = np.asarray(volume.shape)[list(perm)]
    step = np.eye(4)
    step[:3, :3] = 0.0
    for new, old in enumerate(perm):
        if flip[new]:
            step[old, new] = -1.0
            step[old, 3] = shape[new] - 1
        else:
            step[old, new] = 1.0

    def move(arr: np.ndarray) -> np.ndarray:
        out = np.transpose(arr, perm)
        for axis, f in enumerate(flip):
            if f:
                out = np.flip(out, axis)
        return np.ascontiguousarray(out)

    def index(ijk: tuple) -> np.ndarray:
        return np.linalg.solve(step, np.r_[np.asarray(ijk, dtype=float), 1.0])[:3]

    lesions = []
    for les in result.lesions:
        a, b = index(les.bbox_voxel_min), index(les.bbox_voxel_max)
        lesions.append(les.model_copy(update={
            "centroid_voxel": tuple(index(les.centroid_voxel)),
            "bbox_voxel_min": tuple(round(float(v)) for v in np.minimum(a, b)),
            "bbox_voxel_max": tuple(round(float(v)) for v in np.maximum(a, b)),
        }))
    new_volume = Volume(move(volume.hu), volume.affine @ step, volume.metadata)
    new_result = dataclasses.replace(result, lesions=lesions, label_map=move(result.label_map))
    return new_volume, new_result


def test_canonical_recovers_patient_axes(analysed):
    volume = analysed.volume
    canon = canonical(volume.affine, volume.shape)
    ras = canon.array(volume.hu)
    # world x of the reoriented grid's first and last column: right of the patient is +x
    ijk_first = np.zeros(3)
    ijk_last = np.zeros(3)
    ijk_last[canon.perm[0]] = volume.shape[canon.perm[0]] - 1
    x = volume.world_mm(np.stack([ijk_first, ijk_last]))[:, 0]
    assert (x[1] > x[0]) != canon.flip[0]
    assert ras.shape == canon.shape


def test_images_do_not_depend_on_storage_order(analysed):
    reference = key_images(analysed.volume, analysed.result, options=_OPTIONS)
    for perm, flip in [((0, 1, 2), (True, False, False)),
                       ((1, 0, 2), (False, True, True))]:
        volume, result = _regrid(analysed.volume, analysed.result, perm, flip)
        assert not np.allclose(volume.affine, analysed.volume.affine)
        images = key_images(volume, result, options=_OPTIONS)
        assert images.keys() == reference.keys()
        for key, uri in reference.items():
            diff = np.abs(_pixels(uri) - _pixels(images[key]))
            assert diff.mean() < 0.5, (perm, flip, key, diff.mean())


def test_patient_right_is_on_the_image_left(analysed):
    """A bright marker on the patient's right shows in the left half of the projection."""
    volume = analysed.volume
    hu = np.array(volume.hu, dtype=np.int16)
    labels = np.zeros_like(analysed.result.label_map)
    # the grid axis that runs along world x (RAS+: +x is the patient's right)
    axis = int(np.argmax(np.abs(volume.affine[0, :3])))
    n = volume.shape[axis]
    towards_right = volume.affine[0, axis] > 0
    index: list[slice] = [slice(None)] * 3
    index[axis] = slice(n - 4, n) if towards_right else slice(0, 4)
    labels[tuple(index)] = 1
    result = dataclasses.replace(analysed.result, lesions=[], label_map=labels)
    marked = key_images(Volume(hu, volume.affine, volume.metadata), result, groups={},
                        options=_OPTIONS)
    pixels = _pixels(marked["burden_mip"])
    orange = (pixels[..., 0] > 200) & (pixels[..., 1] < 150) & (pixels[..., 2] < 100)
    columns = np.nonzero(orange.any(axis=0))[0]
    assert columns.size and columns.max() < pixels.shape[1] // 2


def test_projection_is_the_per_plane_float32_mean():
    """The block-wise coronal projection equals each axial plane's float32 mean along y."""
    from calcdx.report.images import _projection, _Scene

    rng = np.random.default_rng(3)
    hu = rng.integers(-1500, 3000, size=(37, 29, 23)).astype(np.int16)
    labels = (rng.random(hu.shape) > 0.995).astype(np.uint8)
    for perm, flip in [((0, 1, 2), (False, False, False)), ((1, 0, 2), (True, False, True)),
                       ((2, 0, 1), (False, True, False))]:
        h = np.transpose(hu, perm)
        lab = np.transpose(labels, perm)
        for axis, f in enumerate(flip):
            if f:
                h, lab = np.flip(h, axis), np.flip(lab, axis)
        affine = np.diag([0.7, 0.7, 1.5, 1.0])
        canon = canonical(affine, h.shape)
        for arr in (h, h.astype(np.float32) + 0.25):
            scene = _Scene(canon, canon.array(arr), canon.array(lab))
            body, burden = _projection(scene)
            view, lview = canon.array(arr), canon.array(lab)
            expect = np.stack([np.clip(np.asarray(view[:, :, z], dtype=np.float32), -1000.0,
                                       1500.0).mean(axis=1) for z in range(view.shape[2])], 1)
            assert body.dtype == np.float32
            np.testing.assert_array_equal(body, expect)
            np.testing.assert_array_equal(
                burden, np.stack([(lview[:, :, z] > 0).any(axis=1)
                                  for z in range(view.shape[2])], 1))
