"""DDP and resumption, on this CPU: two gloo processes against one, a SIGKILLed run resumed.

Processes are forked (no new interpreter, no torch import: a second or two each). The selftest
plan (``mricompendium.train.selftest``: a small CNN with dropout, batches drawn per step)
trains through the same command line ``torchrun`` calls, ``mricompendium.train.main``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import time

import pytest
import torch

from mricompendium import checkpoints, train

STEPS = 8
FP32 = ["--precision", "fp32"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, world: int, port: int, argv: list[str], errors) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(world))  # fmt: skip
    torch.set_num_threads(1)
    errors.put((rank, train.main(argv)))


def _weights(root) -> dict[str, torch.Tensor]:
    return checkpoints.read_checkpoint(root / "selftest" / "seed0" / "last.pt")["model"]


def _max_rel_diff(a: dict, b: dict) -> float:
    return max(float((a[k] - b[k]).abs().max() / b[k].abs().max().clamp_min(1e-12)) for k in b)


@pytest.fixture
def fork():
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs fork")
    return multiprocessing.get_context("fork")


def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path, fork):
    args = ["selftest", *FP32, "--set", f"steps={STEPS}", "--set", "dropout=0.2"]
    one = tmp_path / "one"
    assert train.main([*args, "--shards", "2", "--checkpoint-dir", str(one)]) == 0
    two, errors, port = tmp_path / "two", fork.Queue(), _free_port()
    procs = [fork.Process(target=_rank_main,
                          args=(r, 2, port, [*args, "--checkpoint-dir", str(two)], errors))
             for r in range(2)]  # fmt: skip
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert sorted(errors.get(timeout=5) for _ in procs) == [(0, 0), (1, 0)]
    # Each process draws its own shard of the global batch (generator seeded by step and
    # shard) and reseeds dropout per (step, shard); gloo averages the two gradients, which
    # one process accumulates. Two addends commute exactly, so the weights agree to the bit
    # here; 1e-6 relative leaves room for another all-reduce order (more processes).
    assert _max_rel_diff(_weights(two), _weights(one)) <= 1e-6
    plan = json.loads((two / "plan.json").read_text())
    state = checkpoints.read_checkpoint(two / "selftest" / "seed0" / "last.pt")
    assert state["meta"]["world_size"] == 2 and state["step"] == STEPS
    assert plan["world_size"] == 2 and plan["jobs"][0]["shards"] == 2


def test_a_killed_run_resumes_from_its_checkpoint_to_the_same_weights(tmp_path, fork):
    args = ["selftest", *FP32, "--set", "steps=24", "--checkpoint-every", "4"]
    full = tmp_path / "full"
    assert train.main([*args, "--checkpoint-dir", str(full)]) == 0
    killed = tmp_path / "killed"
    slow = [*args, "--set", "step_delay_s=0.25", "--checkpoint-dir", str(killed)]
    proc = fork.Process(target=train.main, args=(slow,))
    proc.start()
    last = killed / "selftest" / "seed0" / "last.pt"
    deadline = time.monotonic() + 120
    while not last.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # mid-training, after the first checkpoint
    proc.join(timeout=30)
    assert proc.exitcode == -signal.SIGKILL
    at_kill = checkpoints.read_checkpoint(last)["step"]
    assert 4 <= at_kill < 24
    assert train.main([*args, "--checkpoint-dir", str(killed)]) == 0
    state = checkpoints.read_checkpoint(last)
    assert state["step"] == 24
    summary = json.loads((killed / "plan.json").read_text())
    assert [j["started_at_step"] for j in summary["jobs"]] == [at_kill]
    # Data (per-step generators), dropout (the global RNG state in the checkpoint), Adam and the
    # schedule are all restored: bit for bit on a CPU.
    a, b = state["model"], _weights(full)
    assert all(torch.equal(a[k], b[k]) for k in b)
    assert torch.equal(state["losses"], checkpoints.read_checkpoint(
        full / "selftest" / "seed0" / "last.pt")["losses"])  # fmt: skip
