"""Lesions scaled with the image, and their retention after reconstruction."""

from __future__ import annotations

import numpy as np
import pytest

from mricompendium.data.recon import CaseSet
from mricompendium.experiments.reconstruction.lesions import (
    lesion_cases,
    lesion_radius_px,
    lesion_scores,
)


def _cases(size: int, n: int = 3, fine: int = 128) -> CaseSet:
    y, x = np.mgrid[:fine, :fine] - (fine - 1) / 2
    mask = x**2 + y**2 < (0.4 * fine) ** 2
    objects = np.stack([mask * (0.5 + 0.1 * i) for i in range(n)]).astype(np.float32)
    names = [f"c{i}" for i in range(n)]
    return CaseSet.from_objects(objects, np.stack([mask] * n), size, names, names,
                                ["template"] * n)  # fmt: skip


@pytest.mark.parametrize("size", [32, 64, 128])
def test_lesion_size_scales_with_the_image(size: int) -> None:
    cases, lesions = lesion_cases(_cases(size), radius_fraction=(0.05, 0.1), contrast=0.5, seed=0)
    assert len(cases) == 3 and lesions.shape == (3, size, size)
    assert cases.objects.shape == (3, 128, 128)  # the lesion is part of the object
    assert not np.array_equal(cases.objects, _cases(size).objects)
    area = lesions.sum(axis=(1, 2)) / size**2
    assert np.all((area > np.pi * 0.05**2 * 0.5) & (area < np.pi * 0.1**2 * 1.5))
    assert lesion_radius_px(size, (0.05, 0.1)) == (0.05 * size, 0.1 * size)


def test_retention_is_one_for_the_truth_and_low_for_a_blur() -> None:
    cases, lesions = lesion_cases(_cases(64), radius_fraction=(0.05, 0.1), contrast=0.5, seed=1)
    same = lesion_scores(cases.images, cases.images, lesions)
    np.testing.assert_allclose(same["retention"], 1.0)
    np.testing.assert_allclose(same["ssim_lesion"], 1.0)
    pairs = zip(cases.images, cases.masks, strict=True)
    flat = np.stack([np.full_like(im, im[m].mean()) for im, m in pairs])
    assert np.all(np.abs(lesion_scores(flat, cases.images, lesions)["retention"]) < 0.2)


def test_too_large_a_lesion_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="radius_fraction"):
        lesion_radius_px(64, (0.2, 0.6))
    with pytest.raises(ValueError, match="lesion_radius"):
        lesion_cases(_cases(32), radius_fraction=(0.4, 0.45), contrast=0.5, seed=0)
