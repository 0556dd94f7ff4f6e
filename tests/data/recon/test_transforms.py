"""Object-space transforms: exact cases, round trips, seeded draws, bounds and case sets."""

from __future__ import annotations

import numpy as np
import pytest

from mricompendium.data.build import FOV_MM
from mricompendium.data.embedded import sample_variation
from mricompendium.data.recon import CaseSet
from mricompendium.data.recon.transforms import (
    EMBEDDED_VARIATION,
    Augmenter,
    Bounds,
    Compose,
    Cutout,
    Flip,
    Identity,
    RandomCutout,
    RandomFlip,
    RandomRotation,
    RandomShift,
    Rotation,
    Shift,
    augment_cases,
    outside,
    transform_cases,
)


def _blob(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[:n, :n] - (n - 1) / 2
    mask = (x / (0.3 * n)) ** 2 + (y / (0.38 * n)) ** 2 < 1
    return (mask * (0.5 + 0.3 * np.cos(x / 5) + 0.2 * (y > 0))).astype(np.float64), mask


def _cases(n: int = 3) -> CaseSet:
    img, mask = _blob(64)
    objects = np.stack([np.roll(img, i, axis=1) for i in range(n)])
    masks = np.stack([np.roll(mask, i, axis=1) for i in range(n)])
    names = [f"c{i}" for i in range(n)]
    return CaseSet.from_objects(objects, masks, 16, names, names, ["g"] * n)


def test_a_quarter_turn_is_counter_clockwise_and_exact_on_the_grid() -> None:
    img = np.zeros((33, 33))
    img[16, 26] = 1.0  # right of the centre
    out, _ = Rotation(90).apply(img, np.ones_like(img, bool))
    assert np.unravel_index(out.argmax(), out.shape) == (6, 16)  # above it
    np.testing.assert_allclose(out, np.rot90(img), atol=1e-9)


def test_rotation_there_and_back_loses_little_and_keeps_magnitudes_non_negative() -> None:
    img, mask = _blob()
    there = Rotation(23.0).apply(img, mask)
    back, m = Rotation(-23.0).apply(*there)
    assert there[0].min() >= 0
    inner = mask & np.roll(mask, 3, 0) & np.roll(mask, -3, 0) & np.roll(mask, 3, 1)
    assert np.abs(back - img)[inner].mean() < 0.02 * img[mask].mean()
    assert (m ^ mask).mean() < 0.02


def test_flip_is_exact_and_involutive_and_shift_moves_the_centre_of_mass() -> None:
    img, mask = _blob()
    f, fm = Flip("ud").apply(img, mask)
    np.testing.assert_array_equal(f, img[::-1])
    np.testing.assert_array_equal(Flip("ud").apply(f, fm)[0], img)
    s, _ = Shift(0.125, -0.0625).apply(img, mask)
    com = lambda a: np.array(np.nonzero(a > 0.1)).mean(axis=1)  # noqa: E731
    np.testing.assert_allclose(com(s) - com(img), [8.0, -4.0], atol=0.3)


def test_cutout_zeroes_a_square_and_keeps_the_mask() -> None:
    img, mask = _blob()
    out, m = Cutout(0.5, 0.5, 0.25).apply(img, mask)
    assert np.array_equal(m, mask)
    assert (out[24:40, 24:40] == 0).all() and out[mask].sum() < img[mask].sum()
    assert np.array_equal(out[:20], img[:20])


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="axis"):
        Flip("diag")
    with pytest.raises(ValueError, match="fraction"):
        Shift(1.2, 0)
    with pytest.raises(ValueError, match="size"):
        Cutout(0.5, 0.5, 0.0)
    with pytest.raises(ValueError, match="lo <= hi"):
        RandomRotation((10, -10))
    with pytest.raises(ValueError, match="H, W"):
        Identity().apply(np.zeros((2, 3, 3)), np.zeros((2, 3, 3), bool))


def test_random_transforms_are_seeded_and_stay_in_their_ranges() -> None:
    aug = Augmenter((RandomRotation((-15, 15)), RandomShift(0.05), RandomFlip(("lr",), p=1.0)))
    draws = [aug.draw(7, i) for i in range(50)]
    assert draws[3] == aug.draw(7, 3) and draws[3] != aug.draw(8, 3)
    rot = np.array([d.parts[0].degrees for d in draws])
    assert rot.min() >= -15 and rot.max() <= 15 and rot.std() > 5
    assert all(max(abs(d.parts[1].rows), abs(d.parts[1].cols)) <= 0.05 for d in draws)
    assert all(d.parts[2] == Flip("lr") for d in draws)
    assert not any(outside(d, aug.bounds()) for d in draws)


def test_outside_names_unseen_kinds_and_ranges() -> None:
    b = Augmenter((RandomRotation((-15, 15)), RandomShift(0.05))).bounds() + Bounds(rotation=5)
    assert b.rotation == 20 and b.shift == 0.05
    assert not outside(Rotation(-20), b) and outside(Rotation(25), b) and outside(Rotation(-330), b)
    assert not outside(Rotation(-340), b)
    assert outside(Flip("ud"), b) and outside(Cutout(0.5, 0.5, 0.2), b)
    assert not outside(Identity(), b) and outside(Compose((Rotation(1), Flip("ud"))), b)
    assert not outside(Cutout(0.5, 0.5, 0.2), RandomCutout((0.1, 0.3)).bounds())


def test_the_embedded_variation_bounds_match_the_builder() -> None:
    rng = np.random.default_rng(0)
    draws = [sample_variation(rng) for _ in range(400)]
    rot = np.array([v.rotation_deg for v in draws])
    shift = np.abs([v.shift_mm for v in draws]).max(axis=1) / FOV_MM
    assert EMBEDDED_VARIATION.rotation >= np.abs(rot).max() > EMBEDDED_VARIATION.rotation - 0.2
    assert EMBEDDED_VARIATION.shift >= shift.max() > 0.95 * EMBEDDED_VARIATION.shift


def test_transform_cases_keeps_ids_and_identity_is_a_no_op() -> None:
    cases = _cases()
    same = transform_cases(cases, Identity())
    np.testing.assert_array_equal(same.images, cases.images)
    np.testing.assert_array_equal(same.masks, cases.masks)
    flipped = transform_cases(cases, [Flip("ud"), Identity(), Rotation(90)])
    assert flipped.case == cases.case and flipped.unit == cases.unit
    np.testing.assert_allclose(flipped.images[0], cases.images[0][::-1], atol=1e-6)
    np.testing.assert_array_equal(flipped.images[1], cases.images[1])
    with pytest.raises(ValueError, match="one transform per case"):
        transform_cases(cases, [Identity()])
    with pytest.raises(ValueError, match="empty"):
        transform_cases(cases, Shift(0.9, 0.9))


def test_augment_cases_draws_copies_in_the_case_units() -> None:
    cases = _cases(2)
    aug = Augmenter((RandomRotation((-30, 30)),))
    out = augment_cases(cases, aug, copies=3, seed=1)
    assert len(out) == 6 and out.case[:2] == ["c0~a0", "c1~a0"] and out.unit[2:4] == ["c0", "c1"]
    again = augment_cases(cases, aug, copies=3, seed=1)
    np.testing.assert_array_equal(out.objects, again.objects)
    assert not np.allclose(out.objects[0], out.objects[2])
