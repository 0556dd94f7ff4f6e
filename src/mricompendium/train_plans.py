"""Training plans for ``python -m mricompendium.train``: one per notebook, from its parameters.

A plan function ``f(params, device) -> train.Plan`` builds the notebook's data exactly as the
notebook does (the same public functions, the same seeds) and one :class:`~mricompendium.train.Job`
per (method, training seed). Each job's ``setup`` calls the family's own training function under
:func:`~mricompendium.train.capture_fit`, so model initialisation, batches, loss, validation and
optimiser options are the notebook's, and its half-budget evaluation step becomes a kept
checkpoint. Where the notebook picks a rival on validation before training its extra seeds, the
plan trains every candidate at every seed (a superset: the notebook picks afterwards).

Phase 2 moves each plan into its family's experiment layer; ``selftest`` stays here: a small
network on synthetic data that checks a machine's DDP set-up in seconds
(``torchrun --nproc_per_node=2 -m mricompendium.train selftest``).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from mricompendium import provenance
from mricompendium.train import FitCall, Job, Plan, capture_fit

__all__ = [
    "brainclip",
    "cirim",
    "ddmr",
    "mri2speech",
    "registrator",
    "selftest",
    "selftest_model",
    "swin_unetr",
]


def _noop(model: nn.Module) -> None:
    """An ``on_step`` placeholder: marks a step whose checkpoint is kept."""


def _fingerprint(kind: str, description: str, path: str | None = None) -> str | None:
    return provenance.data_info(kind, description or "data", path or None)["fingerprint"]


def _job(method: str, seed: int, call: Callable[[], Any], config: dict, **kw: Any) -> Job:
    return Job(method, seed, functools.partial(capture_fit, call), config, **kw)


def cirim(p: dict[str, Any], device: torch.device) -> Plan:
    """S02 CIRIM: CIRIM, its rivals (all seeds) and the DC ablations (first seed)."""
    from mricompendium.experiments import reconstruction as rx
    from mricompendium.physics.masks import Sampling

    if p["data_path"]:
        data = rx.real_data(
            p["data_path"],
            p["data_format"],
            image_size=p["image_size"],
            num_coils=p["num_coils"],
            max_slices=p["max_slices"],
            n_test_volumes=p["n_test_volumes"],
            n_val=p["n_val"],
            device=device,
        )
    else:
        data = rx.simulated_data(
            image_size=p["image_size"],
            num_coils=p["num_coils"],
            snr=p["snr"],
            seed=p["seed"],
            n_test_template=p["n_test_template"],
            real_per_unit=p["real_per_unit"],
            n_val=p["n_val"],
            device=device,
        )
    seen = [Sampling.parse(s) for s in p["train_samplings"]]
    primary, rivals, ablations = "CIRIM", list(p["rivals"]), list(p["ablations"])
    if p["scale"] == "paper":
        configs = {m: rx.MODELS[m].config("paper") for m in [primary, *rivals, *ablations]}
    else:
        configs = {primary: rx.match_budget(primary, p["param_budget"])[0]}
        count = rx.match_budget(primary, p["param_budget"])[1]
        configs.update({m: rx.match_budget(m, count)[0] for m in [*rivals, *ablations]})
    val_fn = rx.validation_fn(data.val, seen, seed=10_000 + p["seed"] + 1, indices=data.val_idx)
    steps, half = p["train_steps"], p["train_steps"] // 2
    jobs = []
    for name in [primary, *rivals, *ablations]:
        for s in p["seeds"] if name not in ablations else p["seeds"][:1]:
            call = functools.partial(
                rx.train_model, name, data.train, seen, steps=steps, batch_size=p["batch_size"],
                lr=p["lr"], seed=s, device=device, overrides=configs[name],
                indices=rx.train_indices(data), loss_over_steps=p["loss_over_steps"],
                mask_pool=p["mask_pool"], val_fn=val_fn, val_every=p["val_every"],
                scheduler=None if p["lr_schedule"] == "none" else p["lr_schedule"],
                on_step={half: _noop} if half >= 1 and name not in ablations else None,
            )  # fmt: skip
            config = {"factory": "mricompendium.experiments.reconstruction:build_model",
                      "kwargs": {"name": name, **configs[name]}}  # fmt: skip
            jobs.append(_job(name, s, call, config, val_metric="ssim_brain"))
    fp = _fingerprint(data.kind, data.description, data.path)
    return Plan("cirim", jobs, fp, data.description, cpu_bf16=True)  # 1.1x (make bench)


def swin_unetr(p: dict[str, Any], device: torch.device) -> Plan:
    """S63 Swin UNETR: Swin UNETR, SegResNet and U-Net at every seed, 2D tumour slices."""
    from mricompendium.experiments.segmentation import tumour

    base = 100_000 * p["seed"]
    if p["data_path"]:
        kw = dict(dims=2, size=p["size"], spacing_mm=p["spacing_mm"])
        train = tumour.brats_cases(p["data_path"], max_cases=p["n_train"], skip=0, **kw)
        val = tumour.brats_cases(p["data_path"], max_cases=p["n_val"], skip=p["n_train"], **kw)
    else:
        kw = dict(dims=2, size=p["size"], spacing_mm=p["spacing_mm"], grid=p["grid"])
        train = tumour.synth_cases(p["n_train"], first_seed=base + 1_000, **kw)
        val = tumour.synth_cases(p["n_val"], first_seed=base + 2_000, **kw)
    width = {"Swin UNETR": p["swin_feature_size"], "SegResNet": p["segresnet_width"],
             "U-Net": p["unet_width"]}  # fmt: skip
    jobs = []
    for name, w in width.items():
        for s in p["seeds"]:
            # test=val: the test cases are scored after fit, which the capture never reaches
            call = functools.partial(
                tumour.train_and_evaluate, name, seed=s, train=train, val=val, test=val,
                steps=p["train_steps"], batch_size=p["batch_size"], lr=p["lr"], width=w,
                setting="tumour 2D", device=device, val_every=p["val_every"],
            )  # fmt: skip
            config = {
                "factory": "mricompendium.experiments.segmentation.tumour:build_model",
                "kwargs": {"name": name, "dims": 2, "size": p["size"], "width": w},
            }
            jobs.append(_job(name, s, call, config, val_metric="dice"))
    kind = "user" if p["data_path"] else "simulated"
    fp = _fingerprint(kind, train.describe(), p["data_path"])
    desc = f"training: {train.describe()}; validation: {len(val)} cases"
    return Plan("swin_unetr", jobs, fp, desc, cpu_bf16=True)  # 2.5x on a CPU (make bench)


def registrator(name: str, scale: str, overrides: dict[str, Any], loss: dict[str, Any]):
    """A registration network with its losses (the module a registration checkpoint holds)."""
    from mricompendium.experiments import registration as R

    return R.Registrator(R.build_model(name, scale, **overrides), R.LossConfig(**loss))


def ddmr(p: dict[str, Any], device: torch.device) -> Plan:
    """S08 DDMR: VoxelMorph without / with segmentation guidance (all seeds), and with learned
    weights (first seed), on synthetic brain pairs."""
    from mricompendium.experiments import registration as R
    from mricompendium.experiments.registration import protocols

    data = protocols.brain_pairs(p["image_size"], n_parcels=p["n_parcels"],
                                 amplitude_mm=p["amplitude_mm"],
                                 control_spacing_mm=p["control_spacing_mm"], seed=p["seed"],
                                 ndim=p["ndim"], template_mm=p["template_mm"])  # fmt: skip
    n_labels = data.anatomies.n_labels
    val = data.test.fixed_set(p["n_val"], seed=p["seed"] + 1000)
    batch_fn = functools.partial(data.train.batch, batch_size=p["batch_size"])
    sm, dw = p["smoothness"], p["dice_weight"]
    variants = {
        "VoxelMorph": R.LossConfig(smoothness=sm),
        "VoxelMorph+seg": R.LossConfig(smoothness=sm, dice=dw, n_labels=n_labels),
        "VoxelMorph+seg+UW": R.LossConfig(smoothness=sm, dice=dw, n_labels=n_labels,
                                          adaptive=True),
    }  # fmt: skip
    primary = ("VoxelMorph+seg", "VoxelMorph")
    overrides = {"ndim": p["ndim"]}
    jobs = []
    for name, cfg in variants.items():
        for s in p["seeds"] if name in primary else p["seeds"][:1]:
            call = functools.partial(
                R.train, "VoxelMorph", cfg, batch_fn, steps=p["train_steps"], lr=p["lr"], seed=s,
                device=device, val_pairs=val, val_every=p["val_every"],
                half_budget=_noop if name in primary else None, scale=p["scale"],
                overrides=overrides,
            )  # fmt: skip
            config = {
                "factory": "mricompendium.train_plans:registrator",
                "kwargs": {
                    "name": "VoxelMorph",
                    "scale": p["scale"],
                    "overrides": overrides,
                    "loss": dataclasses.asdict(cfg),
                },
            }
            jobs.append(_job(name, s, call, config, val_metric="dice"))
    desc = data.description(p["n_val"], p["n_test"])
    return Plan("ddmr", jobs, _fingerprint("simulated", desc), desc)


def brainclip(p: dict[str, Any], device: torch.device) -> Plan:
    """S81 BrainCLIP: the visual+text and visual-only mappers at every seed, simulated fMRI."""
    from mricompendium.data import fmri
    from mricompendium.experiments.fmri import brainclip as bc
    from mricompendium.experiments.fmri import brainclip_study

    if p["data_path"]:
        raise NotImplementedError("brainclip takes no real data yet (see its notebook)")
    embedding, noise = fmri.load_embedding(fmri.EmbeddingConfig()), fmri.fit_noise_model()
    sim = fmri.SimConfig(
        n_voxels=p["n_voxels"],
        trials_per_session=p["trials_per_session"],
        trials_per_run=p["trials_per_run"],
        signal_psc=p["signal_psc"],
        noise_scale=p["noise_scale"],
        glm_hrf=p["glm_hrf"],
        p_second=0.0,
    )
    study = brainclip_study(sim, embedding, noise, n_novel=p["n_novel"], n_train=p["n_train"],
                            n_val=p["n_val"], n_test_seen=p["n_test_seen"],
                            n_test_novel=p["n_test_novel"], test_repeats=p["test_repeats"],
                            seed=p["seed"])  # fmt: skip
    subj = study.subjects[study.target]
    kwargs = {"size": p["model_size"], "n_voxels": int(subj.n_voxels),
              "embed_dim": int(study.bank.image_emb.shape[1])}  # fmt: skip
    half = p["train_steps"] // 2
    jobs = []
    for s in p["seeds"]:
        for method, weight in (("BrainCLIP visual+text", p["text_weight"]),
                               ("BrainCLIP visual-only", 0.0)):  # fmt: skip
            cfg = bc.TrainConfig(steps=p["train_steps"], batch_size=p["batch_size"], lr=p["lr"],
                                 temperature=p["temperature"], text_weight=weight,
                                 val_every=p["val_every"])  # fmt: skip

            def call(cfg=cfg, s=s) -> Any:
                model = bc.build_mapper(seed=s, **kwargs)
                return bc.train_mapper(model, study, cfg, seed=s, device=device,
                                       on_step={half: _noop} if half >= 1 else None)  # fmt: skip

            config = {"factory": "mricompendium.experiments.fmri.brainclip:build_mapper",
                      "kwargs": {**kwargs, "seed": s}}  # fmt: skip
            jobs.append(_job(method, s, call, config, val_metric="val loss",
                             higher_is_better=False))  # fmt: skip
    context = {"study": study, "embedding": embedding}
    return Plan("brainclip", jobs, _fingerprint("simulated", study.description),
                study.description, context)  # fmt: skip


def mri2speech(p: dict[str, Any], device: torch.device) -> Plan:
    """S49 MRI2Mel: the network at every seed, on the simulated (or a user's) rtMRI corpus."""
    from mricompendium import paths
    from mricompendium.data import rtmri
    from mricompendium.data.rtmri import usc
    from mricompendium.experiments.speech import audio
    from mricompendium.experiments.speech import mri2speech as ms

    mel = audio.MelConfig(n_mels=p["n_mels"])
    if p["data_path"]:
        recs = usc.load_folder(paths.resolve(p["data_path"]), frame_rate_hz=p["data_frame_rate"])
        utterances, kind, desc = usc.to_utterances(recs), "user", f"rtMRI from {p['data_path']}"
    else:
        sim = rtmri.load_corpus(rtmri.default_path(p["corpus"]))
        utterances, kind, desc = sim.utterances, "simulated", sim.describe()
    split = ms.split_items(ms.prepare_items(utterances, mel, downsample=p["downsample"]))
    norm = ms.MelNorm.fit(split["train"])
    up = mel.frames_per_video_frame(utterances[0].frame_rate_hz)
    half = max(1, p["train_steps"] // 2)
    jobs = []
    for s in p["seeds"]:
        call = functools.partial(
            ms.fit_mri2mel, p["scale"], split, norm, upsample=up, steps=p["train_steps"], seed=s,
            lr=p["lr"], batch_size=p["batch_size"], crop=p["crop_frames"], device=device,
            val_every=p["val_every"], on_step={half: _noop},
        )  # fmt: skip
        config = {
            "factory": "mricompendium.experiments.speech.mri2speech:build_model",
            "kwargs": {"scale": p["scale"], "n_mels": len(norm.mean), "upsample": up},
        }
        jobs.append(_job("MRI2Mel", s, call, config, val_metric="mcd_db", higher_is_better=False))
    return Plan("mri2speech", jobs, _fingerprint(kind, desc, p["data_path"]), desc)


def selftest_model(width: int = 8, dropout: float = 0.1) -> nn.Module:
    """A small 2D CNN (no batch statistics) for :func:`selftest`."""
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), nn.GELU(), nn.Dropout(dropout),
        nn.Conv2d(width, width, 3, padding=1), nn.GELU(), nn.Conv2d(width, 1, 3, padding=1),
    )  # fmt: skip


