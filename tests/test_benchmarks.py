"""Benchmarks end to end on the tiny stack on the CPU: the one-command GPU suite (``--dry-run``) and the
real-configuration run (``real_size.py --config tiny``) with its checks and its fp32 product kernels."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.checkpoint import checkpoint

from realisid.loading import tiny_adapter_config
from realisid.models import RealisIDAdapter
from realisid.pipeline import RealisIDPipeline

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- gpu-table:begin -->", "<!-- gpu-table:end -->"


def test_gpu_suite_dry_run_measures_every_case_and_splices_the_table(tmp_path):
    page = tmp_path / "performance.md"
    page.write_text(f"# Speed\n\nbefore\n{BEGIN}\nold table\n{END}\nafter\n")
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu.sh"), "--dry-run", "--splice", str(page)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    text = page.read_text()
    assert (
        text.startswith("# Speed\n\nbefore\n")
        and text.endswith(f"{END}\nafter\n")
        and "old table" not in text
    )
    table = text[text.index(BEGIN) + len(BEGIN) : text.index(END)]
    assert table.strip() in done.stdout
    assert "CPU (dry run: tiny stack)" in table
    rows = [
        line.split("|")[1:-1] for line in table.splitlines() if line.startswith("| ") and "---" not in line
    ]
    cases = {(cells[0].strip(), cells[1].strip(), cells[2].strip()) for cells in rows[1:] if len(cells) == 7}
    expected = {("SDXL", "–", offload) for offload in ("no", "yes")}
    for model in ("InstantID-style", "RealisID, paper-exact", "RealisID, efficient"):
        expected |= {(model, persons, offload) for persons in ("1", "2") for offload in ("no", "yes")}
    assert cases == expected
    for cells in rows:
        if len(cells) == 7 and cells[0].strip() != "model":
            step, image = float(cells[3]), float(cells[4])
            assert 0 <= step <= image  # a step is a part of the whole call (both as printed, rounded)
    training = [cells for cells in rows if cells[0].strip().startswith("batch 2")]
    assert len(training) == 1 and float(training[0][1]) >= 0


def run_real_size(*args: str, timeout: int) -> subprocess.CompletedProcess:
    """``benchmarks/real_size.py`` in a fresh process, so that the peak RSS it reports is its own."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    script = str(ROOT / "benchmarks" / "real_size.py")
    return subprocess.run(
        [sys.executable, script, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def tables(stdout: str) -> list[dict[str, list[str]]]:
    """Each Markdown table in ``stdout``, as ``{first cell: the other cells}`` of its body rows."""
    found: list[dict[str, list[str]]] = []
    current = None
    for line in stdout.splitlines():
        if not line.startswith("|"):
            current = None
        elif current is None:  # the header row
            current = {}
            found.append(current)
        elif not line.startswith("|-"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            current[cells[0]] = cells[1:]
    return found


def parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def real_size(request):
    """``benchmarks/real_size.py`` as a module."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    request.addfinalizer(lambda: sys.path.remove(str(ROOT / "benchmarks")))
    return importlib.import_module("real_size")


@pytest.mark.parametrize(
    ("args", "spliced"),
    [((), "docs/performance.md"), (("--dry-run",), None), (("--splice", "other.md"), "other.md")],
)
def test_gpu_script_splices_the_page_only_with_measured_numbers(args, spliced):
    """``gpu.sh`` adds ``--splice docs/performance.md`` unless it is a dry run or names its own page."""
    echoed = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu.sh"), *args],
        capture_output=True, text=True, env={**os.environ, "PYTHON": "echo"}, check=True,
    ).stdout.split()
    assert echoed[0] == "benchmarks/gpu.py"
    pages = [echoed[i + 1] for i, arg in enumerate(echoed) if arg == "--splice"]
    assert pages == ([spliced] if spliced else [])


def test_real_size_benchmark_checks_every_phase_on_the_tiny_stack(stack):
    done = run_real_size("--config", "tiny", timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    phases, counts = tables(done.stdout)
    names = list(phases)
    assert len(names) == 5 and names[0].startswith("build") and names[-1] == "whole run"
    for name in names[:-1]:
        seconds, peak_gib, _ = map(float, (cell.replace(",", "") for cell in phases[name]))
        assert seconds >= 0 and 0 < peak_gib <= float(phases["whole run"][1])
    checks = [int(phases[name][2]) for name in names]
    adapter = RealisIDAdapter.from_unet(stack.unet, tiny_adapter_config())
    assert checks[1] > 0 and checks[2] > 0 and sum(checks[:-1]) == checks[-1]
    assert checks[3] > len(list(adapter.parameters()))  # a checked gradient per trainable tensor, and more
    expected = {
        "U-Net": parameters(stack.unet),
        "image encoder": parameters(stack.image_encoder),
        "local branch": parameters(adapter.local_branch),
        "global branch": parameters(adapter.global_branch),
        "projection": parameters(adapter.projection),
    }
    assert {name: int(counts[name][0].replace(",", "")) for name in expected} == expected
    assert sum(int(c[0].replace(",", "")) for name, c in counts.items() if name != "all") == int(
        counts["all"][0].replace(",", "")
    )


def test_real_size_checks_stop_at_a_non_finite_branch_residual(real_size):
    stack, adapter = real_size.build("tiny", seed=0)
    with torch.no_grad():
        adapter.global_branch.net.controlnet_mid_block.weight.fill_(float("nan"))
    pipe = RealisIDPipeline(**vars(stack), adapter=adapter)
    pipe.set_progress_bar_config(disable=True)
    checks = real_size.Checks()
    with pytest.raises(real_size.CheckFailed, match=r"^global branch residual mid: holds NaN or infinity$"):
        real_size.sample(pipe, checks, real_size.SIZES["tiny"], seed=0)
    assert checks.count > 0  # everything before it passed: the ID tokens, the local branch, the other residuals


def test_fp32_products_are_bf16_products_summed_in_fp32_below_autograd(real_size):
    bf16 = torch.bfloat16
    g = torch.Generator().manual_seed(0)
    linear, conv = torch.nn.Linear(64, 32).to(bf16), torch.nn.Conv2d(4, 8, 3, padding=1).to(bf16)
    x = torch.randn(5, 64, generator=g).to(bf16).requires_grad_()
    image = torch.randn(2, 4, 6, 6, generator=g).to(bf16)
    with real_size.Fp32Products():
        y = checkpoint(linear, x, use_reentrant=False)  # recomputed in the backward pass, in the mode too
        z = conv(image)
        (y.float().square().sum() + z.float().sum()).backward()
        with pytest.raises(RuntimeError):  # bf16 mixed with fp32 fails as it does without the mode
            torch.nn.functional.linear(x.detach().float(), linear.weight)
    assert torch.equal(y, torch.nn.functional.linear(x.float(), linear.weight.float(), linear.bias.float()).to(bf16))
    assert torch.equal(z, torch.nn.functional.conv2d(image.float(), conv.weight.float(), conv.bias.float(), padding=1).to(bf16))
    for param in (x, linear.weight, linear.bias, conv.weight, conv.bias):
        assert param.grad.dtype == bf16 and param.grad.shape == param.shape
    expected = (2 * y.float()) @ linear.weight.float()
    torch.testing.assert_close(x.grad.float(), expected, rtol=2e-2, atol=1e-2)
