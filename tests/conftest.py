"""Shared fixtures: the offline tiny stack and adapters built on it (random weights, CPU)."""

from __future__ import annotations

import pytest
import torch

from realisid.loading import tiny_adapter_config, tiny_stack
from realisid.models import IdentityAdapter, RealisIDAdapter


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
