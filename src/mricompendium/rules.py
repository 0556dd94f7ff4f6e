"""The rule of every notebook parameter: its range, choices or pattern, and list lengths.

A rule is found, for parameter ``name`` of notebook ``nb_id``, in :data:`RULES` under the key
``"<nb_id>.<name>"`` (a rule one notebook needs, where names collide or only the notebook's
comment says it) or else under the first ``fnmatch`` pattern matching ``name``; the parameter's
comment (``# ... in [lo, hi]`` or ``# ... one of a, b, c``) then overrides the range or the
choices it gives (:func:`mricompendium.parameters.rule_for`). Upper bounds are what the code
supports (the embedded slices are 128 pixels, MONAI's Swin UNETR needs a feature size that is a
multiple of 12 ...) or, where the code has no limit, a bound past the papers' own scale;
memory is checked separately, from the sizes (:mod:`mricompendium.memory`).

:data:`RELATIONS` holds the few rules that join two parameters (a crop inside the grid).
This module imports neither torch nor a family's code, so a bad value fails in a fraction of a
second; tests keep the copied constants (sampling patterns, model names) equal to their source.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CORPUS_SHAPE_SPEAKERS",
    "PRECISIONS",
    "RECON_MODELS",
    "RELATIONS",
    "RULES",
    "SAMPLING_PATTERNS",
    "Rule",
]


@dataclass(frozen=True)
class Rule:
    """A range (closed unless ``lo_open``), choices or a pattern; lists: item rule and length.

    Attributes:
        lo, hi: bounds of a number (or of each number of a list).
        lo_open: ``lo`` itself is excluded.
        choices: allowed strings.
        pattern: a regular expression a string must match in full.
        multiple_of: a number must be a multiple of it.
        min_len, max_len: bounds on a list's length.
        unique: a list's items must differ.
        path: a path that must exist when non-empty (checked by the caller).
    """

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    choices: tuple[str, ...] | None = None
    pattern: str | None = None
    multiple_of: int | None = None
    min_len: int | None = None
    max_len: int | None = None
    unique: bool = False
    path: bool = False

    def violation(self, value: Any) -> str | None:
        """Why ``value`` breaks the rule, or ``None`` (lists: length, then item by item)."""
        if isinstance(value, list | tuple):
            return self._list_violation(list(value))
        if isinstance(value, str):
            if self.choices and value not in self.choices:
                return f"{value!r} is not one of {', '.join(self.choices)}"
            if self.pattern and not re.fullmatch(self.pattern, value):
                return f"{value!r} does not match {self.pattern}"
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if not math.isfinite(value):
            return f"{value} is not a finite number"
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return f"{value} must be {'>' if self.lo_open else '>='} {_fmt(self.lo)}"
        if self.hi is not None and value > self.hi:
            return f"{value} must be <= {_fmt(self.hi)}"
        if self.multiple_of and value % self.multiple_of:
            return f"{value} must be a multiple of {self.multiple_of}"
        return None

    def _list_violation(self, items: list[Any]) -> str | None:
        if self.min_len is not None and len(items) < self.min_len:
            return f"{items!r} holds {len(items)} item(s), needs at least {self.min_len}"
        if self.max_len is not None and len(items) > self.max_len:
            return f"{items!r} holds {len(items)} items, at most {self.max_len}"
        if self.unique and len({repr(v) for v in items}) < len(items):
            return f"{items!r} repeats an item"
        return next((v for v in map(self.violation, items) if v), None)

    @property
    def complete(self) -> bool:
        """Whether the rule bounds a number on both sides or constrains a string."""
        numeric = self.lo is not None and self.hi is not None
        return numeric or bool(self.choices or self.pattern or self.path)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e16 else f"{x:g}"


# physics.masks.PATTERNS and experiments.reconstruction.registry.MODELS (tests keep them equal).
SAMPLING_PATTERNS = ("equispaced_1d", "random_1d", "poisson_2d", "gaussian_2d", "radial")
RECON_MODELS = ("U-Net", "E2E-VarNet", "E2E-VarNet (no DC)", "CascadeNet", "KIKI-Net",
                "LPD-Net", "RIM", "i-RIM", "CIRIM", "CIRIM (explicit DC)", "RecurrentVarNet",
                "XPDNet", "ReconResNet", "HyperVarNet", "Unrolled CNN")  # fmt: skip
REGIME_NAMES = ("Supervised", "Supervised+Aug", "Image-aug", "VORTEX", "Noise2Recon", "SSDU")
_SAMPLING = rf"({'|'.join(SAMPLING_PATTERNS)})@[0-9.]+x?(\s*,\s*(cf|calib)=[0-9.]+)*"
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # as mricompendium.amp.PRECISIONS (a test checks)
BIG = 1_000_000  # steps, cases: far past the papers' scale, short of "train until killed"


def _int(lo: float, hi: float, **kw: Any) -> Rule:
    return Rule(lo=lo, hi=hi, **kw)


def _list(lo: float, hi: float, min_len: int = 1, max_len: int = 64, **kw: Any) -> Rule:
    return Rule(lo=lo, hi=hi, min_len=min_len, max_len=max_len, **kw)


_SEEDS = _list(0, 2**31 - 1, max_len=100, unique=True)
_SUFFIX = Rule(pattern=r"[\w.+-]{1,64}")
_MODELS = Rule(choices=RECON_MODELS, min_len=1, max_len=len(RECON_MODELS), unique=True)

# Notebook-specific rules first (checked before the patterns below), then the patterns.
RULES: dict[str, Rule] = {
    # reconstruction: the embedded slices are 128 px (RELATIONS); real data up to 1024
    "cirim.rivals": _MODELS,
    "cirim.ablations": _MODELS,
    "multicoil_generalisation.rim_model": Rule(choices=RECON_MODELS),
    "multicoil_generalisation.baseline_model": Rule(choices=RECON_MODELS),
    "multicoil_generalisation.other_models": Rule(choices=RECON_MODELS, min_len=0, max_len=13),
    "*.train_coil_radius": _list(0.5, 10, 2, 2),
    "*.test_coil_radius": _list(0.5, 10, 2, 2),
    "reconresnet.lesion_strength": Rule(lo=-1, hi=10),
    "vortex.sampling": Rule(pattern=_SAMPLING),
    "vortex.augment_noise": _list(0, 1, 2, 2),
    "vortex.augment_motion": _list(0, 1, 2, 2),
    "vortex.augment_p": Rule(lo=0, hi=1, lo_open=True),
    "vortex.methods": Rule(choices=REGIME_NAMES, min_len=3, max_len=len(REGIME_NAMES), unique=True),
    "vortex.model": Rule(choices=RECON_MODELS),
    "noise2recon.sampling": Rule(pattern=_SAMPLING),
    "noise2recon.augment_noise": _list(0, 2, 2, 2),
    "noise2recon.augment_p": Rule(lo=0, hi=1, lo_open=True),
    "noise2recon.model": Rule(choices=RECON_MODELS),
    "inference_denoising.sampling": Rule(pattern=_SAMPLING),
    "inference_denoising.alpha_values": _list(0, 1, 1, 32),
    "inference_denoising.dc_values": _list(0, 2, 1, 32),
    "inference_denoising.select_levels": _list(0, 3, 2, 16),
    "inference_denoising.test_levels": _list(0, 3, 1, 16),
    "inference_denoising.augment_noise": _list(0, 3, 2, 2),
    "inference_denoising.augment_p": Rule(lo=0, hi=1, lo_open=True),
    "primal_dual_unet.ct_seeds": _SEEDS,
    "propeller.lam_grid": _list(0, 10, max_len=32, lo_open=True),
    "reconresnet.lesion_radius": _list(0, 0.5, 2, 2, lo_open=True),
    "recon_robustness.sampling": Rule(pattern=_SAMPLING),
    "recon_robustness.model": Rule(choices=RECON_MODELS),
    "recon_robustness.aug_shift": Rule(lo=0, hi=0.5),
    "recon_robustness.adv_epsilon": Rule(lo=0, lo_open=True, hi=1),
    "recon_robustness.test_angles": _list(-180, 180, max_len=72, unique=True),
    "recon_robustness.heldout_angle": Rule(lo=0, lo_open=True, hi=180),
    "recon_robustness.test_shift": Rule(lo=0, lo_open=True, hi=0.5),
    "recon_robustness.cutout_size": Rule(lo=0, lo_open=True, hi=0.5),
    "recon_robustness.cutout_centres": _list(0, 1, max_len=16),  # [row, col] pairs
    "recon_robustness.pgd_epsilons": _list(0, 1, max_len=16, lo_open=True),
    "recon_unlearning.sampling": Rule(pattern=_SAMPLING),
    "recon_unlearning.forget_path": Rule(path=True),
    "ambient_dps.train_sampling": Rule(pattern=_SAMPLING),
    "ambient_dps.test_sampling": Rule(pattern=_SAMPLING),
    "ambient_dps.low_sampling": Rule(pattern=_SAMPLING),
    "ambient_dps.sweep_sizes": _list(1, 1_000_000, min_len=0, max_len=2, unique=True),
    # registration (notebook-specific lists before the patterns they would match)
    "prostate_seq_reg.gas_hz": _list(0, 1000, 2, 2),  # [lowest, highest] field at the gas (Hz)
    "prostate_seq_reg.bspline_mesh_mm": _list(6, 96, 1, 16, unique=True),
    "breathing_model.amplitude_mm": _list(0, 60, 2, 2),  # [smallest, largest] diaphragm shift
    "breathing_model.factors": _list(2, 16, 1, 8, unique=True),
    "breathing_model.syn_variances": _list(0, 10, 1, 16),  # (update, total) pairs
    "*.ndim": _int(2, 3),
    "*.template_mm": Rule(lo=1, hi=10),
    "*.amplitude_mm": Rule(lo=0, hi=50),
    "*.control_spacing_mm": Rule(lo=1, hi=500),
    "*.fov_mm": Rule(lo=10, hi=1000),
    "*.poisson_ratio": Rule(lo=0, hi=0.49),  # 0.5 (incompressible) divides by zero
    "nestedmorph.nested_dims": _list(1, 1024, 4, 4),
    "*.demons_iterations": _int(1, 10_000),
    "*.timing_repeats": _int(1, 100),
    "*.runtime_margin_s": Rule(lo=0, hi=60),
    # segmentation
    "swin_unetr.size": _int(64, 512, multiple_of=32),  # Swin UNETR: 5 halvings of 2 px windows
    "swin_unetr.swin_feature_size": _int(12, 192, multiple_of=12),  # MONAI: a multiple of 12
    "segresnet_vae.crop": _int(16, 512, multiple_of=8),  # SegResNet halves three times
    "synthstrip.train_thick_mm": _list(1, 40, 2, 2),  # [thinnest, thickest] slice, mm
    "synthstrip.test_thick_mm": _list(1, 60, 2, 2),
    "*.shape": _list(16, 512, 3, 3),
    "*.grid": _int(16, 512),
    "*.features": _list(1, 4096, 2, 7),
    "*.patch": _int(16, 512),
    "*.reduction": _int(1, 64),
    "*.initial_voxels": _int(4096, 2**31 - 1),
    "*.max_patch_voxels": _int(4096, 2**31 - 1),
    "*.slice_factor": _int(1, 10),
    # fMRI decoding
    "*.trials_per_run": _int(2, 10_000),
    "*.trials_per_session": _int(2, 100_000),
    "*.test_repeats": _int(1, 100),
    "*.target_sessions": _int(1, 1000),
    "*.pretrain_sessions": _int(1, 1000),
    "*.signal_psc": Rule(lo=0, hi=100, lo_open=True),
    "*.noise_scale": Rule(lo=0, hi=100),
    "*.glm_hrf": Rule(choices=("library", "canonical")),
    "*.model_size": Rule(choices=("cpu", "paper")),
    "*.temperature": Rule(lo=1e-4, hi=10),
    "*.text_weight": Rule(lo=0, hi=1),
    "*.subject_l2": Rule(lo=0, hi=1e6),
    "*.ridge_alphas": _list(0, 1e12, lo_open=True),
    "mindeye2.data_format": Rule(choices=("nsd",)),
    "atommic.data_format": Rule(choices=("nifti_pairs", "skmtea", "calgary_campinas", "fastmri")),
    "atommic.n_train_volumes": _int(0, 100_000),  # 0: every training scan
    "mindeye2.n_subjects": _int(2, 64),  # the new subject and at least one to pretrain on
    "*.n_candidates": _int(2, BIG),
    "*.n_novel": _int(1, 19),  # of the simulator's 20 categories
    "*.n_show": _int(1, 64),
    # speech
    "*.corpus": Rule(choices=("ci", "full")),
    "*.crop_frames": _int(4, 10_000),
    "*.downsample": _int(1, 16),
    "*.n_mels": _int(8, 256),
    "*.ridge_components": _int(1, 10_000),
    "*.ridge_context": _int(0, 100),
    "*.ridge_alpha": Rule(lo=0, hi=1e12, lo_open=True),
    "*.gl_iter": _int(1, 10_000),
    "*.data_frame_rate": Rule(lo=1, hi=10_000),
    "*.min_units": _int(2, 10_000),
    "tongue_model.n_train_speakers": _int(2, 1000),
    "*.noise_mm": Rule(lo=0, hi=10),
    "*.head_shift_mm": Rule(lo=0, hi=50),
    "*.head_rot_deg": Rule(lo=0, hi=45),
    "*.max_anatomy_rank": _int(1, 100),
    "*.max_pose_rank": _int(1, 100),
    "*.pose_folds": _int(2, 100),
    "*.prior_strength": Rule(lo=0, hi=1e6, lo_open=True),
    "*.n_sparse": _int(1, 40),  # of the 40 tongue points
    # representation: lowest and highest levels are the two primaries' settings
    "neural_geometry.noise_levels": _list(0.01, 100, 2, 16, unique=True),
    "neural_geometry.cnn_noise_levels": _list(0, 100, 2, 16, unique=True),
    "neural_geometry.gt_lows": _list(0, 1, 1, 16, unique=True),
    "neural_geometry.gt_ups": _list(0, 1, 1, 16, unique=True),
    "neural_geometry.tune_net_seeds": _list(0, BIG, 2, 100, unique=True),
    "neural_geometry.test_net_seeds": _list(0, BIG, 2, 100, unique=True),
    "neural_geometry.net_widths": _list(1, 1024, 3, 3),  # three convolution blocks
    # every family
    "output_dir": Rule(pattern=r"[^\x00]*"),  # set by mricompendium.run, never by the user
    "*data_path": Rule(path=True),
    "checkpoint_dir": Rule(path=True),  # a folder python -m mricompendium.train wrote
    "checkpoint": Rule(path=True),  # one checkpoint file
    "precision": Rule(choices=PRECISIONS),
    "device": Rule(pattern=r"auto|cpu|mps|cuda(:\d+)?"),
    "pattern": Rule(choices=SAMPLING_PATTERNS),
    "*_samplings": Rule(pattern=_SAMPLING, min_len=1, max_len=32, unique=True),
    "*_setting": Rule(pattern=_SAMPLING),
    "data_format": Rule(choices=("fastmri", "calgary_campinas")),
    "scale": Rule(choices=("small", "paper")),
    "lr_schedule": Rule(choices=("cosine", "none")),
    "image_suffix": _SUFFIX,
    "label_suffix": _SUFFIX,
    "image_size": _int(8, 1024),
    "size": _int(8, 1024),
    "batch_size": _int(1, 4096),
    "eval_batch_size": _int(1, 4096),
    "lr": Rule(lo=0, lo_open=True, hi=10),
    "*_lr": Rule(lo=0, lo_open=True, hi=10),
    "snr": Rule(lo=0, lo_open=True, hi=1e6),
    "dropout": Rule(lo=0, hi=0.99),
    "*_fraction": Rule(lo=0, hi=1),
    "p_foreground": Rule(lo=0, hi=1),
    "foreground_p": Rule(lo=0, hi=1),
    "real_min_area": Rule(lo=0, hi=1),
    "budget_tolerance": Rule(lo=0, hi=10),
    "*_tolerance": Rule(lo=0, hi=1),
    "*_tol": Rule(lo=0, hi=1),
    "*accelerations": _list(1, 64, max_len=32, unique=True),
    "*_acceleration": Rule(lo=1, hi=64),
    "*_coils": _int(1, 1024),
    "seed": _int(0, 2**31 - 1),
    "seeds": _SEEDS,
    "torch_threads": _int(0, 256),
    "train_steps": _int(1, BIG),
    "*_steps": _int(1, BIG),
    "val_every": _int(1, BIG),
    "param_budget": _int(1000, 10**9),
    "num_steps": _int(1, 64),
    "num_layers": _int(1, 16),
    "num_iter": _int(1, 64),
    "num_primal": _int(1, 16),
    "num_blocks": _int(1, 64),
    "num_iterations": _int(1, 64),
    "num_*": _int(1, 1024),
    "*_iters": _int(1, 10_000),
    "mask_pool": _int(1, 10_000),
    "max_slices": _int(1, 10_000),
    "*_max_slices": _int(1, 10_000),
    "real_per_unit": _int(0, 1000),
    "slices_per_*": _int(1, 1000),
    "n_parcels": _int(1, 1000),
    "n_val": _int(1, BIG),
    "n_test_volumes": _int(1, 10_000),
    "n_*": _int(1, BIG),
    "chans": _int(1, 1024),
    "*width": _int(1, 1024),
    "base_features": _int(1, 1024),
    "cs_lambdas": _list(0, 10, max_len=32, lo_open=True),
    "smoothness": Rule(lo=0, hi=1e4),
    "*_weight": Rule(lo=0, hi=1e4),
    "smallest_effect": Rule(lo=0, hi=1),
    "smallest_effect_pixel": Rule(lo=0, hi=1),
    "noninferiority_margin": Rule(lo=0, hi=1),
    "spacing_mm": Rule(lo=0, lo_open=True, hi=20),  # a voxel size: 0 divides by zero
    "*_mm": Rule(lo=0, hi=100),
    "smallest_effect_db": Rule(lo=0, hi=100),
}


def _recon_embedded_size(p: Mapping[str, Any]) -> str | None:
    if not p.get("data_path") and isinstance(p.get("image_size"), int) and p["image_size"] > 128:
        return (
            f"image_size: {p['image_size']} must be <= 128 on the embedded slices "
            "(128 px); a larger size needs data_path"
        )
    return None


def _inside_grid(key: str) -> Callable[[Mapping[str, Any]], str | None]:
    def check(p: Mapping[str, Any]) -> str | None:
        size, grid = p.get(key), p.get("grid")
        if (
            isinstance(size, int)
            and isinstance(grid, int)
            and size > grid
            and not p.get("data_path")
        ):
            return f"{key}: {size} must be <= grid ({grid}): it is cut from the synthesised volume"
        return None

    return check


def _session_runs(p: Mapping[str, Any]) -> str | None:
    per_run, per_session = p.get("trials_per_run"), p.get("trials_per_session")
    if isinstance(per_run, int) and isinstance(per_session, int) and per_run > per_session:
        return f"trials_per_run: {per_run} must be <= trials_per_session ({per_session})"
    return None


# Shape speakers of each corpus preset (data.rtmri.build.PRESETS; a test keeps them equal).
CORPUS_SHAPE_SPEAKERS = {"ci": 8, "full": 16}


def _disjoint_nets(p: Mapping[str, Any]) -> str | None:
    tune, test = p.get("tune_net_seeds"), p.get("test_net_seeds")
    if (
        isinstance(tune, list)
        and isinstance(test, list)
        and set(map(repr, tune)) & set(map(repr, test))
    ):
        return (
            "test_net_seeds: must not share a seed with tune_net_seeds "
            "(the GT thresholds are chosen on those)"
        )
    return None


def _unseen_speakers(p: Mapping[str, Any]) -> str | None:
    n, corpus = p.get("n_train_speakers"), p.get("corpus")
    total = CORPUS_SHAPE_SPEAKERS.get(corpus) if isinstance(corpus, str) else None
    if isinstance(n, int) and total is not None and not p.get("data_path") and n > total - 2:
        return (
            f"n_train_speakers: {n} must be <= {total - 2}: the {corpus} corpus has {total} "
            "shape speakers and the rest are the unseen test speakers"
        )
    return None


def _sweep_below_train(p: Mapping[str, Any]) -> str | None:
    sizes, n = p.get("sweep_sizes"), p.get("n_train")
    if isinstance(sizes, list) and isinstance(n, int) and any(s >= n for s in sizes):
        return f"sweep_sizes: {sizes} must each be below n_train ({n}) (smaller training sets)"
    return None


def _atommic_size(p: Mapping[str, Any]) -> str | None:
    size = p.get("image_size")
    measured = p.get("data_path") and p.get("data_format") != "nifti_pairs"
    if isinstance(size, int) and not measured and not 16 <= size <= 64:
        return (
            f"image_size: {size} must be in [16, 64] for simulated k-space (object grid 128); "
            "a larger size needs data_path with measured k-space (data_format skmtea, "
            "calgary_campinas or fastmri)"
        )
    return None


RECON = ("cirim", "multicoil_generalisation", "reconresnet", "recurrentvarnet", "xpdnet")
RELATIONS: dict[str, tuple[Callable[[Mapping[str, Any]], str | None], ...]] = {
    **dict.fromkeys(RECON, (_recon_embedded_size,)),
    "swin_unetr": (_inside_grid("size"),),
    "segresnet_vae": (_inside_grid("crop"),),
    "mindeye2": (_session_runs,),
    "brainclip": (_session_runs,),
    "tongue_model": (_unseen_speakers,),
    "neural_geometry": (_disjoint_nets,),
    "ambient_dps": (_sweep_below_train,),
    "atommic": (_atommic_size,),
}
