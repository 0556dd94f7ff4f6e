"""Real breathing series: NIfTI files the test writes -> two phases at two resolutions."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from mricompendium.data import DataError
from mricompendium.data.registration.dynamic import (
    find_dynamic_series,
    load_dynamic_series,
    series_pairs,
)


def _series(t: int = 9) -> np.ndarray:
    """A bright block moving along the first axis with a sinusoidal breathing trace."""
    x = np.zeros((24, 20, t), np.float32)
    for k in range(t):
        shift = int(round(4 * np.sin(2 * np.pi * k / t)))
        x[8 + shift : 14 + shift, 6:14, k] = 1.0
    return x + 0.05


def test_phases_are_the_breathing_extremes_and_ras_is_applied(tmp_path: Path) -> None:
    lps = np.diag([-1.5, -1.5, 1.0, 1.0])  # x and y flipped: RAS+ reverses them back
    nib.save(nib.Nifti1Image(_series(), lps), tmp_path / "sub01.nii.gz")
    four = np.repeat(_series()[:, :, None], 3, axis=2)
    nib.save(nib.Nifti1Image(four, np.diag([1.5, 1.5, 3.0, 1.0])), tmp_path / "sub02.nii")
    files = find_dynamic_series(tmp_path)
    assert [f.name for f in files] == ["sub01.nii.gz", "sub02.nii"]
    a, b = (load_dynamic_series(f) for f in files)
    assert a.frames.shape == b.frames.shape == (9, 24, 20) and a.spacing_mm == (1.5, 1.5)
    np.testing.assert_allclose(a.frames[:, ::-1, ::-1], b.frames)  # orientation undone
    pairs = series_pairs([a, b], size=16, factors=(2, 4))
    assert pairs["moving"].shape == (2, 1, 16, 16) and pairs["low_res"][4]["fixed"].shape == (
        2,
        1,
        4,
        4,
    )
    row = pairs["moving"][1, 0].sum(1).argmax() - pairs["fixed"][1, 0].sum(1).argmax()
    assert abs(int(row)) >= 4  # the two extremes of a +-4 pixel trace
    assert pairs["spacing_mm"][1] == pytest.approx(20 * 1.5 / 16)


def test_a_single_frame_is_refused(tmp_path: Path) -> None:
    nib.save(nib.Nifti1Image(_series(1), np.eye(4)), tmp_path / "one.nii.gz")
    with pytest.raises(DataError, match="frame"):
        load_dynamic_series(tmp_path / "one.nii.gz")
