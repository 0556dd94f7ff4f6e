"""Classical dynamic (2D+t) reconstruction: L+S, TV + nuclear norms (the S15 model), SENSE.

Every solver works on one multi-frame batch (:class:`~mricompendium.data.recon.frames.FrameBatch`)
in the normalised units of :func:`frame_scale` (k-space over the RMS of the zero-filled frames), so
a weight means the same on every case, and every iterative solver stops by **one rule**: at most
``iters`` iterations, earlier once the relative change of the image falls below ``tol``.

* :func:`lps`: low-rank plus sparse (Otazo, Candes and Sodickson, MRM 73:1125-1136, 2015):
  ``x = L + S``, ``lam_l ||L||_* + lam_s ||F_t S||_1`` (temporal Fourier sparsity), their
  iterative soft-thresholding.
* :func:`primal_dual`: ``min_{x, e} 1/2 ||A (x + e) - y||^2 + gamma ||e||_1 + lam_s TV_xy(x) +
  lam_t TV_t(x) + mu_1 ||C(x)||_* + mu_2 ||R(x)||_*``, solved with the Condat-Vu primal-dual
  algorithm (Condat, JOTA 2013; Vu, Adv. Comput. Math. 2013). ``C`` is the Casorati matrix
  (pixels x frames), ``R`` the unfolding rows x (frames x columns); TV_xy is isotropic, TV_t
  periodic (a cine cycle). Our reading of RDLEDM (Tan, Qing and Xu, arXiv 2310.14934): double TV,
  double nuclear norm, and a linear image-domain error term ``e``; the paper's exact objective
  and solver are not verified; here the two TVs share one weight and the two nuclear norms another
  (three weights with the error term). Subsets give the other models: TV + nuclear norm (a convex
  k-t SLR, Lingala et al., IEEE TMI 2011: space-time TV and the Casorati nuclear norm), temporal
  TV alone, and the ablations.
* :func:`cg_sense`: Tikhonov-regularised SENSE by conjugate gradients (the CMRxRecon organisers'
  SENSE baseline is a per-frame SENSE; ours shares its model, not its code).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from mricompendium.data.recon.frames import FrameBatch
from mricompendium.experiments.reconstruction.cs import soft_threshold as soft
from mricompendium.physics.kt import KtSenseOp

__all__ = [
    "DYNAMIC_METHODS",
    "DynamicMethod",
    "cg_sense",
    "frame_scale",
    "lps",
    "primal_dual",
    "svt",
]


def frame_scale(batch: FrameBatch) -> torch.Tensor:
    """Per-case scale ``(B,)``: RMS magnitude of the zero-filled frames (from the data alone)."""
    x0 = batch.zero_filled()
    return x0.abs().square().mean(dim=(1, 2, 3)).sqrt().clamp_min(1e-30)


def svt(x: torch.Tensor, tau: float, unfolding: str = "casorati") -> torch.Tensor:
    """Singular-value soft thresholding of each case's unfolding of ``x`` ``(B, T, H, W)``.

    ``"casorati"``: the (frames x pixels) matrix; ``"rows"``: rows x (frames x columns). The
    singular vectors come from the small Gram matrix (eigh in float64).
    """
    if unfolding not in ("casorati", "rows"):
        raise ValueError(f"unfolding must be 'casorati' or 'rows', got {unfolding!r}")
    b, t, h, w = x.shape
    if unfolding == "casorati":
        m = x.reshape(b, t, h * w)
    else:
        m = x.permute(0, 2, 1, 3).reshape(b, h, t * w)
    md = m.to(torch.complex128)
    lam, vec = torch.linalg.eigh(md @ md.mH)
    s = lam.clamp_min(0).sqrt()
    gain = (s - tau).clamp_min(0) / s.clamp_min(1e-30)
    out = (vec * gain.unsqueeze(1)) @ (vec.mH @ md)
    out = out.to(x.dtype)
    if unfolding == "casorati":
        return out.reshape(b, t, h, w)
    return out.reshape(b, h, t, w).permute(0, 2, 1, 3)


def _grad_s(x: torch.Tensor) -> torch.Tensor:
    gh = torch.zeros_like(x)
    gw = torch.zeros_like(x)
    gh[..., :-1, :] = x[..., 1:, :] - x[..., :-1, :]
    gw[..., :, :-1] = x[..., :, 1:] - x[..., :, :-1]
    return torch.stack([gh, gw])


def _grad_s_adj(p: torch.Tensor) -> torch.Tensor:
    gh, gw = p[0], p[1]
    out = torch.zeros_like(gh)
    out[..., :-1, :] -= gh[..., :-1, :]
    out[..., 1:, :] += gh[..., :-1, :]
    out[..., :, :-1] -= gw[..., :, :-1]
    out[..., :, 1:] += gw[..., :, :-1]
    return out


def _grad_t(x: torch.Tensor) -> torch.Tensor:
    return torch.roll(x, -1, dims=1) - x


def _grad_t_adj(p: torch.Tensor) -> torch.Tensor:
    return torch.roll(p, 1, dims=1) - p


def _normalised(batch: FrameBatch) -> tuple[torch.Tensor, KtSenseOp, torch.Tensor]:
    scale = frame_scale(batch)
    y = batch.kspace / scale.view(-1, 1, 1, 1, 1).to(batch.kspace.real.dtype)
    return y, batch.operator(), scale


def _sq(x: torch.Tensor) -> torch.Tensor:
    return torch.view_as_real(x).square().sum() if torch.is_complex(x) else x.square().sum()


def _changed(new: torch.Tensor, old: torch.Tensor, tol: float) -> bool:
    """The stopping rule: relative change of the image ``>= tol`` (keep iterating)."""
    return float(_sq(new - old)) >= tol**2 * float(_sq(old).clamp_min(1e-60))


@dataclass
class Solved:
    """A reconstruction ``(B, T, H, W)`` in the data's units and the iterations it took."""

    image: torch.Tensor
    iters: int


