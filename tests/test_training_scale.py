"""Training at the real size: the shipped accelerate configs, 8-bit AdamW, and DeepSpeed ZeRO-2 on the CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from accelerate.commands.config.config_args import load_config_from_file

from realisid.errors import RealisIDError
from realisid.loading import tiny_adapter_config, tiny_stack
from realisid.models import RealisIDAdapter
from realisid.training import load_config, prepare
from realisid.training.loop import _optimizer
from realisid.training.samples import PrepareSettings
from realisid.training.step import AdapterTrainingModule

from ._training_support import photo_folder

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs" / "accelerate"


def tiny_module() -> AdapterTrainingModule:
    torch.manual_seed(0)
    return AdapterTrainingModule(RealisIDAdapter.from_unet(tiny_stack(0).unet, tiny_adapter_config()))


@pytest.mark.parametrize(
    ("name", "kind", "processes"),
    [("single_gpu", "NO", 1), ("ddp_8gpu", "MULTI_GPU", 8), ("deepspeed_zero2_8gpu", "DEEPSPEED", 8)],
)
def test_shipped_accelerate_configs_load(name, kind, processes):
    config = load_config_from_file(str(CONFIGS / f"{name}.yaml"))
    assert config.distributed_type == kind and config.num_processes == processes
    assert config.mixed_precision == "bf16"
    if kind == "DEEPSPEED":
        assert config.deepspeed_config["zero_stage"] == 2


def test_the_paper_recipe_config_loads():
    config = load_config(ROOT / "configs" / "train" / "paper_1024.yaml")
    assert (config.resolution, config.batch_size, config.mixed_precision) == (1024, 16, "bf16")
    assert config.gradient_checkpointing and config.optimizer == "adamw"


def test_adamw8bit_keeps_one_byte_states_and_trains():
    pytest.importorskip("bitsandbytes", reason="the scale extra: pip install 'realisid[scale]'")
    model = tiny_module()
    optimizer = _optimizer(load_config(overrides={"optimizer": "adamw8bit", "learning_rate": 1e-3}), model)
    assert type(optimizer).__name__ == "AdamW8bit"
    trained = [p for p in model.parameters() if p.requires_grad]
    large = next(p for p in trained if p.numel() >= 4096 and p.abs().sum() > 0)
    small = next(p for p in trained if p.numel() < 4096)  # bitsandbytes keeps fp32 states for these
    before = large.detach().clone()
    sum(p.square().sum() for p in trained).backward()
    optimizer.step()
    assert optimizer.state[large]["state1"].dtype == torch.uint8
    assert optimizer.state[large]["state2"].dtype == torch.uint8
    assert optimizer.state[small]["state1"].dtype == torch.float32
    assert (large - before).abs().max() > 1e-4  # lr 1e-3: every entry moves by about that much


def test_adamw8bit_without_bitsandbytes_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)
    monkeypatch.setitem(sys.modules, "bitsandbytes.optim", None)
    with pytest.raises(RealisIDError, match=r"^optimizer adamw8bit needs bitsandbytes: pip install"):
        _optimizer(load_config(overrides={"optimizer": "adamw8bit"}), tiny_module())


def test_unknown_optimizer_is_a_config_error():
    with pytest.raises(RealisIDError, match="optimizer must be one of adamw, adamw8bit"):
        load_config(overrides={"optimizer": "sgd"})


def test_deepspeed_zero2_with_8bit_adamw_takes_a_step_on_the_cpu(tmp_path):
    """The shipped ZeRO-2 config, one process (accelerate sets DeepSpeed up over several processes only on
    a GPU), bf16 as the paper's recipe, 8-bit AdamW under DeepSpeed's optimizer wrapper."""
    pytest.importorskip("deepspeed", reason="the scale extra: pip install 'realisid[scale]'")
    pytest.importorskip("bitsandbytes", reason="the scale extra: pip install 'realisid[scale]'")
    shards = tmp_path / "shards"
    prepare(
        photo_folder(tmp_path / "photos"),
        shards,
        PrepareSettings(resolution=64, landmark_size=128),
        4,
        workers=1,
        progress=False,
    )
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(CONFIGS / "deepspeed_zero2_8gpu.yaml"),
        "--num_processes",
        "1",
        "--main_process_port",
        "0",  # a free port: another test may be launching at the same time
        "-m",
        "realisid.cli",
        "train",
        "--tiny",
        "--data",
        str(shards),
        "--output-dir",
        str(tmp_path / "run"),
        "--max-steps",
        "1",
        "--batch-size",
        "2",
        "--checkpoint-every",
        "1",
        "--set",
        "resolution=64",
        "--set",
        "mixed_precision=bf16",
        "--set",
        "optimizer=adamw8bit",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    env.pop("ACCELERATE_USE_CPU", None)  # it would turn DeepSpeed off
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "trained 1 steps" in done.stdout
    checkpoint = tmp_path / "run" / "checkpoints" / "step-00000001"
    assert (checkpoint / "pytorch_model").is_dir()  # DeepSpeed's own sharded checkpoint layout
    adapter = RealisIDAdapter.from_pretrained(tmp_path / "run" / "adapter")
    assert adapter.config == tiny_adapter_config()
