"""The compendium's benchmark table: prints it and writes ``reports/benchmarks.json``.

Measures (wall time on this machine; run on a quiet machine):
- each notebook at its CI defaults (``parameters`` cell) and at its ``params.yaml`` size,
- a no-op ``dvc repro``,
- SENSE forward+adjoint and radial NUFFT forward+adjoint against SigPy's linops on the same data,
- our L1-wavelet CS against ``sigpy.mri.app.L1WaveletRecon`` (SSIM and time, same slices),
- our E2E-VarNet forward time against ``fastmri.models.VarNet`` (same weights and input),
- our SSIM against ``fastmri.evaluate.ssim`` (``benchmarks/ssim.py``, in fresh processes without
  ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE``, with ``OMP_NUM_THREADS=1`` and unset),
- fp32 against bf16 autocast per family (``benchmarks/precision.py``),
- the BLAS library and kernel in use (threadpoolctl), also in the JSON's ``blas``.

Usage: ``python benchmarks/run.py [--skip-notebooks] [--skip-dvc] [--params-size] [--ids a,b]``
(``--skip-notebooks`` and ``--skip-dvc`` keep those rows of the last run: ``--skip-dvc`` for a work
tree with uncommitted changes, where ``dvc repro`` would not be a no-op).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from mricompendium import metrics, paths, run  # noqa: E402
from mricompendium.data import load_slices  # noqa: E402
from mricompendium.experiments.reconstruction.cs import l1_wavelet_recon  # noqa: E402
from mricompendium.io import atomic_write_json  # noqa: E402
from mricompendium.physics import (  # noqa: E402
    RadialNufftOp,
    SenseOp,
    birdcage_maps,
    golden_angle_radial,
    poisson_disc_mask_2d,
)


def _median(fn, repeats: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _row(name: str, value: float, unit: str, note: str = "") -> dict:
    print(f"{name:60s} {value:10.4g} {unit:8s} {note}", flush=True)
    return {"name": name, "value": float(value), "unit": unit, "note": note}


def notebook_rows(ids: list[str], params_size: bool) -> list[dict]:
    """CI-size wall time by executing each notebook; params.yaml size from its last dvc run.

    With ``params_size`` the params.yaml-size run is repeated here (into a temporary folder);
    otherwise its time is the ``runtime_s`` the notebook measured under ``dvc repro``.
    """
    rows = []
    for nb_id in ids:
        nb = paths.notebook_path(nb_id)
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "jupyter",
                    "nbconvert",
                    "--to",
                    "notebook",
                    "--execute",
                    "--output",
                    str(Path(tmp) / "ci.ipynb"),
                    str(nb),
                ],
                check=True,
                capture_output=True,
                cwd=nb.parent,
            )
            rows.append(
                _row(
                    f"notebook {nb_id}: CI defaults (nbconvert, kernel start incl.)",
                    time.perf_counter() - t,
                    "s",
                    "budget 60 s",
                )
            )
            if params_size:
                t = time.perf_counter()
                run.run_notebook(nb_id, reports=Path(tmp) / "reports")
                rows.append(
                    _row(
                        f"notebook {nb_id}: params.yaml size (papermill)",
                        time.perf_counter() - t,
                        "s",
                        "measured here",
                    )
                )
        if not params_size:
            m = paths.REPORTS / "metrics" / f"{nb_id}.json"
            if m.exists():
                runtime = json.loads(m.read_text())["runtime_s"]
                rows.append(
                    _row(
                        f"notebook {nb_id}: params.yaml size (its dvc repro run)",
                        runtime,
                        "s",
                        "runtime_s of reports/metrics JSON",
                    )
                )
    return rows


def dvc_noop_row() -> dict:
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    t = time.perf_counter()
    out = subprocess.run(["dvc", "repro"], cwd=ROOT, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t
    ran = "Running stage" in out.stdout
    return _row("no-op dvc repro", dt, "s", "ERROR: a stage ran" if ran else "budget 5 s")


def operator_rows() -> list[dict]:
    import sigpy
    import sigpy.mri

    rows = []
    b, c, n = 8, 8, 128
    g = torch.Generator().manual_seed(0)
    x = torch.randn(b, n, n, dtype=torch.complex64, generator=g)
    maps = birdcage_maps(c, (n, n))
    mask = poisson_disc_mask_2d((n, n), acceleration=4, seed=0)
    op = SenseOp(maps, mask)
    ours = _median(lambda: op.A_adjoint(op.A(x)))
    xs, ms = x.numpy(), maps.numpy()
    sp = sigpy.mri.linop.Sense(ms, weights=mask[0, 0].numpy())
    theirs = _median(lambda: [sp.H(sp(xi)) for xi in xs])
    rows.append(_row(f"SENSE A^H A, {b}x{c} coils {n}^2: ours", ours, "s"))
    rows.append(_row("SENSE A^H A: SigPy / ours", theirs / ours, "ratio", f"SigPy {theirs:.3f} s"))

    traj = golden_angle_radial(64, 2 * n, seed=0)
    rop = RadialNufftOp(traj, (n, n), maps=maps)
    ours = _median(lambda: rop.A_adjoint(rop.A(x)))
    coord = traj.numpy() * n / (2 * np.pi)  # radians/pixel -> cycles per FOV (SigPy units)
    nu = sigpy.linop.NUFFT((c, n, n), coord)
    s_op = nu * sigpy.linop.Multiply((n, n), ms)
    theirs = _median(lambda: [s_op.H(s_op(xi)) for xi in xs])
    rows.append(_row(f"radial NUFFT A^H A, {b}x{c} coils {n}^2, 64 spokes: ours", ours, "s"))
    rows.append(
        _row("radial NUFFT A^H A: SigPy / ours", theirs / ours, "ratio", f"SigPy {theirs:.3f} s")
    )
    return rows


def cs_rows(n_slices: int = 4, lam: float = 0.01, iters: int = 50) -> list[dict]:
    import sigpy.mri.app

    s = load_slices("real", size=128)
    target = torch.as_tensor(s.images[:n_slices]).to(torch.complex64)
    maps = birdcage_maps(8, (128, 128))
    mask = poisson_disc_mask_2d((128, 128), acceleration=6, seed=1)
    op = SenseOp(maps, mask)
    g = torch.Generator().manual_seed(0)
    y = op.A(target)
    y = y + 0.02 * mask * torch.randn(y.shape, dtype=torch.complex64, generator=g)
    t = time.perf_counter()
    ours = l1_wavelet_recon(y, op, lam=lam, num_iters=iters).abs().numpy()
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    theirs = np.stack(
        [
            np.abs(
                sigpy.mri.app.L1WaveletRecon(
                    yi.numpy(), maps.numpy(), lamda=lam, max_iter=iters, show_pbar=False
                ).run()
            )
            for yi in y
        ]
    )
    t_theirs = time.perf_counter() - t
    ref = s.images[:n_slices]
    ssim = lambda p: float(metrics.evaluate(p, ref, protocol="slice_normalised")["ssim"].mean())  # noqa: E731
    note = f"{n_slices} real slices 128^2, 8 coils, Poisson 6x, lam {lam}, {iters} it"
    return [
        _row("CS L1-wavelet SSIM: ours", ssim(ours), "SSIM", note),
        _row("CS L1-wavelet SSIM: SigPy L1WaveletRecon", ssim(theirs), "SSIM", note),
        _row("CS L1-wavelet time: ours", t_ours, "s", note),
        _row("CS L1-wavelet time: SigPy", t_theirs, "s", note),
    ]


def varnet_rows() -> list[dict]:
    from varnet_vs_fastmri import benchmark

    r = benchmark(coils=8, size=128, cascades=3, repeats=5, threads=torch.get_num_threads())
    note = (
        f"8 coils 128^2, 3 cascades, params ours {r['params_ours']} = fastMRI {r['params_fastmri']}"
    )
    return [
        _row("E2E-VarNet forward: ours / fastmri", r["forward_ratio"], "ratio", note),
        _row(
            "E2E-VarNet forward+backward: ours / fastmri",
            r["forward_backward_ratio"],
            "ratio",
            note,
        ),
    ]


def ssim_rows() -> list[dict]:
    """Ours against fastmri.evaluate.ssim in fresh processes without the OpenBLAS overrides,
    with OMP_NUM_THREADS=1 and unset (``benchmarks/ssim.py``)."""
    from ssim import UNSET_FOR_REFERENCE, subprocess_rows

    unset = " and ".join(UNSET_FOR_REFERENCE)
    return [
        _row(f"SSIM {r['shape']}: ours / fastmri.evaluate.ssim "
             f"(OMP_NUM_THREADS={r['omp_num_threads']})", r["ratio"], "ratio",
             f"medians of 15 interleaved runs, float64, torch threads {r['threads']}, {unset} "
             f"unset, |diff| {r['abs_diff']:.1e}")
        for r in subprocess_rows()
    ]  # fmt: skip


def precision_rows() -> list[dict]:
    """fp32 vs bf16 autocast per family: step time and the metric at equal steps
    (``benchmarks/precision.py``)."""
    from precision import rows

    return [_row(r["name"], r["value"], r["unit"], r["note"]) for r in rows()]


def blas_info() -> list[dict]:
    """The BLAS/OpenMP libraries loaded (threadpoolctl), after numpy, scipy and torch."""
    import scipy.ndimage  # noqa: F401
    from threadpoolctl import threadpool_info

    keep = ("user_api", "internal_api", "version", "architecture", "num_threads",
            "threading_layer")  # fmt: skip
    return [{k: i.get(k) for k in keep} | {"library": Path(i["filepath"]).name}
            for i in threadpool_info()]  # fmt: skip


def blas_rows() -> list[dict]:
    """One row per BLAS library in use: its kernel (architecture) and threads."""
    rows = []
    for i in blas_info():
        if i["user_api"] != "blas":
            continue
        env = {k: os.environ.get(k, "unset") for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        note = (f"{i['internal_api']} {i['version']}, kernel {i['architecture']}, "
                f"{i['library']}; " + ", ".join(f"{k}={v}" for k, v in env.items()))  # fmt: skip
        name = f"BLAS in use: {i['internal_api']} {i['version']}"
        rows.append(_row(name, i["num_threads"], "threads", note))
    return rows


def registration_rows() -> list[dict]:
    """Registration time per pair (48x48, one thread): every method, classical / learned ratios."""
    from registration import registration_rows as rows

    return [_row(r["name"], r["value"], r["unit"], r["note"]) for r in rows(size=48, pairs=8)]


def family_rows() -> list[dict]:
    """Simulator throughputs of the families whose benchmark module gives plain rows."""
    from fmri import rows as fmri_rows
    from speech import rows as speech_rows
    from synth import synth_rows

    return [_row(r["name"], r["value"], r["unit"], r.get("note", ""))
            for r in [*synth_rows(), *fmri_rows(), *speech_rows()]]  # fmt: skip


def segmentation_rows(repeats: int = 3) -> list[dict]:
    """Tumour-family costs: one training step of each network at its notebook size, and our HD95
    against MONAI's on the same masks (the metric cross-check's cost)."""
    from monai.metrics import compute_hausdorff_distance

    from mricompendium.experiments.segmentation import common, tumour
    from mricompendium.metrics import segmentation as segmetrics
    from mricompendium.models.segmentation.dynamic_unet import DynamicUNet

    def reg(name, dims, size, width):
        return tumour.build_model(name, dims=dims, size=size, width=width)

    def dyn(residual):
        return DynamicUNet(spatial_dims=3, in_channels=4, out_channels=6, features=(8, 16, 32),
                           kernel_sizes=((3, 3, 1), 3, 3), strides=(1, (2, 2, 1), 2),
                           residual_encoder=residual)  # fmt: skip

    cube, slab, patch = (2, 4, 32, 32, 32), (4, 4, 64, 64), (2, 4, 24, 24, 16)
    nets = {  # name: (network, input shape, multilabel)
        "SegResNet 3D 32^3 b2 (segresnet_vae)": (reg("SegResNet", 3, 32, 8), cube, True),
        "SegResNet+VAE 3D 32^3 b2 (segresnet_vae)": (reg("SegResNet+VAE", 3, 32, 8), cube, True),
        "Swin UNETR 2D 64^2 b4 fs12 (swin_unetr)": (reg("Swin UNETR", 2, 64, 12), slab, True),
        "U-Net 2D 64^2 b4 (swin_unetr)": (reg("U-Net", 2, 64, 16), slab, True),
        "nnU-Net plain 3D 24x24x16 b2 (nnunet_extended)": (dyn(False), patch, False),
        "nnU-Net ResEnc 3D 24x24x16 b2 (nnunet_extended)": (dyn(True), patch, False),
    }
    rows = []
    for name, (net, shape, multilabel) in nets.items():
        loss = common.SegLoss(multilabel=multilabel)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        x = torch.randn(shape)
        if multilabel:
            y = (torch.rand(shape[0], 3, *shape[2:]) > 0.5).float()
        else:
            y = torch.randint(0, 6, (shape[0], 1, *shape[2:]))

        def step(net=net, loss=loss, opt=opt, x=x, y=y):
            opt.zero_grad()
            loss(net, (x, y)).backward()
            opt.step()

        rows.append(_row(f"train step: {name}", _median(step, repeats), "s", "Adam"))
    g = np.random.default_rng(0)
    a, b = g.random((2, 4, 48, 48, 24)) > 0.7
    sp = (4.0, 4.0, 8.0)
    ours = _median(lambda: segmetrics.hd95(a, b, sp), repeats)
    ta, tb = torch.as_tensor(a[:, None]).float(), torch.as_tensor(b[:, None]).float()
    theirs = _median(
        lambda: compute_hausdorff_distance(ta, tb, include_background=True, percentile=95,
                                           spacing=sp), repeats)  # fmt: skip
    rows.append(_row("HD95, 4 masks 48x48x24: ours", ours, "s"))
    rows.append(_row("HD95: MONAI / ours", theirs / ours, "ratio", f"MONAI {theirs:.3f} s"))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-notebooks", action="store_true")
    parser.add_argument("--skip-dvc", action="store_true", help="keep the last no-op dvc row")
    parser.add_argument(
        "--params-size",
        action="store_true",
        help="rerun each notebook at params.yaml size (else: its dvc run's time)",
    )
    parser.add_argument("--ids", default="", help="comma-separated notebook ids (default: all)")
    args = parser.parse_args()
    torch.manual_seed(0)
    ids = [i for i in args.ids.split(",") if i] or sorted(
        p.stem for p in paths.NOTEBOOKS.glob("*/*.ipynb")
    )
    rows = []
    if not args.skip_notebooks:
        rows += notebook_rows(ids, params_size=args.params_size)
    if not args.skip_dvc:
        rows.append(dvc_noop_row())
    rows += operator_rows() + cs_rows() + varnet_rows() + ssim_rows()
    rows += registration_rows() + segmentation_rows() + family_rows()
    rows += precision_rows() + blas_rows()
    out = paths.REPORTS / "benchmarks.json"
    old = json.loads(out.read_text()) if out.exists() else {}
    kept = [r for r in old.get("rows", [])  # rows of the last run that this one skipped
            if (args.skip_notebooks and r["name"].startswith("notebook"))
            or (args.skip_dvc and r["name"] == "no-op dvc repro")]  # fmt: skip
    rows = kept + rows
    atomic_write_json(
        out,
        {
            "command": "python benchmarks/run.py " + " ".join(sys.argv[1:]),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads, "
            f"{torch.backends.cpu.get_cpu_capability()} kernels)",
            "blas": blas_info(),
            "rows": rows,
        },
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
