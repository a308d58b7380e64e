"""Shared fixtures: the offline tiny stack and adapters built on it (random weights, CPU)."""

from __future__ import annotations

import os

# pytest-xdist's workers share the cores: each gets its share of threads, so two 2-thread processes
# on two cores don't thrash (set before torch starts; subprocesses inherit it).
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
_THREADS = max(1, _CORES // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
os.environ["OMP_NUM_THREADS"] = str(_THREADS)

import pytest
import torch

from realisid.loading import tiny_adapter_config, tiny_stack
from realisid.models import IdentityAdapter, RealisIDAdapter

torch.set_num_threads(_THREADS)

# The modules holding the suite's longest tests, longest first: collected first, so workers start
# them at once instead of one worker finishing the run alone with one of them.
LONGEST_FIRST = ("test_toy_study.py", "test_toy_recipe.py", "test_training_scale.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def stack():
    return tiny_stack(seed=0)


@pytest.fixture
def fresh_adapter(stack):
    """An adapter as training starts: branches copied from the U-Net, zero output convolutions."""
    torch.manual_seed(1)
    return RealisIDAdapter.from_unet(stack.unet, tiny_adapter_config()).eval()


def perturb_zero_convs(adapter: IdentityAdapter, seed: int = 0, std: float = 0.05) -> IdentityAdapter:
    """Gives every zero convolution of every branch random weights, so residuals are non-zero."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for branch in adapter.branches.values():
            net = branch.net
            zero_convs = [*net.controlnet_down_blocks, net.controlnet_mid_block, net.controlnet_cond_embedding.conv_out]
            for module in zero_convs:
                for param in module.parameters():
                    param.copy_(torch.randn(param.shape, generator=generator) * std)
    return adapter


@pytest.fixture
def trained_adapter(fresh_adapter):
    """A stand-in for a trained adapter: fresh branches with perturbed zero convolutions."""
    return perturb_zero_convs(fresh_adapter)
