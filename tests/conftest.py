"""Unit tests use small tensors: one torch thread is faster and immune to CPU contention.

Under ``make test`` every process runs behind the network guard (``tests/netguard``): a
connection outside loopback is refused and recorded in ``$MRICOMPENDIUM_NETGUARD_LOG``, and the
session fails if any was recorded, even one that the code caught and ignored.
"""

import os
from pathlib import Path

import torch

torch.set_num_threads(1)
_NETLOG = os.environ.get("MRICOMPENDIUM_NETGUARD_LOG")


def pytest_sessionstart(session):
    if _NETLOG:
        Path(_NETLOG).unlink(missing_ok=True)


def pytest_sessionfinish(session, exitstatus):
    if _NETLOG and Path(_NETLOG).is_file() and Path(_NETLOG).read_text().strip():
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"network attempts recorded in {_NETLOG}:", red=True)
            reporter.write_line(Path(_NETLOG).read_text().strip())
        session.exitstatus = 1
