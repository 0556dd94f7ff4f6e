"""Unit tests use small tensors: one torch thread is faster and immune to CPU contention."""

import torch

torch.set_num_threads(1)
