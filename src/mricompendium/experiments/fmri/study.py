"""The two notebooks' data: which subjects see which images, simulated (or real) into betas.

A :class:`Study` holds one :class:`~mricompendium.data.fmri.bank.StimulusBank` (every image
shown, with its embeddings) and per subject a :class:`SubjectSet`: single-trial training betas,
single-trial validation betas (monitoring only), and test betas averaged over repeats, each with
the bank index of its image. Test images are shared by all subjects (NSD's shared 1,000); every
subject's training images are its own. The simulator is given the bank's
:attr:`~mricompendium.data.fmri.bank.StimulusBank.stimuli` only (scenes, images, feature maps),
never its embeddings. :func:`nsd_mindeye2_study` builds the same from real NSD-style files.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from mricompendium.data.errors import DataError
from mricompendium.data.fmri import (
    CATEGORIES,
    JointEmbedding,
    NoiseModel,
    Scenes,
    SimConfig,
    StimulusBank,
    average_repeats,
    make_subjects,
    sample_scenes,
    simulate_trials,
)
from mricompendium.data.fmri.nsd import NSDSubject, load_nsd_images, load_subject
from mricompendium.data.fmri.nsd_tree import find_layout, image_name
from mricompendium.data.fmri.voxels import SubjectModel

__all__ = [
    "Study",
    "SubjectSet",
    "brainclip_study",
    "mindeye2_study",
    "nsd_mindeye2_study",
]


@dataclasses.dataclass
class SubjectSet:
    """One subject's betas ``(n, V)`` float32 and bank indices ``(n,)`` per split.

    ``single_trial_r`` (simulated subjects): the median over voxels of the correlation between
    the training single-trial betas and the noise-free responses, a single-trial SNR measure.
    """

    name: str
    train_x: np.ndarray
    train_idx: np.ndarray
    val_x: np.ndarray
    val_idx: np.ndarray
    test_x: np.ndarray
    test_idx: np.ndarray
    model: SubjectModel | None = None
    single_trial_r: float | None = None

    @property
    def n_voxels(self) -> int:
        return int(self.train_x.shape[1])


@dataclasses.dataclass
class Study:
    """Everything a notebook trains and tests on.

    Attributes:
        bank: every image shown.
        subjects: by name; ``target`` is the new subject (MindEye2) or the only one (BrainCLIP).
        novel: category indices held out of fMRI training (BrainCLIP; empty otherwise).
        description: one sentence generated from the sizes actually used.
    """

    bank: StimulusBank
    subjects: dict[str, SubjectSet]
    target: str
    novel: tuple[int, ...] = ()
    description: str = ""
    image_ids: tuple[str, ...] = ()  # the data set's own id of each bank image (real data)

    def image_name(self, index: int) -> str:
        """Bank image ``index`` by the data set's own id (NSD: ``nsd02951``), else its index."""
        return self.image_ids[index] if self.image_ids else f"img{index:05d}"

    def test_groups(self) -> np.ndarray:
        """Per test image of the target: ``"novel category"`` or ``"seen category"``."""
        labels = self.bank.scenes.labels[self.subjects[self.target].test_idx]
        return np.where(np.isin(labels, self.novel), "novel category", "seen category")


def _subject_set(
    subject: SubjectModel,
    bank: StimulusBank,
    splits: dict[str, np.ndarray],
    sim: SimConfig,
    noise: NoiseModel,
    *,
    test_repeats: int,
    seed: int,
    index: int,
) -> SubjectSet:
    """Simulate one subject's single training trials and its validation and test trials, each
    image shown ``test_repeats`` times and its betas averaged (validation mirrors the test, so
    that the convergence rule judges what the test measures)."""
    ss = np.random.SeedSequence([seed, 7, index])
    train_seed, val_seed, test_seed, order_seed, val_order = ss.spawn(5)
    seen = bank.stimuli  # what the subject sees: the simulator never gets the embeddings
    train_x, _ = simulate_trials(subject, seen, splits["train"], sim, noise, seed=train_seed)

    def repeated(idx: np.ndarray, order: np.random.SeedSequence, noise_seed) -> tuple:
        shown = np.random.default_rng(order).permutation(np.repeat(idx, test_repeats))
        betas, _ = simulate_trials(subject, seen, shown, sim, noise, seed=noise_seed)
        return average_repeats(betas, shown)

    val_idx, val_x = np.zeros(0, np.int64), np.zeros((0, subject.n_voxels), np.float32)
    if splits["val"].size:
        val_idx, val_x = repeated(splits["val"], val_order, val_seed)
    test_idx, test_x = repeated(splits["test"], order_seed, test_seed)
    tr = splits["train"]
    amp = subject.amplitudes(seen.features[tr], seen.scenes.subset(tr))
    a, b = amp - amp.mean(0), train_x - train_x.mean(0)
    r = (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0) + 1e-12)
    return SubjectSet(
        subject.name, train_x, splits["train"], val_x, val_idx, test_x, test_idx, subject,
        float(np.median(r)),
    )  # fmt: skip


