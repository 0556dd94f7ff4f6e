"""S05 multilinear tongue model: anatomy x pose Tucker model, cross-validated ranks, registration.

Data: tongue contours of ``S`` speakers in ``P`` poses, ``N`` points each (``(S, P, N, 2)``), as a
third-order tensor ``X[s, p, :]`` (speaker x pose x coordinates) after alignment. The model
(Hewer et al., CSL 2018) is a Tucker decomposition of the centred tensor with ``r_a`` anatomy
and ``r_p`` pose components::

    shape(a, p) = mean + core x_1 a x_2 p,   core: (r_a, r_p, 2N)

computed here by truncated higher-order SVD (HOSVD, then a few HOOI sweeps with tensorly for the
final model). Registering an unseen speaker's observed shapes (all points, or a few, with noise)
estimates one anatomy vector shared by all its shapes and one pose vector per shape, by alternating
regularised least squares (a MAP estimate with Gaussian priors fitted to the training weights and
the observation noise as likelihood). The baseline model that does not separate anatomy from pose
is PCA of all training shapes, registered shape by shape with the same prior; the floor is the
training mean shape, whatever was observed. Errors are mean point-to-point distances (mm) to the
clean contour. Cross-validation of the ranks: :mod:`.tongue_cv`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import tensorly as tl
from tensorly.decomposition import tucker

__all__ = [
    "MeanShapeModel",
    "MultilinearModel",
    "PCAModel",
    "align_speakers",
    "observation_mask",
    "observe",
    "prepare_shapes",
    "registration_rows",
    "rigid_fit",
    "shape_error_mm",
]

tl.set_backend("numpy")


def _rotation(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s], [s, c]])


def observe(
    tongue: np.ndarray,
    palate: np.ndarray,
    rng: np.random.Generator,
    *,
    head_shift_mm: float = 5.0,
    head_rot_deg: float = 3.0,
    noise_mm: float = 0.5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What an imaging study sees: each speaker's head placed at random, contours traced with noise.

    Args:
        tongue: ``(S, P, N, 2)`` clean contours (mm); palate: ``(S, M, 2)`` clean palates (mm).
        rng: draws the head placements and the noise.
        head_shift_mm / head_rot_deg: uniform ranges of the per-speaker translation and rotation.
        noise_mm: standard deviation of the tracing noise per coordinate.

    Returns:
        ``(observed tongue, observed palate, clean tongue in the observed head placement)``.
    """
    s = len(tongue)
    obs_t, obs_p, true_t = np.empty_like(tongue), np.empty_like(palate), np.empty_like(tongue)
    for i in range(s):
        rot = _rotation(np.deg2rad(rng.uniform(-head_rot_deg, head_rot_deg)))
        shift = rng.uniform(-head_shift_mm, head_shift_mm, size=2)
        centre = palate[i].mean(axis=0)
        true_t[i] = (tongue[i] - centre) @ rot.T + centre + shift
        obs_p[i] = (palate[i] - centre) @ rot.T + centre + shift
    obs_t = true_t + noise_mm * rng.standard_normal(tongue.shape)
    obs_p = obs_p + noise_mm * rng.standard_normal(palate.shape)
    return obs_t, obs_p, true_t