def lps(batch: FrameBatch, *, lam_l: float, lam_s: float, iters: int, tol: float) -> Solved:
    """Low-rank plus sparse (Otazo et al. 2015) on the normalised data."""
    y, op, scale = _normalised(batch)
    m = op.A_adjoint(y)
    s = torch.zeros_like(m)
    done = 0
    for it in range(1, iters + 1):
        done = it
        low = svt(m - s, lam_l)
        s = torch.fft.ifft(soft(torch.fft.fft(m - low, dim=1, norm="ortho"), lam_s), dim=1,
                           norm="ortho")  # fmt: skip
        x = low + s
        m_new = x - op.A_adjoint(op.A(x) - y)
        moved = _changed(m_new, m, tol)
        m = m_new
        if not moved:
            break
    return Solved(m * scale.view(-1, 1, 1, 1).to(m.real.dtype), done)


TERMS = ("tv_s", "tv_t", "nn_cas", "nn_rows", "err")
_NORM2 = {"tv_s": 8.0, "tv_t": 4.0, "nn_cas": 1.0, "nn_rows": 1.0}  # ||K_i||^2 bounds


def _dual_prox(term: str, u: torch.Tensor, sigma: float, w: float) -> torch.Tensor:
    """``prox_{sigma g*}`` of ``g = w ||.||`` for each term (Moreau's identity for the norms)."""
    if term == "tv_s":
        mag = u.abs().square().sum(dim=0, keepdim=True).sqrt()
        return u / (mag / w).clamp_min(1.0)
    if term == "tv_t":
        return u / (u.abs() / w).clamp_min(1.0)
    unfolding = "casorati" if term == "nn_cas" else "rows"
    return u - sigma * svt(u / sigma, w / sigma, unfolding)


def _k(term: str, x: torch.Tensor) -> torch.Tensor:
    return {"tv_s": _grad_s, "tv_t": _grad_t}.get(term, lambda v: v)(x)


def _k_adj(term: str, u: torch.Tensor) -> torch.Tensor:
    return {"tv_s": _grad_s_adj, "tv_t": _grad_t_adj}.get(term, lambda v: v)(u)


def primal_dual(batch: FrameBatch, *, weights: dict[str, float], iters: int, tol: float) -> Solved:
    """The TV + nuclear-norm family (RDLEDM as we read it) by Condat-Vu primal-dual steps.

    Args:
        batch: the data.
        weights: non-negative weights of :data:`TERMS` (absent or 0: the term is dropped;
            ``err``: the image-domain error term ``gamma``).
        iters, tol: the stopping rule.
    """
    unknown = set(weights) - set(TERMS)
    if unknown or any(v < 0 for v in weights.values()):
        raise ValueError(f"weights must be non-negative over {TERMS}, got {weights}")
    y, op, scale = _normalised(batch)
    terms = [t for t in TERMS[:4] if weights.get(t, 0) > 0]
    use_err = weights.get("err", 0) > 0
    lf = 2.0 if use_err else 1.0  # ||A|| <= 1 (unit-RSS maps, 0/1 mask); [A, A] for (x, e)
    knorm = sum(_NORM2[t] for t in terms)
    sigma = 1.0 / math.sqrt(knorm) if terms else 1.0
    tau = 0.99 / (lf / 2 + sigma * knorm)
    x = op.A_adjoint(y)
    e = torch.zeros_like(x)
    duals = {t: torch.zeros_like(_k(t, x)) for t in terms}
    done = 0
    for it in range(1, iters + 1):
        done = it
        grad = op.A_adjoint(op.A(x + e if use_err else x) - y)
        step = sum((_k_adj(t, duals[t]) for t in terms), torch.zeros_like(x))
        x_new = x - tau * (grad + step)
        if use_err:
            e = soft(e - tau * grad, tau * weights["err"])
        bar = 2 * x_new - x
        for t in terms:
            duals[t] = _dual_prox(t, duals[t] + sigma * _k(t, bar), sigma, weights[t])
        # the first step moves x by the data term alone (the duals start at 0): with consistent
        # zero-filled data (one coil) it does not move, so the rule is checked from step 2 on
        moved = it == 1 or _changed(x_new, x, tol)
        x = x_new
        if not moved:
            break
    return Solved(x * scale.view(-1, 1, 1, 1).to(x.real.dtype), done)


