"""Test cases with units and groups: fresh template variants, the real slices, a user's slices."""

from __future__ import annotations

import numpy as np
import pytest

from mricompendium.data.embedded import SliceSet, resize_stack
from mricompendium.data.recon import (
    CaseSet,
    embedded_real_cases,
    slice_set_cases,
    template_cases,
    training_distance_mm,
)


def test_template_cases_are_units_of_their_own_and_deterministic() -> None:
    cases = template_cases(6, size=32, seed=0)
    assert cases.images.shape == (6, 32, 32) and cases.masks.dtype == bool
    assert len(set(cases.unit)) == 6 and set(cases.group) == {"template"}
    assert all(m.any() for m in cases.masks)
    again = template_cases(6, size=32, seed=0)
    np.testing.assert_array_equal(cases.images, again.images)
    other = template_cases(6, size=32, seed=1)
    assert not np.array_equal(cases.images, other.images)
    assert cases.case[:5] != cases.case[5:]  # cycles differ in position


def test_test_positions_lie_away_from_training_slices() -> None:
    assert training_distance_mm(14) == 6  # the default test offset
    assert training_distance_mm(15) == 5 and training_distance_mm(8) == 0


def test_embedded_real_cases_are_grouped_by_contrast_and_volume() -> None:
    real = embedded_real_cases(32)
    counts = {g: real.group.count(g) for g in set(real.group)}
    assert counts == {"real T1": 2, "real EPI": 38}
    epi_units = {u for u, g in zip(real.unit, real.group, strict=True) if g == "real EPI"}
    assert len(epi_units) == 3
    few = embedded_real_cases(32, per_unit=2)
    assert len(few) == 2 + 3 * 2 and "real EPI 6 slices (3 units)" in few.summary()


def test_slice_set_units_are_volumes_and_caseset_checks() -> None:
    images = np.zeros((3, 8, 8), np.float32)
    masks = np.ones((3, 8, 8), bool)
    sl = SliceSet(images, masks, None, ["a.nii_z001", "a.nii_z002", "b.nii_z010"])
    cases = slice_set_cases(sl, "user NIfTI")
    assert cases.unit == ["a.nii", "a.nii", "b.nii"] and set(cases.group) == {"user NIfTI"}
    both = CaseSet.concat(cases, cases.subset([2]).__class__(
        images[:1], masks[:1], ["c"], ["c"], ["x"]))  # fmt: skip
    assert len(both) == 4
    with pytest.raises(ValueError, match="unique"):
        CaseSet.concat(cases, cases)


def test_cases_carry_their_objects_on_the_finer_grid() -> None:
    cases = template_cases(3, size=32, seed=0)
    assert cases.objects.shape == (3, 128, 128) and cases.object_masks.dtype == bool
    np.testing.assert_array_equal(cases.images, resize_stack(cases.objects, 32))
    real = embedded_real_cases(32, per_unit=1)
    assert real.objects.shape == (len(real), 128, 128)
    both = CaseSet.concat(cases, real).subset([0, 4])
    np.testing.assert_array_equal(both.objects[1], real.objects[1])
    with pytest.raises(ValueError, match="together"):
        CaseSet(cases.images, cases.masks, cases.case, cases.unit, cases.group, cases.objects)
