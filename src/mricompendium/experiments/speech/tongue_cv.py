"""S05: choosing the anatomy and pose ranks of the multilinear tongue model by cross-validation.

* :func:`cv_errors`: registration error of held-out speakers' held-out poses for every rank pair,
  one value per held-out speaker (speakers are the unit the error varies over);
* :func:`one_se_ranks`: the one-standard-error rule (Breiman et al. 1984; Hastie, Tibshirani &
  Friedman, *Elements of Statistical Learning*, 2nd ed., sec. 7.10): the most parsimonious ranks
  whose mean CV error lies within one standard error (over speakers) of the best;
* :func:`tolerance_ranks`: the most parsimonious ranks within a relative tolerance of the best;
* :func:`bootstrap_ranks`: the one-SE choice on speaker resamples, i.e. how much the chosen counts
  vary with the draw of training speakers;
* :func:`components_above_noise`: how many anatomy and pose components of a *clean* tensor stand
  above the tracing noise, the degrees of freedom a generator actually puts into the data.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import tensorly as tl

from mricompendium.experiments.speech.tongue import MultilinearModel, shape_error_mm

__all__ = [
    "VTL_TONGUE_PARAMETERS",
    "bootstrap_ranks",
    "components_above_noise",
    "cv_errors",
    "one_se_ranks",
    "tolerance_ranks",
]

#: The VocalTractLab tract parameters that move JD3's midsagittal tongue contour (hyoid, jaw, tongue
#: body, tip and blade positions, tongue side elevations); the lips, velum and the tongue root
#: parameters (computed by VocalTractLab itself) leave it in place. Checked by the simulator tests.
VTL_TONGUE_PARAMETERS: tuple[str, ...] = (
    "HX", "HY", "JX", "JA", "TCX", "TCY", "TTX", "TTY", "TBX", "TBY", "TS1", "TS2", "TS3",
)  # fmt: skip


def cv_errors(
    observed: np.ndarray,
    clean: np.ndarray,
    ranks_anat: Sequence[int],
    ranks_pose: Sequence[int],
    *,
    mask: np.ndarray,
    noise_mm: float,
    prior: float = 1.0,
    pose_folds: int = 4,
) -> np.ndarray:
    """Cross-validated registration error (mm) per held-out speaker and (anatomy, pose) rank pair.

    Each fold holds out one speaker and a block of poses: the model is fitted to the other speakers'
    observed shapes in the other poses, and the held-out speaker's shapes in the held-out poses are
    registered (unseen speaker, unseen poses) and compared with their clean contours.

    Args:
        observed, clean: ``(S, P, D)`` aligned training shapes, traced (noisy) and true.
        ranks_anat, ranks_pose: the grid.
        mask: observed coordinates (:func:`~.tongue.observation_mask`).
        noise_mm: the tracing noise assumed by the registration; prior: its prior strength.
        pose_folds: blocks of poses held out in turn.

    Returns:
        ``(S, len(ranks_anat), len(ranks_pose))``: each speaker's mean error over its shapes.
    """
    s, p, _ = observed.shape
    folds = np.array_split(np.arange(p), min(pose_folds, p))
    if max(ranks_anat) > s - 1 or max(ranks_pose) > p - len(folds[0]):
        raise ValueError(
            f"with {s} speakers and {p} poses in {len(folds)} folds, ranks must be at most "
            f"{s - 1} (anatomy) and {p - len(folds[0])} (pose)"
        )
    err = np.zeros((s, len(ranks_anat), len(ranks_pose)))
    for spk, held in itertools.product(range(s), folds):
        keep_s = np.delete(np.arange(s), spk)
        keep_p = np.setdiff1d(np.arange(p), held)
        full = MultilinearModel.fit(
            observed[np.ix_(keep_s, keep_p)], max(ranks_anat), max(ranks_pose)
        )
        for i, j in itertools.product(range(len(ranks_anat)), range(len(ranks_pose))):
            ra, rp = ranks_anat[i], ranks_pose[j]
            m = MultilinearModel(
                full.mean, full.core[:ra, :rp], full.anatomy[:, :ra], full.pose[:, :rp]
            )
            _, _, est = m.register(observed[spk, held], mask, noise_mm, prior=prior)
            err[spk, i, j] += shape_error_mm(est, clean[spk, held]).sum()
    return err / p


def _parsimonious(
    mean: np.ndarray, limit: float, ranks_anat: Sequence[int], ranks_pose: Sequence[int]
) -> tuple[int, int]:
    """Smallest ``r_a + r_p`` (then lowest error, then fewer anatomy components) with error <=
    ``limit``."""
    ok = [
        (ra + rp, mean[i, j], ra, rp)
        for (i, ra), (j, rp) in itertools.product(enumerate(ranks_anat), enumerate(ranks_pose))
        if mean[i, j] <= limit + 1e-12
    ]
    _, _, ra, rp = min(ok)
    return int(ra), int(rp)


def one_se_ranks(
    err: np.ndarray, ranks_anat: Sequence[int], ranks_pose: Sequence[int]
) -> tuple[int, int]:
    """The one-standard-error rule on per-speaker CV errors ``(S, A, P)`` (:func:`cv_errors`).

    The standard error is that of the mean CV error of the best rank pair over the ``S`` held-out
    speakers (``sd / sqrt(S)``, ``S >= 2``).
    """
    err = np.asarray(err, dtype=np.float64)
    if err.ndim != 3 or err.shape[0] < 2 or err.shape[1:] != (len(ranks_anat), len(ranks_pose)):
        raise ValueError(
            f"need (S >= 2, {len(ranks_anat)}, {len(ranks_pose)}) errors, got {err.shape}"
        )
    mean = err.mean(axis=0)
    i, j = np.unravel_index(int(np.argmin(mean)), mean.shape)
    se = float(err[:, i, j].std(ddof=1) / np.sqrt(len(err)))
    return _parsimonious(mean, float(mean[i, j]) + se, ranks_anat, ranks_pose)


def tolerance_ranks(
    mean_err: np.ndarray,
    ranks_anat: Sequence[int],
    ranks_pose: Sequence[int],
    tolerance: float = 0.02,
) -> tuple[int, int]:
    """The most parsimonious ranks whose mean CV error ``(A, P)`` is within ``tolerance``
    (relative) of the minimum."""
    mean_err = np.asarray(mean_err, dtype=np.float64)
    return _parsimonious(mean_err, float(mean_err.min()) * (1 + tolerance), ranks_anat, ranks_pose)


def bootstrap_ranks(
    err: np.ndarray,
    ranks_anat: Sequence[int],
    ranks_pose: Sequence[int],
    *,
    n_boot: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """The one-SE choice on ``n_boot`` resamples (with replacement) of the held-out speakers.

    The fold models stay those of the full training set: this measures how the choice varies with
    which speakers score it, a lower bound on its variation over new draws of speakers.

    Returns:
        ``(n_boot, 2)`` chosen (anatomy, pose) ranks.
    """
    s = len(err)
    picks = [
        one_se_ranks(err[rng.integers(0, s, size=s)], ranks_anat, ranks_pose)
        for _ in range(int(n_boot))
    ]
    return np.asarray(picks, dtype=np.int64).reshape(-1, 2)


def components_above_noise(clean: np.ndarray, noise_mm: float) -> tuple[int, int]:
    """Anatomy and pose components of a clean ``(S, P, D)`` tensor that stand above the noise.

    The tensor is centred by its mean shape and unfolded along each mode; a component counts when
    its singular value exceeds that of the largest one of pure noise of standard deviation
    ``noise_mm`` in a matrix of the same size, ``noise * (sqrt(n) + sqrt(m))`` (the edge of the
    Marchenko-Pastur law). The first anatomy component carries the speakers' common pose pattern, so
    a population with ``k`` independent anatomy factors shows at most ``k + 1``.
    """
    x = np.asarray(clean, dtype=np.float64)
    if x.ndim != 3 or noise_mm <= 0:
        raise ValueError("need a (S, P, D) tensor and noise_mm > 0")
    xc = tl.tensor(x - x.mean(axis=(0, 1)))
    out = []
    for mode in (0, 1):
        u = tl.unfold(xc, mode)
        edge = noise_mm * (np.sqrt(u.shape[0]) + np.sqrt(u.shape[1]))
        out.append(int((np.linalg.svd(u, compute_uv=False) > edge).sum()))
    return out[0], out[1]