def cg_sense(batch: FrameBatch, *, lam: float, iters: int, tol: float) -> Solved:
    """``argmin ||A x - y||^2 + lam ||x||^2`` by conjugate gradients (frames independent)."""
    y, op, scale = _normalised(batch)
    rhs = op.A_adjoint(y)
    x = torch.zeros_like(rhs)
    r = rhs.clone()
    p = r.clone()
    rr = r.abs().square().sum()
    done = 0
    for it in range(1, iters + 1):
        done = it
        ap = op.normal(p) + lam * p
        alpha = rr / (p.conj() * ap).sum().real.clamp_min(1e-30)
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = r.abs().square().sum()
        if float(rr_new) < tol**2 * float(_sq(rhs).clamp_min(1e-60)):
            break
        p = r + (rr_new / rr) * p
        rr = rr_new
    return Solved(x * scale.view(-1, 1, 1, 1).to(x.real.dtype), done)


@dataclass(frozen=True)
class DynamicMethod:
    """A classical method: its weights, their log10 search box, and its solver.

    Attributes:
        name: the results' ``method``.
        box: ``{weight: (log10 lo, log10 hi)}``, searched on validation cases.
        solve: ``solve(batch, weights, iters, tol) -> Solved``.
        citation: the model's source.
    """

    name: str
    box: dict[str, tuple[float, float]]
    solve: Callable[..., Solved]
    citation: str = ""
    fixed: dict[str, float] = field(default_factory=dict)

    def run(self, batch: FrameBatch, weights: dict[str, float], *, iters: int, tol: float):
        """``(Solved, wall seconds)`` of this method on ``batch``."""
        t0 = time.perf_counter()
        out = self.solve(batch, {**self.fixed, **weights}, iters, tol)
        return out, time.perf_counter() - t0


def _pd(**terms: str) -> Callable[..., Solved]:
    """A primal-dual model: ``terms`` maps each objective term to the weight that sets it (tied
    terms share one weight, e.g. both TVs)."""

    def solve(batch: FrameBatch, w: dict[str, float], iters: int, tol: float) -> Solved:
        weights = {term: w[name] for term, name in terms.items()}
        return primal_dual(batch, weights=weights, iters=iters, tol=tol)

    return solve


def _lps(batch: FrameBatch, w: dict[str, float], iters: int, tol: float) -> Solved:
    return lps(batch, lam_l=w["lam_l"], lam_s=w["lam_s"], iters=iters, tol=tol)


def _sense(batch: FrameBatch, w: dict[str, float], iters: int, tol: float) -> Solved:
    return cg_sense(batch, lam=w["lam"], iters=iters, tol=tol)


_TV, _NN, _ERR = (-3.5, -0.5), (-2.0, 1.0), (-2.0, 1.0)
_RDLEDM = "Tan, Qing and Xu, arXiv 2310.14934 (our reading of the abstract)"
_BOTH_TV = {"tv_s": "tv", "tv_t": "tv"}
_BOTH_NN = {"nn_cas": "nn", "nn_rows": "nn"}
_RD_BOX = {"tv": _TV, "nn": _NN, "err": _ERR}
DYNAMIC_METHODS: dict[str, DynamicMethod] = {
    m.name: m
    for m in (
        DynamicMethod("RDLEDM", _RD_BOX, _pd(**_BOTH_TV, **_BOTH_NN, err="err"), _RDLEDM),
        DynamicMethod("RDLEDM (no temporal TV)", _RD_BOX,
                      _pd(tv_s="tv", **_BOTH_NN, err="err"), _RDLEDM + ", ablation"),
        DynamicMethod("RDLEDM (one nuclear norm)", _RD_BOX,
                      _pd(**_BOTH_TV, nn_cas="nn", err="err"), _RDLEDM + ", ablation"),
        DynamicMethod("L+S", {"lam_l": _NN, "lam_s": (-3.0, 1.0)}, _lps,
                      "Otazo, Candes and Sodickson, MRM 73:1125, 2015"),
        DynamicMethod("TV+NN", {"tv": _TV, "nn": _NN}, _pd(**_BOTH_TV, nn_cas="nn"),
                      "convex k-t SLR-like: Lingala et al., IEEE TMI 30:1042, 2011"),
        DynamicMethod("temporal TV", {"tv": _TV}, _pd(tv_t="tv"),
                      "temporal TV (e.g. Adluru et al., JMRI 2007)"),
        DynamicMethod("SENSE", {"lam": (-4.0, 0.0)}, _sense,
                      "Pruessmann et al., MRM 1999 (CG, Tikhonov)"),
    )
}  # fmt: skip
