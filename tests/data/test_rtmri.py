"""The rtMRI speech simulator: rasteriser, speakers, utterances (no VocalTractLab needed here)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mricompendium.data.errors import DataError
from mricompendium.data.rtmri import corpus, raster, speakers, utterances


def _outlines(jaw_open: float = 1.0) -> dict[str, np.ndarray]:
    """A crude vocal tract in VocalTractLab's frame: a bent tube from the larynx to the lips, with
    a lip gap of ``0.2 * jaw_open`` cm."""
    x = np.r_[np.full(6, -2.0), np.linspace(-2, 6, 12)]
    y = np.r_[np.linspace(-8, -1, 6), np.full(12, 0.5)]
    upper = np.column_stack([x, y])
    lower = upper.copy()
    lower[:6, 0] += 1.2  # anterior pharynx wall
    lower[6:, 1] -= 1.5  # floor of the mouth
    lower[-6:, 1] = upper[-6:, 1] - 0.2 * jaw_open  # the lips
    tongue = np.column_stack(
        [np.linspace(-0.5, 4.5, 15), -0.8 - 0.2 * np.sin(np.linspace(0, 3, 15))]
    )
    epi = np.array([[-1.0, -4.0], [-0.8, -3.2], [-0.6, -4.0]])
    return {"upper": upper, "lower": lower, "tongue": tongue, "epiglottis": epi}


@pytest.fixture
def scene():
    geom, look = raster.FrameGeometry(size=48, pixel_mm=4.2, supersample=2), raster.Appearance()
    return raster.SpeakerScene(_outlines(), geom, look, np.random.default_rng(0))


def test_frames_are_uint8_of_the_grid_size_and_seeded(scene):
    a = raster.render_frame(_outlines(), scene, np.random.default_rng(1))
    b = raster.render_frame(_outlines(), scene, np.random.default_rng(1))
    c = raster.render_frame(_outlines(), scene, np.random.default_rng(2))
    assert a.shape == (48, 48) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_airway_is_dark_and_tissue_bright(scene):
    look = dataclass_replace(scene.look, noise_sigma=0.0)
    scene.look = look
    img = raster.render_frame(_outlines(), scene, np.random.default_rng(0)).astype(float)
    rows, cols = scene.geom.to_hires(np.array([[1.0, 0.0], [-2.5, -6.5]]))
    s = scene.geom.supersample
    air = img[int(rows[0] // s), int(cols[0] // s)]
    tissue = img[int(rows[1] // s), int(cols[1] // s)]
    assert air < 0.3 * tissue


def dataclass_replace(obj, **kw):
    import dataclasses

    return dataclasses.replace(obj, **kw)


def test_lip_aperture_measures_the_lip_gap():
    assert raster.lip_aperture_cm(_outlines(1.0)) == pytest.approx(0.2, abs=1e-9)
    assert raster.lip_aperture_cm(_outlines(0.0)) == pytest.approx(0.0, abs=1e-9)


def test_speakers_are_reproducible_and_split_streams_differ():
    a = speakers.sample_speakers(3, "train", 5)
    assert a == speakers.sample_speakers(3, "train", 5)
    assert a[0].factors != speakers.sample_speakers(3, "test", 5)[0].factors
    for s in a:
        for k, (lo, hi) in speakers.SCALE_RANGES.items():
            assert lo <= s.factors[k] <= hi
        assert 80 < s.f0_hz < 175
        assert speakers.Speaker.from_dict(s.to_dict()) == s
    with pytest.raises(ValueError, match="split"):
        speakers.sample_speakers(1, "dev", 0)


def test_adapting_articulation_to_the_same_anatomy_changes_nothing():
    rng = np.random.default_rng(0)
    tract = rng.normal(size=(4, 19))
    ref = np.array(speakers.REFERENCE_ANATOMY)
    np.testing.assert_allclose(speakers.adapt_articulation(tract, ref, ref), tract, atol=1e-12)
    longer = ref.copy()
    longer[8] *= 1.1  # a longer pharynx lowers the hyoid (HY, relative to the palate)
    moved = speakers.adapt_articulation(tract, ref, longer)
    assert np.all(np.abs(moved[:, 1] - ref[4]) > np.abs(tract[:, 1] - ref[4]) - 1e-12)


def test_random_utterance_structure_and_times():
    rng = np.random.default_rng(0)
    segs = utterances.random_utterance(rng, n_syllables=3, final_consonant_p=0.0)
    phones = [p for p, _ in segs]
    assert phones[0] == phones[-1] == ""
    assert [p in utterances.VOWELS for p in phones[2:-1:2]] == [True] * 3
    times = utterances.phone_times(segs)
    assert times[0].start_s == 0.0
    assert times[-1].end_s == pytest.approx(sum(d for _, d in segs))


def test_npz_writer_is_byte_deterministic(tmp_path):
    arrays = {"b": np.arange(5), "a": np.ones((2, 2), np.uint8)}
    h1 = corpus.write_npz(tmp_path / "x.npz", arrays)
    h2 = corpus.write_npz(tmp_path / "y.npz", arrays)
    assert h1 == h2
    back = corpus.read_npz(tmp_path / "x.npz", ("a", "b"))
    np.testing.assert_array_equal(back["b"], np.arange(5))


def test_corrupt_or_missing_corpus_files_are_named(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="bad.npz"):
        corpus.read_npz(bad)
    corpus.write_npz(tmp_path / "part.npz", {"a": np.zeros(2)})
    with pytest.raises(DataError, match="missing arrays"):
        corpus.read_npz(tmp_path / "part.npz", ("a", "frames"))
    with pytest.raises(DataError, match="manifest.json"):
        corpus.load_corpus(tmp_path)


def test_package_imports_without_loading_vocaltractlab():
    code = (
        "import sys, mricompendium.data.rtmri, mricompendium.data.rtmri.build, "
        "mricompendium.experiments.speech; print('vocaltractlab_cython' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
