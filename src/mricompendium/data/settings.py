"""What a run used: a record on real data lists no simulator setting that did not shape it.

A notebook's record (``claims.write_record(..., scale=...)``) lists the sizes and settings of the
run. With ``data_path`` set, the simulator does not run, so its settings (simulated subjects,
voxels, trials per simulated session, noise, grids of synthesised heads ...) did not shape the
results and must not appear as if they had. :data:`SIMULATION_ONLY` names them per notebook
(keep it in step with the notebooks' data cells); :func:`used_settings` drops them from a record
dict when the data are real. Settings that the real-data route also reads (``target_sessions``,
``pretrain_sessions``, ``n_val``, ``n_test`` of MindEye2 ...) stay.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["SIMULATION_ONLY", "used_settings"]

SIMULATION_ONLY: dict[str, tuple[str, ...]] = {
    # nsd_mindeye2_study reads target_sessions, pretrain_sessions, n_val and n_test only
    "mindeye2": ("n_subjects", "n_voxels", "trials_per_session", "trials_per_run",
                 "test_repeats", "signal_psc", "noise_scale", "glm_hrf"),
    # brats_cases resamples to spacing_mm and crops; grid sizes only the synthesised heads
    "segresnet_vae": ("grid",),
    "swin_unetr": ("grid",),
    # brats_volumes keeps the cases as stored: no synthesis grid, spacing or thick slices
    "nnunet_extended": ("grid", "spacing_mm", "slice_factor"),
    "mri2speech": ("corpus",),
    "tongue_model": ("corpus",),
}  # fmt: skip


def used_settings(nb_id: str, settings: Mapping[str, Any], *, real: bool) -> dict[str, Any]:
    """``settings`` without the simulator-only keys of ``nb_id`` when ``real`` (else unchanged).

    Example:
        >>> used_settings("mindeye2", {"trials_per_session": 200, "target_sessions": 1}, real=True)
        {'target_sessions': 1}
    """
    drop = set(SIMULATION_ONLY.get(nb_id, ())) if real else set()
    return {k: v for k, v in settings.items() if k not in drop}
