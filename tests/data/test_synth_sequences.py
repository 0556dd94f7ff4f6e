"""Sequence timing boxes: samplers stay inside them; overlap tells seen from unseen protocols."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mricompendium.data import synth
from mricompendium.physics import signal as mr


@pytest.mark.parametrize("field", mr.FIELDS_T)
@pytest.mark.parametrize("name", ["T1", "T1c", "T2", "PD", "FLAIR", "DWI", "ADC"])
def test_named_protocols_draw_inside_their_boxes(name, field):
    rng = np.random.default_rng(0)
    timing = synth.protocol_timing(name, field)
    for _ in range(100):
        assert synth.contains(timing, synth.sample_image_spec(name, rng, field).sequence)


def test_random_sequences_draw_inside_their_boxes_and_cap_ti():
    narrow = synth.RandomSequence(kinds=("ir",), ir_ti=(50.0, 300.0))
    for sampler in (synth.RandomSequence(), narrow):
        rng = np.random.default_rng(1)
        for _ in range(300):
            seq = sampler.sample(rng)
            assert synth.contains(sampler.timing(), seq)
            assert seq.kind != "ir" or seq.ti <= sampler.ti_max_tr * seq.tr
    assert narrow.timing()["ir"]["ti"] == (50.0, 300.0)
    assert synth.RandomSequence().timing()["ir"]["ti"] == (50.0, 6000.0)


def test_overlap_separates_restricted_random_timing_from_t2_and_flair():
    wide = synth.RandomSequence().timing()
    short_te = synth.RandomSequence(se_te=(5.0, 40.0), ir_te=(5.0, 40.0), ir_ti=(50.0, 1000.0))
    for field in mr.FIELDS_T:
        t2, flair = synth.protocol_timing("T2", field), synth.protocol_timing("FLAIR", field)
        assert synth.overlaps(wide, t2) and synth.overlaps(wide, flair)  # the unrestricted sampler
        assert not synth.overlaps(short_te.timing(), t2)
        assert not synth.overlaps(short_te.timing(), flair)
        assert synth.overlaps(short_te.timing(), synth.protocol_timing("T1", field))
        assert not synth.overlaps(wide, synth.protocol_timing("DWI", field))  # no diffusion kind


def test_flair_ti_box_brackets_the_csf_null():
    box = synth.protocol_timing("FLAIR", 3.0)["ir"]
    null = mr.flair_null_ti(4300.0, 9000.0)
    assert box["ti"][0] < null < box["ti"][1]
    assert not synth.contains({"ir": box}, mr.Sequence("ir", tr=9000.0, te=100.0, ti=500.0))


def test_bad_timing_is_refused():
    with pytest.raises(ValueError, match="kinds"):
        synth.RandomSequence(kinds=("dwi",))
    with pytest.raises(ValueError, match="se_te"):
        synth.RandomSequence(se_te=(40.0, 5.0))
    with pytest.raises(ValueError, match="no timing table"):
        synth.protocol_timing("random", 3.0)
    assert math.isinf(synth.RandomSequence().ir_ti[1])
