"""From scenes to NSD-like single-trial betas: responses, BOLD runs, noise and the GLM.

The simulator's input is :class:`Stimuli`: what the subject sees (the scenes' attributes, the
images and their low-level feature maps), never an embedding of them. A subject
(:class:`~mricompendium.data.fmri.voxels.SubjectModel`) views a list of images in
sessions of ``trials_per_session`` trials, split into runs of ``trials_per_run`` (NSD: 750 trials
per session in 12 runs of 62-63). For each run the simulator

1. computes every voxel's noise-free response amplitude to each image (% signal change);
2. builds the BOLD time series: each trial's 3 s boxcar convolved with the voxel's own HRF (one
   of a library of peak times), plus slow drift, plus AR(1) noise with a shared component, all
   fitted on real fMRI (:mod:`~mricompendium.data.fmri.noise`);
3. estimates one beta per trial as NSD does: all trials at once with drift regressors, a ridge,
   and per voxel the best HRF of the library (GLMsingle's first steps; ``glm_hrf="canonical"``
   uses SPM's canonical HRF for every voxel instead);

and z-scores each voxel's betas within each session (as MindEye does). Repeated presentations of
an image (NSD's test images are shown three times) are averaged by :func:`average_repeats`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging

import numpy as np

from mricompendium.data.fmri.glm import (
    RunDesign,
    design_matrix,
    fit_with_library,
    hrf_library,
    single_trial_betas,
    trial_design,
)
from mricompendium.data.fmri.noise import NoiseModel, ar1_noise, legendre_drift
from mricompendium.data.fmri.render import render
from mricompendium.data.fmri.stimuli import Scenes, sample_scenes
from mricompendium.data.fmri.voxels import SubjectModel, draw_subject, feature_maps

__all__ = ["SimConfig", "Stimuli", "average_repeats", "make_subjects", "simulate_trials"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SimConfig:
    """The simulator's knobs (NSD's values in brackets where they exist).

    Attributes:
        image_size: stimulus side, pixels [425, shown at 8.4 deg].
        fov_deg: stimulus size, degrees of visual angle [8.4].
        n_voxels: mean voxels per subject [nsdgeneral: 13k-16k at 1.8 mm].
        trials_per_session: trials in one session, "1 hour" [750].
        trials_per_run: trials per run [62-63].
        tr: repetition time, s [1.6, upsampled to 1 s for the GLM].
        trial_s, stim_s: trial and stimulus durations, s [4, 3].
        signal_psc: typical SD of a voxel's stimulus-driven modulation, % signal change.
        evoked_psc: typical mean evoked response, % signal change.
        noise_scale: multiplies the noise SD fitted on real fMRI.
        n_hrfs: HRFs in the library [GLMsingle: 20].
        glm_hrf: ``"library"`` (best HRF per voxel, as GLMsingle) or ``"canonical"``.
        glm_ridge: ridge on the trial betas, fraction of the mean regressor energy.
        p_second: probability that a scene holds a second object.
    """

    image_size: int = 32
    fov_deg: float = 8.4
    n_voxels: int = 400
    trials_per_session: int = 250
    trials_per_run: int = 63
    tr: float = 1.6
    trial_s: float = 4.0
    stim_s: float = 3.0
    signal_psc: float = 1.0
    evoked_psc: float = 1.5
    noise_scale: float = 1.0
    n_hrfs: int = 5
    glm_hrf: str = "library"
    glm_ridge: float = 0.05
    p_second: float = 0.3

    def __post_init__(self) -> None:
        if self.glm_hrf not in ("library", "canonical"):
            raise ValueError(f"glm_hrf must be 'library' or 'canonical', got {self.glm_hrf!r}")
        if self.trials_per_session < 1 or self.trials_per_run < 2:
            raise ValueError("need trials_per_session >= 1 and trials_per_run >= 2")
        if self.image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8, got {self.image_size}")


@dataclasses.dataclass(frozen=True)
class Stimuli:
    """What a simulated subject sees, and all the simulator may read: the scenes' attribute table,
    the rendered images and their low-level feature maps. It holds no embedding of the scenes.

    Attributes:
        scenes: the attribute table; images: ``(N, 3, S, S)`` float32 in [0, 1]; features:
        ``(N, 7, S/2, S/2)`` low-level channels (:func:`~.voxels.feature_maps`).
    """

    scenes: Scenes
    images: np.ndarray
    features: np.ndarray

    def __post_init__(self) -> None:
        if not isinstance(self.scenes, Scenes):
            raise TypeError(f"Stimuli.scenes must be a Scenes table, got {type(self.scenes)}")
        if not len(self.scenes) == len(self.images) == len(self.features):
            raise ValueError(
                f"{len(self.scenes)} scenes, {len(self.images)} images, "
                f"{len(self.features)} feature maps"
            )

    @classmethod
    def render(cls, scenes: Scenes, image_size: int) -> Stimuli:
        """Render ``scenes`` at ``image_size`` pixels and compute their feature maps."""
        images = render(scenes, image_size)
        return cls(scenes, images, feature_maps(images))

    def __len__(self) -> int:
        return len(self.scenes)


def make_subjects(
    n: int, config: SimConfig, noise: NoiseModel, *, seed: int, n_reference: int = 300
) -> list[SubjectModel]:
    """Draw ``n`` subjects named ``subj01``... and calibrate each on a reference image set."""
    ref = Stimuli.render(
        sample_scenes(n_reference, np.random.default_rng([seed, 10**6]), p_second=config.p_second),
        config.image_size,
    )
    subjects = []
    for i in range(n):
        s = draw_subject(
            f"subj{i + 1:02d}",
            n_voxels=config.n_voxels,
            noise=noise,
            tr=config.tr,
            n_hrfs=config.n_hrfs,
            signal_psc=config.signal_psc,
            evoked_psc=config.evoked_psc,
            noise_scale=config.noise_scale,
            fov_deg=config.fov_deg,
            seed=int(np.random.SeedSequence([seed, i]).generate_state(1)[0]),
        )
        s.calibrate(ref.features, ref.scenes)
        subjects.append(s)
    return subjects


@functools.lru_cache(maxsize=64)
def _run_matrices(
    n_trials: int, tr: float, trial_s: float, stim_s: float, n_hrfs: int
) -> tuple[RunDesign, tuple[np.ndarray, ...], np.ndarray]:
    """A run's design, its library design matrices and the canonical one (cached, read-only)."""
    design = trial_design(n_trials, tr=tr, trial_s=trial_s, stim_s=stim_s)
    mats = tuple(design_matrix(design, h) for h in hrf_library(n_hrfs))
    for m in mats:
        m.flags.writeable = False
    canonical = design_matrix(design)
    canonical.flags.writeable = False
    return design, mats, canonical


