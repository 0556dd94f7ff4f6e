"""Visual areas of simulated fMRI subjects: each area's response patterns at several noise levels.

Every subject of the fMRI family's simulator (:mod:`mricompendium.data.fmri`) views the same
stimulus set; each stimulus is shown ``repeats`` times in a shuffled order and its single-trial
betas are averaged, as in an event-related RSA experiment. The subjects differ only in what the
simulator already draws per subject (voxel count and area shares, pRF positions and sizes,
low-level channel weights, shape, hue and texture tuning, gains, HRFs, noise amplitude and
autocorrelation); no dissimilarity or RDM enters the simulation. Noise grows by scaling every
voxel's noise SD by a factor (``1``: the amplitude fitted on real fMRI); a subject keeps its own
noise draws across levels (the same seed), so the levels differ in amplitude only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from mricompendium.data.fmri import (
    NoiseModel,
    SimConfig,
    Stimuli,
    average_repeats,
    make_subjects,
    sample_scenes,
    simulate_trials,
)
from mricompendium.data.fmri.voxels import AREAS, SubjectModel

__all__ = ["AREA_NAMES", "AreaStudy", "simulate_area_study"]

AREA_NAMES: tuple[str, ...] = tuple(AREAS)


@dataclasses.dataclass
class AreaStudy:
    """Simulated subjects viewing one stimulus set.

    Attributes:
        stimuli: what every subject saw (``N`` scenes).
        subjects: the subjects' voxel models, in order.
        levels: the noise factors simulated.
        betas: ``{level: [(N, V_s) float32 per subject]}``: betas averaged over repeats.
        clean: ``[(N, V_s)]`` per subject: noise-free response amplitudes (% signal change).
        repeats: presentations per stimulus.
    """

    stimuli: Stimuli
    subjects: list[SubjectModel]
    levels: tuple[float, ...]
    betas: dict[float, list[np.ndarray]]
    clean: list[np.ndarray]
    repeats: int

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.subjects]

    def area_patterns(
        self, level: float | None, subjects: Sequence[int] | None = None
    ) -> tuple[list[np.ndarray], list[str], list[str]]:
        """Per (subject, area): the ``(N, V_area)`` patterns, the area names and subject names.

        ``level=None`` gives the noise-free amplitudes. Subjects default to all, areas follow
        :data:`AREA_NAMES`; an area with fewer than two voxels in a subject is refused.
        """
        source = self.clean if level is None else self.betas[level]
        idx = range(len(self.subjects)) if subjects is None else subjects
        patterns, labels, owners = [], [], []
        for i in idx:
            s = self.subjects[i]
            for area in AREA_NAMES:
                cols = s.area == area
                if cols.sum() < 2:
                    raise ValueError(f"{s.name}: area {area} has {int(cols.sum())} voxels")
                patterns.append(source[i][:, cols])
                labels.append(area)
                owners.append(s.name)
        return patterns, labels, owners

    def voxel_counts(self) -> dict[str, dict[str, int]]:
        """``{subject: {area: voxels}}``."""
        return {s.name: {a: int((s.area == a).sum()) for a in AREA_NAMES} for s in self.subjects}


def simulate_area_study(
    sim: SimConfig,
    noise: NoiseModel,
    *,
    n_subjects: int,
    n_stimuli: int,
    repeats: int,
    levels: Sequence[float],
    seed: int,
) -> AreaStudy:
    """Simulate ``n_subjects`` subjects viewing ``n_stimuli`` scenes at each noise factor.

    Args:
        sim: the simulator's configuration (``sim.noise_scale`` is the base of every level).
        noise: the noise model fitted on real fMRI.
        n_subjects: subjects to draw (``subj01``...).
        n_stimuli: scenes every subject sees, drawn from ``seed``.
        repeats: presentations per scene (single-trial betas averaged over them).
        levels: factors multiplying every voxel's noise SD, each > 0.
        seed: seeds the stimuli, the subjects and every noise draw.
    """
    if n_subjects < 2 or n_stimuli < 3 or repeats < 1:
        raise ValueError("need n_subjects >= 2, n_stimuli >= 3 and repeats >= 1")
    levels = tuple(float(x) for x in levels)
    if not levels or min(levels) <= 0 or len(set(levels)) != len(levels):
        raise ValueError(f"levels must be distinct factors > 0, got {levels}")
    scenes = sample_scenes(n_stimuli, np.random.default_rng([seed, 26]), p_second=sim.p_second)
    stimuli = Stimuli.render(scenes, sim.image_size)
    subjects = make_subjects(n_subjects, sim, noise, seed=seed)
    betas: dict[float, list[np.ndarray]] = {x: [] for x in levels}
    clean = []
    for i, s in enumerate(subjects):
        order_seed, noise_seed = np.random.SeedSequence([seed, 26, i]).spawn(2)
        shown = np.random.default_rng(order_seed).permutation(np.repeat(np.arange(n_stimuli),
                                                                        repeats))  # fmt: skip
        for x in levels:
            noisier = dataclasses.replace(s, noise_sd_psc=s.noise_sd_psc * x)
            trials, _ = simulate_trials(noisier, stimuli, shown, sim, noise, seed=noise_seed)
            idx, mean = average_repeats(trials, shown)
            assert np.array_equal(idx, np.arange(n_stimuli))
            betas[x].append(mean)
        clean.append(s.amplitudes(stimuli.features, scenes))
    return AreaStudy(stimuli, subjects, levels, betas, clean, repeats)