def _bank(parts: list[Scenes], embedding: JointEmbedding) -> tuple[StimulusBank, list[np.ndarray]]:
    """One bank for all scene tables; returns it and each table's index range."""
    sizes = np.cumsum([0] + [len(p) for p in parts])
    return (
        StimulusBank.build(Scenes.concat(parts), embedding),
        [np.arange(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)],
    )


def mindeye2_study(
    sim: SimConfig,
    embedding: JointEmbedding,
    noise: NoiseModel,
    *,
    n_subjects: int,
    pretrain_sessions: int,
    target_sessions: int = 1,
    n_val: int,
    n_test: int,
    test_repeats: int = 3,
    seed: int = 0,
) -> Study:
    """MindEye2's design: ``subj01`` is the new subject with ``target_sessions`` sessions; the
    others have ``pretrain_sessions`` each; all see the same ``n_test`` test images."""
    if n_subjects < 2:
        raise ValueError(f"need >= 2 subjects (one new, >= 1 to pretrain on), got {n_subjects}")
    rng = np.random.default_rng([seed, 1])
    per = sim.trials_per_session
    counts = [target_sessions * per] + [pretrain_sessions * per] * (n_subjects - 1)
    tables = [sample_scenes(n_test, rng, p_second=sim.p_second)]
    tables += [sample_scenes(c, rng, p_second=sim.p_second) for c in counts]
    tables.append(sample_scenes(n_val, rng, p_second=sim.p_second))
    bank, ranges = _bank(tables, embedding)
    models = make_subjects(n_subjects, sim, noise, seed=seed)
    subjects = {}
    for i, m in enumerate(models):
        splits = {"train": ranges[1 + i], "test": ranges[0]}
        splits["val"] = ranges[-1] if i == 0 else np.zeros(0, np.int64)
        subjects[m.name] = _subject_set(
            m, bank, splits, sim, noise, test_repeats=test_repeats, seed=seed, index=i
        )
    target = models[0].name
    voxels = ", ".join(f"{s.name} {s.n_voxels}" for s in subjects.values())
    snr = ", ".join(f"{s.single_trial_r:.2f}" for s in subjects.values())
    text = (
        f"Simulated fMRI of {n_subjects} subjects (voxels: {voxels}) viewing procedural scenes "
        f"({sim.image_size}x{sim.image_size} px, {len(CATEGORIES)} shape categories); one session "
        f"= {per} trials (NSD: 750); new subject {target}: {target_sessions} session(s) for "
        f"training plus {n_val} validation images (each shown {test_repeats} times, betas "
        f"averaged, as the test images); the other {n_subjects - 1} subjects: "
        f"{pretrain_sessions} sessions each for pretraining; {n_test} shared test images shown "
        f"{test_repeats} times each, betas averaged; single-trial betas from a GLM with a "
        f"{sim.n_hrfs}-HRF library at TR {sim.tr:g} s; {noise.summary(sim.tr)}; stimulus-driven "
        f"SD {sim.signal_psc:g} % signal change, giving a median single-trial correlation with "
        f"the noise-free response of {snr} (subjects in order)."
    )
    return Study(bank, subjects, target, (), text)