def _simulate_run(
    subject: SubjectModel,
    amplitudes: np.ndarray,
    config: SimConfig,
    noise: NoiseModel,
    rng: np.random.Generator,
) -> np.ndarray:
    """Single-trial betas ``(n, V)`` of one run whose trials evoke ``amplitudes`` ``(n, V)``."""
    design, mats, canonical = _run_matrices(
        len(amplitudes), config.tr, config.trial_s, config.stim_s, config.n_hrfs
    )
    y = np.zeros((design.n_scans, subject.n_voxels))
    for k, x in enumerate(mats):
        cols = subject.hrf_index == k
        if cols.any():
            y[:, cols] = x @ amplitudes[:, cols]
    drift = legendre_drift(design.n_scans, 2)[:, 1:]
    y += drift @ rng.normal(0.0, noise.drift_sd_psc, (2, subject.n_voxels))
    y += ar1_noise(
        design.n_scans,
        subject.noise_sd_psc,
        subject.noise_rho,
        rng,
        shared_fraction=noise.shared_fraction,
        shared_rho=noise.shared_rho_per_s**config.tr,
    )
    if config.glm_hrf == "library":
        library = hrf_library(config.n_hrfs)
        return fit_with_library(y, design, library, ridge=config.glm_ridge, matrices=list(mats))[0]
    return single_trial_betas(y, canonical, ridge=config.glm_ridge)[0]


def simulate_trials(
    subject: SubjectModel,
    stimuli: Stimuli,
    stim_idx: np.ndarray,
    config: SimConfig,
    noise: NoiseModel,
    *,
    seed: int | np.random.SeedSequence,
    zscore: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Single-trial betas of ``subject`` viewing ``stimuli`` ``stim_idx`` in that order.

    ``stimuli`` must be a :class:`Stimuli` (a bank with embeddings is refused: the simulator sees
    what the subject sees, never the decoders' target). Trials fill sessions of
    ``config.trials_per_session`` (the last may be shorter), each split into runs of
    ``config.trials_per_run``.

    Returns:
        ``(betas (n, V) float32, session (n,) int)``: betas z-scored per voxel within each
        session (unless ``zscore=False``: then in % signal change).
    """
    if not isinstance(stimuli, Stimuli):
        raise TypeError(
            f"simulate_trials takes Stimuli (scenes, images, features), got {type(stimuli)}: "
            "pass bank.stimuli"
        )
    stim_idx = np.asarray(stim_idx, dtype=np.int64)
    if stim_idx.ndim != 1 or stim_idx.size == 0:
        raise ValueError("stim_idx must be a non-empty 1D array of image indices")
    amps = subject.amplitudes(stimuli.features[stim_idx], stimuli.scenes.subset(stim_idx))
    rng = np.random.default_rng(seed)
    betas = np.empty_like(amps)
    session = np.arange(stim_idx.size) // config.trials_per_session
    for s in np.unique(session):
        rows = np.flatnonzero(session == s)
        for start in range(0, rows.size, config.trials_per_run):
            run = rows[start : start + config.trials_per_run]
            if run.size < 2:  # a lone trailing trial joins the previous run's estimate
                run = rows[start - 1 : start + 1]
            betas[run] = _simulate_run(subject, amps[run], config, noise, rng)
        if zscore:
            b = betas[rows]
            betas[rows] = (b - b.mean(0)) / (b.std(0) + 1e-6)
    return betas.astype(np.float32), session


def average_repeats(betas: np.ndarray, stim_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average the betas of repeated presentations: ``(unique stim_idx (sorted), mean betas)``."""
    uniq, inverse = np.unique(np.asarray(stim_idx), return_inverse=True)
    out = np.zeros((uniq.size, betas.shape[1]), np.float64)
    np.add.at(out, inverse, betas)
    return uniq, (out / np.bincount(inverse)[:, None]).astype(np.float32)