def rigid_fit(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation ``R`` and translation ``t`` with ``src @ R.T + t`` closest to ``dst`` (Kabsch)."""
    ms, md = src.mean(axis=0), dst.mean(axis=0)
    u, _, vt = np.linalg.svd((src - ms).T @ (dst - md))
    d = np.sign(np.linalg.det(vt.T @ u.T))
    rot = vt.T @ np.diag([1.0, d]) @ u.T
    return rot, md - ms @ rot.T


def align_speakers(
    palate: np.ndarray, *, reference: np.ndarray | None = None, n_iter: int = 5
) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Rigid transforms that bring every speaker's hard palate onto a common one.

    Without ``reference`` the reference is built by generalised Procrustes (iterated mean of the
    aligned palates); with it (the training speakers' mean palate), unseen speakers join that frame.

    Returns:
        ``([(R, t) per speaker], reference palate)``; apply as ``x @ R.T + t``.
    """
    fixed = reference is not None
    ref = np.asarray(reference if fixed else palate[0], dtype=np.float64)
    for _ in range(1 if fixed else n_iter):
        fits = [rigid_fit(p, ref) for p in palate]
        if not fixed:
            ref = np.mean([p @ r.T + t for p, (r, t) in zip(palate, fits, strict=True)], axis=0)
    return fits, ref


def observation_mask(n_points: int, setting: str, n_sparse: int = 3) -> np.ndarray:
    """Boolean ``(2 * n_points,)``: the observed coordinates of a flattened contour.

    ``"dense contour"``: every point; ``"sparse points"``: ``n_sparse`` points spread over the front
    half of the tongue (root at index 0, tip at the end), like EMA coils on dorsum, blade and tip.
    """
    if setting == "dense contour":
        return np.ones(2 * n_points, dtype=bool)
    if setting != "sparse points":
        raise ValueError(f"setting must be 'dense contour' or 'sparse points', got {setting!r}")
    idx = np.round(np.linspace(0.5, 0.95, n_sparse) * (n_points - 1)).astype(int)
    m = np.zeros((n_points, 2), dtype=bool)
    m[idx] = True
    return m.ravel()


def _map_solve(
    gram: np.ndarray, rhs: np.ndarray, prior_mu: np.ndarray, prior_var: np.ndarray, noise_var: float
) -> np.ndarray:
    """MAP weights: ``argmin ||design w - r||^2 / noise_var + sum((w - mu)^2 / var)`` given
    ``gram = design.T @ design`` and ``rhs = design.T @ r`` (columns: several right-hand sides)."""
    lhs = gram / noise_var + np.diag(1.0 / prior_var)
    return np.linalg.solve(lhs, rhs / noise_var + (prior_mu / prior_var)[:, None])


def _prior(weights: np.ndarray, strength: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of a Gaussian prior fitted to training weights; ``strength`` scales its
    precision (1: the fitted prior; towards 0: plain least squares)."""
    if strength <= 0:
        raise ValueError(f"prior strength must be > 0, got {strength}")
    return weights.mean(0), (weights.var(0) + 1e-12) / strength


@dataclasses.dataclass
class MultilinearModel:
    """Tucker model of a speaker x pose x coordinate tensor.

    Attributes:
        mean: ``(D,)`` mean shape; core: ``(r_a, r_p, D)``;
        anatomy: ``(S, r_a)`` training speakers' weights;
        pose: ``(P, r_p)`` training poses' weights.
    """

    mean: np.ndarray
    core: np.ndarray
    anatomy: np.ndarray
    pose: np.ndarray

    @classmethod
    def fit(
        cls, x: np.ndarray, r_anat: int, r_pose: int, *, hooi_iter: int = 0
    ) -> MultilinearModel:
        """Truncated HOSVD of ``x`` ``(S, P, D)`` (plus ``hooi_iter`` HOOI sweeps, tensorly)."""
        s, p, d = x.shape
        if not (1 <= r_anat <= s and 1 <= r_pose <= p):
            raise ValueError(f"ranks must be in [1, {s}] x [1, {p}], got ({r_anat}, {r_pose})")
        mean = x.mean(axis=(0, 1))
        xc = tl.tensor(x - mean)
        if hooi_iter > 0:
            core, (ua, up, ud) = tucker(
                xc,
                rank=[r_anat, r_pose, min(d, r_anat * r_pose)],
                n_iter_max=hooi_iter,
                init="svd",
                tol=0.0,
            )
            core = tl.tenalg.mode_dot(core, ud, 2)
        else:
            ua = np.linalg.svd(tl.unfold(xc, 0), full_matrices=False)[0][:, :r_anat]
            up = np.linalg.svd(tl.unfold(xc, 1), full_matrices=False)[0][:, :r_pose]
            core = tl.tenalg.multi_mode_dot(xc, [ua.T, up.T], modes=[0, 1])
        return cls(mean, np.asarray(core), np.asarray(ua), np.asarray(up))

    def shape(self, a: np.ndarray, p: np.ndarray) -> np.ndarray:
        return self.mean + np.einsum("i,j,ijd->d", a, p, self.core)

    def register(
        self,
        y: np.ndarray,
        mask: np.ndarray,
        noise_mm: float,
        *,
        prior: float = 1.0,
        n_iter: int = 10,
    ):
        """MAP anatomy (shared) and poses (per shape) of ``y`` ``(K, D)`` observed where ``mask``.

        ``prior`` scales the precision of the Gaussian priors fitted to the training weights.

        Returns:
            ``(a (r_a,), poses (K, r_p), shapes (K, D))``.
        """
        mu_a, var_a = _prior(self.anatomy, prior)
        mu_p, var_p = _prior(self.pose, prior)
        noise_var = max(noise_mm, 1e-3) ** 2
        a = mu_a.copy()
        core = self.core[:, :, mask]
        resid = y[:, mask] - self.mean[mask]  # (K, M)
        for _ in range(n_iter):
            b = np.einsum("i,ijd->dj", a, core)  # (M, r_p), shared by every shape
            ps = _map_solve(b.T @ b, b.T @ resid.T, mu_p, var_p, noise_var).T  # (K, r_p)
            design = np.einsum("kj,ijd->kdi", ps, core)  # (K, M, r_a)
            gram = np.einsum("kdi,kdl->il", design, design)
            rhs = np.einsum("kdi,kd->i", design, resid)[:, None]
            a = _map_solve(gram, rhs, mu_a, var_a, noise_var)[:, 0]
        shapes = self.mean + np.einsum("i,kj,ijd->kd", a, ps, self.core)
        return a, ps, shapes


@dataclasses.dataclass
class PCAModel:
    """Principal components of all training shapes ``(S * P, D)``; shapes registered one by one."""

    mean: np.ndarray
    components: np.ndarray  # (k, D)
    variances: np.ndarray  # (k,)

    @classmethod
    def fit(cls, x: np.ndarray, k: int) -> PCAModel:
        flat = x.reshape(-1, x.shape[-1])
        mean = flat.mean(axis=0)
        _, s, vt = np.linalg.svd(flat - mean, full_matrices=False)
        k = min(k, len(s))
        return cls(mean, vt[:k], s[:k] ** 2 / max(1, len(flat) - 1))

    def register(self, y: np.ndarray, mask: np.ndarray, noise_mm: float, *, prior: float = 1.0):
        """MAP weights of each shape of ``y`` ``(K, D)`` observed where ``mask``; returns shapes."""
        noise_var = max(noise_mm, 1e-3) ** 2
        design = self.components[:, mask].T
        resid = y[:, mask] - self.mean[mask]
        zero = np.zeros(len(self.variances))
        w = _map_solve(
            design.T @ design, design.T @ resid.T, zero, self.variances + 1e-12, noise_var
        ).T
        return w, self.mean + w @ self.components


@dataclasses.dataclass
class MeanShapeModel:
    """The floor: the training mean shape ``(D,)``, returned for every shape, whatever is seen."""

    mean: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> MeanShapeModel:
        return cls(x.reshape(-1, x.shape[-1]).mean(axis=0))

    def register(self, y: np.ndarray, mask: np.ndarray, noise_mm: float, *, prior: float = 1.0):
        """No weights (``(K, 0)``) and the mean shape for each of the ``K`` shapes of ``y``."""
        return np.zeros((len(y), 0)), np.repeat(self.mean[None], len(y), axis=0)


def shape_error_mm(est: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Mean point-to-point distance per shape: ``(K, D)`` x2 -> ``(K,)`` (D = 2N)."""
    d = (np.asarray(est) - np.asarray(true)).reshape(len(est), -1, 2)
    return np.sqrt((d**2).sum(-1)).mean(-1)


def _apply(fits: list[tuple[np.ndarray, np.ndarray]], shapes: np.ndarray) -> np.ndarray:
    return np.stack([x @ r.T + t for x, (r, t) in zip(shapes, fits, strict=True)])


def prepare_shapes(
    tongue_cm: np.ndarray,
    palate_cm: np.ndarray,
    train: Sequence[int],
    test: Sequence[int],
    rng: np.random.Generator,
    *,
    head_shift_mm: float = 5.0,
    head_rot_deg: float = 3.0,
    noise_mm: float = 0.5,
) -> dict[str, np.ndarray]:
    """Observe, align and flatten the contours of training and unseen (test) speakers.

    Training speakers are aligned among themselves (generalised Procrustes on the palate); test
    speakers are aligned to the training reference palate. The clean contours go through the same
    transforms, so they are the ground truth in the frame of the observations.

    Returns:
        ``train_obs``, ``train_true``, ``test_obs``, ``test_true`` ``(S, P, 2N)`` in mm, and
        ``palate_rms_mm`` ``(S,)`` (palate residual after alignment, train then test).
    """
    obs_t, obs_p, true_t = observe(
        10.0 * tongue_cm,
        10.0 * palate_cm,
        rng,
        head_shift_mm=head_shift_mm,
        head_rot_deg=head_rot_deg,
        noise_mm=noise_mm,
    )
    train, test = list(train), list(test)
    fits_tr, ref = align_speakers(obs_p[train])
    fits_te, _ = align_speakers(obs_p[test], reference=ref)
    out: dict[str, np.ndarray] = {}
    for name, idx, fits in (("train", train, fits_tr), ("test", test, fits_te)):
        s, p, n, _ = obs_t[idx].shape
        out[f"{name}_obs"] = _apply(fits, obs_t[idx]).reshape(s, p, 2 * n)
        out[f"{name}_true"] = _apply(fits, true_t[idx]).reshape(s, p, 2 * n)
    pal = np.concatenate([_apply(fits_tr, obs_p[train]), _apply(fits_te, obs_p[test])])
    out["palate_rms_mm"] = np.sqrt(((pal - ref) ** 2).sum(-1).mean(-1))
    return out


def registration_rows(
    model: MultilinearModel | PCAModel | MeanShapeModel,
    observed: np.ndarray,
    true: np.ndarray,
    mask: np.ndarray,
    noise_mm: float,
    *,
    method: str,
    setting: str,
    speakers: Sequence[str],
    poses: Sequence[str],
    prior: float = 1.0,
) -> list[dict[str, object]]:
    """Register every unseen speaker's shapes; one row per (speaker, pose) with ``err_mm``.

    The unit of independence is the speaker (a multilinear model's anatomy is shared by all its
    shapes); ``seed`` is -1 and ``budget`` 0 (the models are fitted in closed form).
    """
    rows: list[dict[str, object]] = []
    for spk, obs, tru in zip(speakers, observed, true, strict=True):
        est = model.register(obs, mask, noise_mm, prior=prior)[-1]  # the shapes come last
        for pose, e in zip(poses, shape_error_mm(est, tru), strict=True):
            rows.append(
                {
                    "setting": setting,
                    "method": method,
                    "seed": -1,
                    "budget": 0,
                    "case": f"{spk}/{pose}",
                    "unit": spk,
                    "group": "unseen speaker",
                    "err_mm": float(e),
                }
            )
    return rows