def _selftest_batch(step: int, g: torch.Generator, *, batch_size: int, delay_s: float):
    if delay_s:
        time.sleep(delay_s)  # a slow data pipeline, to kill a run mid-training in tests
    x = torch.randn(batch_size, 1, 16, 16, generator=g)
    y = 0.5 * (x.roll(1, -1) + x.roll(-1, -2)) - 0.25 * x  # a fixed linear filter to learn
    return x, y


def _selftest_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch
    return nn.functional.mse_loss(model(x), y)


def selftest(p: dict[str, Any], device: torch.device) -> Plan:
    """A few seconds of training on synthetic filtering data: checks DDP, precision, resume.

    Parameters (``--set``): ``steps`` (20), ``batch_size`` (4, per shard), ``width`` (8),
    ``dropout`` (0.1), ``lr`` (0.01), ``seeds`` ([0]), ``step_delay_s`` (0).
    """
    width, dropout = int(p.get("width", 8)), float(p.get("dropout", 0.1))
    steps = int(p.get("steps", 20))
    batches = functools.partial(_selftest_batch, batch_size=int(p.get("batch_size", 4)),
                                delay_s=float(p.get("step_delay_s", 0.0)))  # fmt: skip
    val = _selftest_batch(0, torch.Generator().manual_seed(12345), batch_size=16, delay_s=0)

    def val_fn(model: nn.Module) -> float:
        dev = next(model.parameters()).device
        return float(_selftest_loss(model, (val[0].to(dev), val[1].to(dev))))

    def setup(seed: int) -> FitCall:
        torch.manual_seed(seed)
        model = selftest_model(width, dropout)
        kwargs = {
            "steps": steps,
            "lr": float(p.get("lr", 0.01)),
            "seed": seed,
            "val_fn": val_fn,
            "val_every": max(1, steps // 4),
            "on_step": {max(1, steps // 2): _noop},
        }
        return FitCall(model, batches, _selftest_loss, kwargs)

    config = {"factory": "mricompendium.train_plans:selftest_model",
              "kwargs": {"width": width, "dropout": dropout}}  # fmt: skip
    jobs = [Job("selftest", int(s), functools.partial(setup, int(s)), config, val_metric="mse",
                higher_is_better=False) for s in p.get("seeds", [0])]  # fmt: skip
    return Plan("selftest", jobs, None, "synthetic 16x16 filtering, drawn per step")
