"""What the executable lets through to the terminal: diffusers' empty float32 notice is dropped, real warnings stay."""

from __future__ import annotations

import logging

import torch
from diffusers import AutoencoderKL

from realisid.commands.console import EMPTY_FLOAT32_NOTICE, quiet_model_loading


def test_a_dtype_cast_logs_no_empty_float32_notice_but_other_warnings_stay(caplog):
    vae = AutoencoderKL(block_out_channels=(4,), norm_num_groups=4, latent_channels=4)
    vae.to(dtype=torch.float32)
    assert EMPTY_FLOAT32_NOTICE in caplog.text  # the notice this filter is for still exists

    caplog.clear()
    quiet_model_loading()
    vae.to(dtype=torch.float32)
    logging.getLogger("diffusers.models.modeling_utils").warning("a real warning")
    assert EMPTY_FLOAT32_NOTICE not in caplog.text and "a real warning" in caplog.text
    quiet_model_loading()  # once more: still one filter
    filters = logging.getLogger("diffusers.models.modeling_utils").filters
    assert sum(getattr(f, "__module__", "") == "realisid.commands.console" for f in filters) == 1
