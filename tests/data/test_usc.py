"""USC-style rtMRI loader on small files written in each format."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from mricompendium.data.errors import DataError
from mricompendium.data.rtmri import usc

RATE, FPS, T = 16000, 25.0, 10  # 10 frames = 0.4 s


def _wav(path, seconds=T / FPS):
    t = np.arange(int(seconds * RATE)) / RATE
    sf.write(path, 0.1 * np.sin(2 * np.pi * 200 * t), RATE)


def _frames():
    return np.random.default_rng(0).integers(0, 255, (T, 12, 10)).astype(np.uint8)


TEXTGRID = """File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 0.4
tiers? <exists>
size = 2
item []:
    item [1]:
        class = "IntervalTier"
        name = "words"
        xmin = 0
        xmax = 0.4
        intervals: size = 1
        intervals [1]:
            xmin = 0
            xmax = 0.4
            text = "papa"
    item [2]:
        class = "IntervalTier"
        name = "phones"
        xmin = 0
        xmax = 0.4
        intervals: size = 3
        intervals [1]:
            xmin = 0
            xmax = 0.1
            text = ""
        intervals [2]:
            xmin = 0.1
            xmax = 0.25
            text = "p"
        intervals [3]:
            xmin = 0.25
            xmax = 0.4
            text = "aa"
