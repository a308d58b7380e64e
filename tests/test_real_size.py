"""The real configuration on the CPU: ``benchmarks/real_size.py`` end to end (slow: opt in with
``REALISID_SLOW=1``), and the stacks built on ``meta`` that it starts from."""

from __future__ import annotations

import os

import pytest
import torch
from diffusers import DDIMScheduler

from realisid.loading import sdxl_meta_stack, tiny_stack
from realisid.models import RealisIDAdapter
from realisid.presets import SDXL_SCHEDULER

from .test_benchmarks import parameters, run_real_size, tables

GB = 1e9


def test_a_stack_built_on_meta_samples_with_real_scheduler_tables():
    with torch.device("meta"):
        stack = tiny_stack()
    assert stack.unet.device.type == "meta"
    scheduler, expected = stack.scheduler, DDIMScheduler(**SDXL_SCHEDULER)
    assert scheduler.alphas_cumprod.device.type == "cpu"
    assert torch.equal(scheduler.alphas_cumprod, expected.alphas_cumprod)
    scheduler.set_timesteps(2)
    latents = torch.ones(1, 4, 2, 2)
    step = scheduler.step(torch.zeros_like(latents), scheduler.timesteps[0], latents).prev_sample
    assert torch.isfinite(step).all() and not torch.equal(step, latents)


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("REALISID_SLOW") != "1", reason="the real configuration (7 min, 15 GiB on 2 cores): REALISID_SLOW=1"
)
def test_real_configuration_samples_and_trains_on_the_cpu_within_20_gb():
    done = run_real_size("--config", "real", timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]
    print(done.stdout)  # the table, for the log (pytest -s)
    phases, counts = tables(done.stdout)
    checks = [int(cells[2]) for cells in phases.values()]  # build, sampling, inputs, step, whole run
    assert len(checks) == 5 and all(n > 0 for n in checks[1:])
    assert float(phases["whole run"][1]) * 2**30 < 20 * GB
    stack = sdxl_meta_stack()
    with torch.device("meta"):
        adapter = RealisIDAdapter.from_unet(stack.unet)
    built = [stack.unet, stack.vae, stack.text_encoder, stack.text_encoder_2, stack.image_encoder, adapter]
    assert int(counts["all"][0].replace(",", "")) == sum(map(parameters, built))
