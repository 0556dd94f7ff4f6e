"""Synthetic lesions: placement inside the mask, determinism, and the contrast measure."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from mricompendium.data import insert_lesion, lesion_contrast


def _phantom(size: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """A textured elliptical 'brain' with a smooth gradient, and its mask."""
    yy, xx = np.mgrid[:size, :size] / (size - 1) - 0.5
    mask = (yy / 0.42) ** 2 + (xx / 0.34) ** 2 <= 1.0
    rng = np.random.default_rng(0)
    texture = ndimage.gaussian_filter(rng.standard_normal((size, size)), 2.0)
    image = np.where(mask, 0.6 + 0.2 * yy + 0.05 * texture / texture.std(), 0.0)
    return image.astype(np.float32), mask


@pytest.mark.parametrize("seed", range(8))
def test_lesion_lies_inside_mask_away_from_border(seed: int) -> None:
    image, mask = _phantom()
    out, lesion = insert_lesion(image, mask, seed=seed)
    assert out.shape == image.shape and out.dtype == image.dtype and lesion.dtype == bool
    assert lesion.sum() >= np.pi * 4 * 4 * 0.8
    # Nothing changed outside the mask, and the lesion plus a 2-pixel margin is inside it.
    np.testing.assert_array_equal(out[~mask], image[~mask])
    assert not (ndimage.binary_dilation(lesion, iterations=2) & ~mask).any()
    changed = np.abs(out - image) > 1e-6
    assert changed[lesion].all()


def test_deterministic_by_seed_and_seeds_differ() -> None:
    image, mask = _phantom()
    a, la = insert_lesion(image, mask, seed=3)
    b, lb = insert_lesion(image, mask, seed=3)
    c, lc = insert_lesion(image, mask, seed=4)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
    assert not np.array_equal(la, lc)


@pytest.mark.parametrize("contrast", [0.5, 0.2, -0.3])
def test_contrast_measure_recovers_inserted_contrast_on_flat_tissue(contrast: float) -> None:
    image = np.full((64, 64), 0.8, np.float32)
    mask = np.zeros((64, 64), bool)
    mask[8:56, 8:56] = True
    out, lesion = insert_lesion(image, mask, seed=1, contrast=contrast)
    assert lesion_contrast(image, lesion) == pytest.approx(0.0, abs=1e-6)
    assert lesion_contrast(out, lesion) == pytest.approx(contrast * 0.8, rel=0.1)


@pytest.mark.parametrize("contrast", [0.5, -0.4])
def test_contrast_measure_on_textured_tissue(contrast: float) -> None:
    image, mask = _phantom()
    ratios = []
    for seed in range(10):
        out, lesion = insert_lesion(image, mask, seed=seed, contrast=contrast)
        background = image[ndimage.binary_dilation(lesion, iterations=4) & ~lesion].mean()
        ratios.append(lesion_contrast(out, lesion) / background)
    assert np.sign(np.median(ratios)) == np.sign(contrast)
    assert np.median(ratios) == pytest.approx(contrast, rel=0.2)


def test_blurring_lowers_measured_contrast() -> None:
    image, mask = _phantom()
    out, lesion = insert_lesion(image, mask, seed=2, contrast=0.5)
    blurred = ndimage.gaussian_filter(out, 3.0)
    assert lesion_contrast(blurred, lesion) < 0.8 * lesion_contrast(out, lesion)


def test_bad_inputs() -> None:
    image, mask = _phantom()
    with pytest.raises(ValueError, match="no room"):
        insert_lesion(image, np.pad(np.ones((6, 6), bool), 45), seed=0)
    with pytest.raises(TypeError):
        insert_lesion(image, mask.astype(np.uint8), seed=0)
    with pytest.raises(ValueError):
        insert_lesion(image, mask[:-1], seed=0)
    with pytest.raises(ValueError):
        insert_lesion(image, mask, seed=0, contrast=-1.0)
    with pytest.raises(ValueError):
        insert_lesion(image, mask, seed=0, radius_px=(5.0, 2.0))
    with pytest.raises(ValueError, match="empty"):
        lesion_contrast(image, np.zeros_like(mask))


def test_radius_is_relative_to_the_image_side() -> None:
    from mricompendium.data.lesions import RADIUS, lesion_radius_px

    assert lesion_radius_px((64, 64)) == (4.0, 9.0)
    assert lesion_radius_px((32, 48)) == (RADIUS[0] * 32, RADIUS[1] * 32)
    assert lesion_radius_px((320, 320), radius_px=(2.0, 3.0)) == (2.0, 3.0)
    with pytest.raises(ValueError, match="radius"):
        lesion_radius_px((64, 64), radius=(0.1, 0.6))
    # The same relative radius gives lesions of the same relative area at any size.
    areas = []
    for size in (48, 96, 192):
        image, mask = _phantom(size)
        _, lesion = insert_lesion(image, mask, seed=5, radius=(0.08, 0.08))
        areas.append(lesion.mean())
    assert max(areas) / min(areas) < 1.15


def test_no_room_names_the_slice() -> None:
    from mricompendium.data import DataError

    image, _ = _phantom(64)
    tiny = np.pad(np.ones((8, 8), bool), 28)
    with pytest.raises(DataError, match=r"sub07\.nii\.gz_z031: no room .* radius"):
        insert_lesion(image, tiny, seed=0, source="sub07.nii.gz_z031")


def test_large_lesions_shrink_to_fit_small_sections() -> None:
    image, _ = _phantom(64)
    mask = np.pad(np.ones((18, 18), bool), 23)  # inner distance 9 px: room for semi-axes < 5.5
    out, lesion = insert_lesion(image, mask, seed=1, radius_px=(4.0, 9.0))
    assert lesion.any() and not (ndimage.binary_dilation(lesion, iterations=2) & ~mask).any()


@pytest.mark.parametrize("size", [32, 48])
def test_embedded_slices_take_lesions_at_small_sizes(size: int) -> None:
    from mricompendium.data import load_slices
    from mricompendium.data.lesions import insert_lesions

    for split in ("test", "real"):
        s = load_slices(split, size=size)
        out, lesions = insert_lesions(s.images, s.masks, s.names, seed=0)
        assert lesions.any(axis=(1, 2)).all() and out.shape == s.images.shape