"""


def test_reads_hdf5_npy_and_png_frames(tmp_path):
    fr = _frames()
    with h5py.File(tmp_path / "clip.h5", "w") as f:
        f.create_dataset("meta/scale", data=np.ones(3))
        f.create_dataset("recon", data=fr)
    np.save(tmp_path / "clip.npy", fr)
    (tmp_path / "pngs").mkdir()
    for i, im in enumerate(fr):
        Image.fromarray(im).save(tmp_path / "pngs" / f"{i:03d}.png")
    for src in ("clip.h5", "clip.npy", "pngs"):
        got = usc.read_frames(tmp_path / src)
        assert got.dtype == np.float32 and got.shape == fr.shape
        np.testing.assert_array_equal(got, fr.astype(np.float32))


def test_reads_textgrid_phone_tier_and_htk_labels(tmp_path):
    (tmp_path / "a.TextGrid").write_text(TEXTGRID)
    segs = usc.read_alignment(tmp_path / "a.TextGrid")
    assert [s.phone for s in segs] == ["", "p", "aa"]
    assert segs[1].start_s == pytest.approx(0.1) and segs[2].end_s == pytest.approx(0.4)
    (tmp_path / "b.lab").write_text("0 1000000 sil\n1000000 2500000 p\n2500000 4000000 aa\n")
    segs = usc.read_alignment(tmp_path / "b.lab")
    assert segs[1].start_s == pytest.approx(0.1) and segs[2].end_s == pytest.approx(0.4)
    (tmp_path / "c.lab").write_text("0.0 0.1 sil\n0.1 0.25 p\n")
    assert usc.read_alignment(tmp_path / "c.lab")[1].end_s == pytest.approx(0.25)


def test_load_folder_pairs_frames_audio_and_alignment(tmp_path):
    spk = tmp_path / "sub001"
    spk.mkdir()
    np.save(spk / "utt1.npy", _frames())
    _wav(spk / "utt1.wav")
    (spk / "utt1.TextGrid").write_text(TEXTGRID)
    recs = usc.load_folder(tmp_path, frame_rate_hz=FPS)
    assert len(recs) == 1
    r = recs[0]
    assert (r.id, r.speaker, r.audio_rate_hz) == ("utt1", "sub001", RATE)
    assert r.duration_s == pytest.approx(0.4)
    assert [s.phone for s in r.segments] == ["", "p", "aa"]


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("bad.h5", b"garbage", "HDF5"),
        ("bad.npy", b"garbage", "npy"),
        ("bad.mkv", b"garbage", "unknown frames format"),
    ],
)
def test_unreadable_frames_name_the_file(tmp_path, name, content, match):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError, match=match) as err:
        usc.read_frames(tmp_path / name)
    assert name in str(err.value)


def test_bad_shapes_nan_audio_and_labels_name_the_file(tmp_path):
    np.save(tmp_path / "flat.npy", np.zeros((4, 4)))
    with pytest.raises(DataError, match=r"flat.npy.*\(T, H, W\)"):
        usc.read_frames(tmp_path / "flat.npy")
    np.save(tmp_path / "nan.npy", np.full((2, 3, 3), np.nan))
    with pytest.raises(DataError, match="nan.npy.*NaN"):
        usc.read_frames(tmp_path / "nan.npy")
    (tmp_path / "x.wav").write_bytes(b"RIFF....")
    with pytest.raises(DataError, match="x.wav"):
        usc.read_audio(tmp_path / "x.wav")
    (tmp_path / "y.lab").write_text("0.0 zero p\n")
    with pytest.raises(DataError, match="y.lab.*line 1"):
        usc.read_alignment(tmp_path / "y.lab")
    with pytest.raises(DataError, match="missing.wav"):
        usc.read_audio(tmp_path / "missing.wav")


def test_mismatched_audio_and_video_durations_are_refused(tmp_path):
    np.save(tmp_path / "v.npy", _frames())
    _wav(tmp_path / "v.wav", seconds=3.0)
    with pytest.raises(DataError, match="v.npy.*lasts"):
        usc.load_recording(tmp_path / "v.npy", tmp_path / "v.wav", frame_rate_hz=FPS)


def test_resample_frames_keeps_constant_video_and_duration():
    fr = np.ones((83, 2, 2), np.float32) * np.arange(83)[:, None, None]
    out = usc.resample_frames(fr, 83.0, 50.0)
    assert len(out) == 50
    np.testing.assert_allclose(out[:, 0, 0], (np.arange(50) + 0.5) / 50 * 83 - 0.5, atol=1e-4)


def test_recordings_become_utterances_with_a_speaker_split(tmp_path):
    for spk in ("s1", "s2"):
        (tmp_path / spk).mkdir()
        for k in range(2):
            np.save(tmp_path / spk / f"u{k}.npy", _frames())
            _wav(tmp_path / spk / f"u{k}.wav")
    utts = usc.to_utterances(usc.load_folder(tmp_path, frame_rate_hz=FPS), frame_rate_hz=50.0)
    assert [(u.speaker, u.speaker_split, u.role) for u in utts] == [
        ("s1", "train", "train"),
        ("s1", "train", "test"),
        ("s2", "test", "test"),
        ("s2", "test", "test"),
    ]
    u = utts[0]
    assert u.frames.dtype == np.uint8 and len(u.frames) == 20
    assert len(u.audio) == 20 * 320 and u.audio_rate_hz == 16000


def test_usc_75_speaker_tree_is_read_as_distributed(tmp_path):
    from realdata_files import USC_FPS, write_usc75

    from mricompendium.data.rtmri.checks import check_recordings

    root = write_usc75(tmp_path, speakers=3, utterances=3, no_audio=1)
    files, skipped = usc.find_recordings(root)
    assert len(files) == 9 and [p.name for p in skipped] == ["sub001_2drt_04_rainbow_r1_recon.h5"]
    assert files[0].stem == "sub001_2drt_01_vcv1_r1" and files[0].audio.parent.name == "audio"
    recs = usc.load_folder(root, frame_rate_hz=USC_FPS)
    assert {r.speaker for r in recs} == {"sub001", "sub002", "sub003"}
    # MATLAB-written frames come back upright: the upper half (brighter when written) on top
    frame = recs[0].frames[0]
    assert frame[: frame.shape[0] // 2].mean() > frame[frame.shape[0] // 2 :].mean() + 0.5
    utts = usc.to_utterances(recs, frame_rate_hz=50.0)
    assert {u.speaker for u in utts if u.speaker_split == "test"} == {"sub003"}
    text = check_recordings(root, frame_rate_hz=USC_FPS)
    assert "9 rtMRI recordings of 3 speakers (1 unseen)" in text and "1 reconstructions" in text
    with pytest.raises(DataError, match="_recon.h5: video lasts .* data_frame_rate=23.18"):
        check_recordings(root, frame_rate_hz=23.18)


def test_a_split_the_notebook_cannot_make_is_refused(tmp_path):
    from realdata_files import USC_FPS, write_usc75

    from mricompendium.data.rtmri.checks import check_recordings

    one = write_usc75(tmp_path / "one", speakers=1)
    with pytest.raises(DataError, match="1 speaker.*two speakers"):
        check_recordings(one, frame_rate_hz=USC_FPS)
    short = write_usc75(tmp_path / "short", speakers=3, utterances=2)
    with pytest.raises(DataError, match="3 or more recordings"):
        check_recordings(short, frame_rate_hz=USC_FPS)


def test_tongue_contours_are_checked_against_the_rank_parameters(tmp_path):
    from realdata_files import write_contours

    from mricompendium.data.rtmri.checks import check_contours, pose_rank_limit

    path = write_contours(tmp_path / "contours.npz", speakers=8, poses=11)
    kw = dict(n_train_speakers=5, max_anatomy_rank=4, max_pose_rank=8, pose_folds=4)
    assert pose_rank_limit(11, 4) == 8 and "8 speakers" in check_contours(path, **kw)
    with pytest.raises(DataError, match=r"max_pose_rank=36: must be <= 8 for contours.npz"):
        check_contours(path, **{**kw, "max_pose_rank": 36})
    with pytest.raises(DataError, match=r"n_train_speakers=8: must be <= 7"):
        check_contours(path, **{**kw, "n_train_speakers": 8})
    with pytest.raises(DataError, match=r"max_anatomy_rank=6: must be <= 4"):
        check_contours(path, **{**kw, "max_anatomy_rank": 6})
    np.savez(tmp_path / "bad.npz", tongue=np.zeros((3, 4, 5)), palate=np.zeros((3, 5, 2)))
    with pytest.raises(DataError, match="bad.npz: tongue"):
        check_contours(tmp_path / "bad.npz", **kw)


def test_the_pose_rank_limit_is_the_cross_validations_own():
    from mricompendium.data.rtmri.checks import pose_rank_limit
    from mricompendium.experiments.speech import tongue, tongue_cv

    obs = np.random.default_rng(0).normal(size=(4, 11, 2 * 12))
    mask = tongue.observation_mask(12, "dense contour", 3)
    top = pose_rank_limit(11, 4)
    kw = dict(mask=mask, noise_mm=0.5, pose_folds=4)
    assert tongue_cv.cv_errors(obs, obs, [1], [top], **kw).shape == (4, 1, 1)
    with pytest.raises(ValueError, match="ranks must be at most"):
        tongue_cv.cv_errors(obs, obs, [1], [top + 1], **kw)


def test_recordings_need_phone_alignments_in_the_notebooks_inventory(tmp_path):
    from realdata_files import USC_FPS, write_usc75

    from mricompendium.data.rtmri.checks import check_recordings

    bare = write_usc75(tmp_path / "bare", align=False)  # as distributed: no alignment
    with pytest.raises(DataError, match="_audio.wav: has no phone alignment .*vowels a e i o u"):
        check_recordings(bare, frame_rate_hz=USC_FPS)
    root = write_usc75(tmp_path / "aligned")
    grid = next(root.rglob("*_audio.TextGrid"))
    grid.write_text(grid.read_text().replace('"a"', '"AA1"').replace('"i"', '"IY1"')
                    .replace('"u"', '"UW1"'))  # fmt: skip
    with pytest.raises(DataError, match="_audio.TextGrid: holds no vowel of the notebook's"):
        check_recordings(root, frame_rate_hz=USC_FPS)
    recs = usc.load_folder(tmp_path / "aligned", frame_rate_hz=USC_FPS)
    assert [s.phone for s in recs[1].segments][1:4] == ["b", "a", "d"]
