"""CPU forward time of our E2E-VarNet against ``fastmri.models.VarNet`` (fastmri 0.3.0).

Both models get the same weights (via :func:`convert_fastmri_state_dict`) and the same masked
k-space; the script checks that the final coil k-space agrees, then times the forward pass
(inference, ``torch.no_grad``) and a forward+backward pass, interleaving the two models.

Run: ``python benchmarks/varnet_vs_fastmri.py [--coils 8 --size 128 --cascades 3 --threads 1]``.
Prints a dict: median seconds per call for each model and the ratio ours / fastMRI.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mricompendium.models.reconstruction.varnet import VarNet, convert_fastmri_state_dict


def _inputs(coils: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(1, 1, 1, size)
    mask[..., ::4] = 1
    c = size // 2
    mask[..., c - size // 32 : c + size // 32] = 1
    k = torch.randn(1, coils, size, size, dtype=torch.complex64, generator=g)
    return k * mask, mask


def _final_kspace_difference(ours, theirs, k: torch.Tensor, mask: torch.Tensor) -> float:
    """Relative max difference of the coil k-space after the last cascade."""
    k_real, mask_bool = torch.view_as_real(k), mask.bool().unsqueeze(-1)
    with torch.no_grad():
        maps_ours = ours.estimate_maps(k, mask)
        maps_theirs = theirs.sens_net(k_real, mask_bool)
        k_ours, k_theirs = k, k_real
        for block_ours, block_theirs in zip(ours.cascades, theirs.cascades, strict=True):
            k_ours = block_ours(k_ours, k, mask, maps_ours)
            k_theirs = block_theirs(k_theirs, k_real, mask_bool, maps_theirs)
    diff = (k_ours - torch.view_as_complex(k_theirs)).abs().max()
    return float(diff / k_ours.abs().max())


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def benchmark(
    *,
    coils: int = 8,
    size: int = 128,
    cascades: int = 3,
    sens_chans: int = 8,
    sens_pools: int = 4,
    chans: int = 18,
    pools: int = 4,
    repeats: int = 5,
    threads: int = 1,
    seed: int = 0,
) -> dict:
    """Median CPU seconds per forward (and forward+backward) for both models, and their ratios."""
    from fastmri.models import VarNet as FastMRIVarNet

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    cfg = dict(
        num_cascades=cascades,
        sens_chans=sens_chans,
        sens_pools=sens_pools,
        chans=chans,
        pools=pools,
    )
    theirs = FastMRIVarNet(**cfg)
    ours = VarNet(**cfg)
    ours.load_state_dict(convert_fastmri_state_dict(theirs.state_dict()))
    k, mask = _inputs(coils, size, seed)
    k_real, mask_bool = torch.view_as_real(k), mask.bool().unsqueeze(-1)

    def run_ours() -> torch.Tensor:
        return ours(k, mask).abs()

    def run_theirs() -> torch.Tensor:
        return theirs(k_real, mask_bool)

    result: dict = {"coils": coils, "size": size, "cascades": cascades, "threads": threads}
    result["params_ours"] = sum(p.numel() for p in ours.parameters())
    result["params_fastmri"] = sum(p.numel() for p in theirs.parameters())
    result["final_kspace_rel_diff"] = _final_kspace_difference(ours, theirs, k, mask)
    for mode in ("forward", "forward_backward"):
        t_ours, t_theirs = [], []
        for _ in range(repeats):  # interleave so that drifts in machine load hit both alike
            for fn, store in ((run_ours, t_ours), (run_theirs, t_theirs)):
                if mode == "forward":
                    with torch.no_grad():
                        store.append(_median_time(fn, 1))
                else:
                    store.append(_median_time(lambda fn=fn: fn().sum().backward(), 1))
        result[f"{mode}_s_ours"] = round(statistics.median(t_ours), 4)
        result[f"{mode}_s_fastmri"] = round(statistics.median(t_theirs), 4)
        result[f"{mode}_ratio"] = round(statistics.median(t_ours) / statistics.median(t_theirs), 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coils", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--cascades", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print(
        benchmark(
            coils=args.coils,
            size=args.size,
            cascades=args.cascades,
            repeats=args.repeats,
            threads=args.threads,
        )
    )


if __name__ == "__main__":
    main()