def brainclip_study(
    sim: SimConfig,
    embedding: JointEmbedding,
    noise: NoiseModel,
    *,
    n_novel: int,
    n_train: int,
    n_val: int,
    n_test_seen: int,
    n_test_novel: int,
    test_repeats: int = 3,
    seed: int = 0,
) -> Study:
    """BrainCLIP's design (GOD-like): one subject; ``n_novel`` categories never appear in fMRI
    training; test images from seen and from novel categories; one object per scene."""
    if not 1 <= n_novel < len(CATEGORIES) - 1:
        raise ValueError(f"n_novel must lie in [1, {len(CATEGORIES) - 2}], got {n_novel}")
    rng = np.random.default_rng([seed, 2])
    novel = tuple(sorted(int(c) for c in rng.choice(len(CATEGORIES), n_novel, replace=False)))
    seen = [c for c in range(len(CATEGORIES)) if c not in novel]
    tables = [
        sample_scenes(n_train, rng, categories=seen),
        sample_scenes(n_val, rng, categories=seen),
        sample_scenes(n_test_seen, rng, categories=seen),
        sample_scenes(n_test_novel, rng, categories=novel),
    ]
    bank, ranges = _bank(tables, embedding)
    model = make_subjects(1, sim, noise, seed=seed)[0]
    splits = {"train": ranges[0], "val": ranges[1], "test": np.concatenate(ranges[2:])}
    subject = _subject_set(
        model, bank, splits, sim, noise, test_repeats=test_repeats, seed=seed, index=0
    )
    names = ", ".join(CATEGORIES[c] for c in novel)
    text = (
        f"Simulated fMRI of one subject ({subject.n_voxels} voxels) viewing single-object "
        f"procedural scenes ({sim.image_size}x{sim.image_size} px); {len(seen)} seen categories "
        f"give {n_train} training trials (single-trial betas) and {n_val} validation images "
        f"(shown {test_repeats} times each, betas averaged, as the test images); "
        f"{n_novel} novel categories ({names}) never appear in fMRI training; test: "
        f"{n_test_seen} seen-category and {n_test_novel} novel-category images shown "
        f"{test_repeats} times each, betas averaged; GLM with a {sim.n_hrfs}-HRF library at TR "
        f"{sim.tr:g} s; {noise.summary(sim.tr)}; stimulus-driven SD {sim.signal_psc:g} % signal "
        f"change, giving a median single-trial correlation with the noise-free response of "
        f"{subject.single_trial_r:.2f}."
    )
    return Study(bank, {model.name: subject}, model.name, novel, text)


def _real_set(
    s: NSDSubject,
    shared: np.ndarray,
    test_ids: np.ndarray,
    sessions: int | None,
    n_val: int,
    bank_ids: np.ndarray,
) -> SubjectSet:
    """Split one real subject: test = ``test_ids`` (repeats averaged); train = trials of its
    first ``sessions`` sessions showing no shared image, the last ``n_val`` kept for validation."""
    is_test = np.isin(s.image, test_ids)
    limit = np.inf if sessions is None else sessions
    train = np.flatnonzero(~np.isin(s.image, shared) & (s.session < limit))
    if train.size <= n_val + 1:
        raise DataError(s.files[0], f"{s.name}: {train.size} training trials, need > {n_val + 1}")
    val, train = train[train.size - n_val :], train[: train.size - n_val]
    test_img, test_x = average_repeats(s.betas[is_test], s.image[is_test])

    def where(ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(bank_ids, ids)

    return SubjectSet(
        s.name,
        s.betas[train],
        where(s.image[train]),
        s.betas[val],
        where(s.image[val]),
        test_x,
        where(test_img),
    )


def nsd_mindeye2_study(
    folder: str | os.PathLike[str],
    embedding: JointEmbedding,
    *,
    target_sessions: int = 1,
    pretrain_sessions: int | None = None,
    n_val: int = 50,
    n_test: int = 300,
) -> Study:
    """MindEye2's design on real NSD data: ``folder`` is NSD's download tree or flat subject
    folders (:func:`~mricompendium.data.fmri.nsd_tree.find_layout`); the first subject is the
    new one. Images every subject saw are never trained on (NSD's shared images); at most
    ``n_test`` of them form the test set. Bank images carry NSD's own ids (``image_ids``)."""
    layout = find_layout(folder)
    root = layout.root
    real = [load_subject(s) for s in layout.subjects]
    shared = np.array(sorted(set.intersection(*(set(s.image.tolist()) for s in real))))
    if shared.size < 2:
        raise DataError(root, "fewer than 2 images were seen by every subject: no shared test set")
    test_ids = shared[:n_test]
    ids = np.unique(np.concatenate([s.image for s in real]))
    images = load_nsd_images(layout.stimuli, ids, embedding.config.image_size)
    bank = StimulusBank.from_images(images, embedding)
    subjects = {}
    for i, s in enumerate(real):
        sessions = target_sessions if i == 0 else pretrain_sessions
        subjects[s.name] = _real_set(s, shared, test_ids, sessions, n_val if i == 0 else 0, ids)
    target = real[0].name
    t = subjects[target]
    voxels = ", ".join(f"{s.name} {s.n_voxels}" for s in subjects.values())
    text = (
        f"NSD single-trial betas, {layout.description}, from {root} ({len(real)} subjects; "
        f"voxels: {voxels}); new "
        f"subject {target}: first {target_sessions} session(s), {len(t.train_idx)} training and "
        f"{len(t.val_idx)} validation trials; pretraining on the others' "
        f"{'sessions' if pretrain_sessions is None else f'first {pretrain_sessions} sessions'}; "
        f"{len(test_ids)} test images seen by every subject, repeats averaged."
    )
    return Study(bank, subjects, target, (), text, tuple(image_name(i) for i in ids))
