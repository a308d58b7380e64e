"""Training checkpoints: atomic saves, ``latest`` resolution and a limit on how many are kept.

Layout under ``OUTPUT_DIR/checkpoints/``::

    step-00001000/
      adapter/               IdentityAdapter.save_pretrained (loads into RealisIDPipeline)
      trainer_state.json     {"step": 1000}
      data-0.json ...        each process's position in the data stream
      model.safetensors, optimizer.bin, random_states_*.pkl   accelerate.save_state

A checkpoint is written to ``.tmp-step-N`` and renamed to ``step-N`` only once complete, so a crash
mid-save never leaves a broken checkpoint; ``latest`` is the highest complete ``step-N``. The
accelerate state (optimizer, RNG) is pickled by accelerate: load only checkpoints you wrote.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from accelerate import Accelerator

from ..errors import CheckpointError

_NAME = re.compile(r"^step-(\d{8})$")
TMP_PREFIX = ".tmp-"


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def list_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints under ``root``, oldest first."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and _NAME.match(p.name))


def resolve_checkpoint(root: Path, spec: str) -> Path | None:
    """``latest`` → the newest complete checkpoint (``None`` if there is none); else the folder ``spec``."""
    if spec == "latest":
        found = list_checkpoints(root)
        return found[-1] if found else None
    path = Path(spec)
    if not (path / "trainer_state.json").is_file():
        raise CheckpointError(f"{spec!r} is not a training checkpoint (no trainer_state.json)")
    return path


def save_checkpoint(
    accelerator: Accelerator,
    root: Path,
    step: int,
    data_position: int,
    save_adapter: Callable[[Path], None],
    keep: int,
) -> Path:
    """Writes checkpoint ``step`` atomically; every process calls it (and ``save_adapter``, which
    gathers sharded weights and writes only on the main process). Returns the final folder."""
    final, tmp = root / checkpoint_name(step), root / f"{TMP_PREFIX}{checkpoint_name(step)}"
    if accelerator.is_main_process:
        for stale in root.glob(f"{TMP_PREFIX}*"):  # left by a crash mid-save
            shutil.rmtree(stale)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    _write_json(tmp / f"data-{accelerator.process_index}.json", {"position": data_position})
    save_adapter(tmp / "adapter")
    if accelerator.is_main_process:
        _write_json(tmp / "trainer_state.json", {"step": step, "num_processes": accelerator.num_processes})
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        for old in list_checkpoints(root)[:-keep]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator: Accelerator, path: Path) -> tuple[int, int]:
    """Restores the accelerate state; returns ``(step, this process's data position)``."""
    state = json.loads((path / "trainer_state.json").read_text())
    if state.get("num_processes") != accelerator.num_processes:
        raise CheckpointError(
            f"{path} was written by {state.get('num_processes')} processes; resume it with the same number "
            f"(this run has {accelerator.num_processes})"
        )
    accelerator.load_state(str(path))
    position = json.loads((path / f"data-{accelerator.process_index}.json").read_text())["position"]
    return int(state["step"]), int(position)


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data) + "\n")
