"""Training checkpoints: atomic saves, ``latest`` resolution and a limit on how many are kept.

Layout under ``OUTPUT_DIR/checkpoints/``::

    step-00001000/
      adapter/               IdentityAdapter.save_pretrained (loads into RealisIDPipeline)
      trainer_state.json     {"step": 1000}
      data-0.json ...        each process's position in the data stream and its loss at each step so far
      model.safetensors, optimizer.bin, random_states_*.pkl   accelerate.save_state

A checkpoint is written to ``.tmp-step-N`` and renamed to ``step-N`` only once complete, so a crash
mid-save never leaves a broken checkpoint; ``latest`` is the highest complete ``step-N`` that can be
restored (a damaged one is reported and the one before it taken). The accelerate state (optimizer,
RNG) is pickled by accelerate: load only checkpoints you wrote.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import torch
from accelerate import Accelerator
from accelerate.utils import RNG_STATE_NAME
from accelerate.utils import load as load_pickle

from ..errors import CheckpointError

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^step-(\d{8})$")
TMP_PREFIX = ".tmp-"


class Restored(NamedTuple):
    """What a restored checkpoint gives a run back besides the accelerate state."""

    folder: Path
    step: int
    position: int
    """This process's position in the data stream."""
    losses: list[float]
    """This process's loss at each step up to ``step``."""


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def list_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints under ``root``, oldest first."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and _NAME.match(p.name))


def checkpoint_folder(spec: str) -> Path:
    """The training checkpoint folder ``spec`` (a one-line error for any other folder)."""
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
    losses: Sequence[float] = (),
) -> Path:
    """Writes checkpoint ``step`` atomically; every process calls it (and ``save_adapter``, which
    gathers sharded weights and writes only on the main process). Returns the final folder."""
    final, tmp = root / checkpoint_name(step), root / f"{TMP_PREFIX}{checkpoint_name(step)}"
    with writing(accelerator, tmp, f"checkpoint {final} (the ones before it are kept)"):
        if accelerator.is_main_process:
            for stale in root.glob(f"{TMP_PREFIX}*"):  # left by a crash mid-save
                shutil.rmtree(stale)
            tmp.mkdir(parents=True)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(tmp))
        data = {"position": data_position, "losses": list(losses)}
        _write_json(tmp / f"data-{accelerator.process_index}.json", data)
        save_adapter(tmp / "adapter")
        if accelerator.is_main_process:
            state = {"step": step, "num_processes": accelerator.num_processes}
            _write_json(tmp / "trainer_state.json", state)
        accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        for old in list_checkpoints(root)[:-keep]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


@contextmanager
def writing(accelerator: Accelerator, tmp: Path, what: str) -> Iterator[None]:
    """Writes ``what`` into ``tmp``; a failed write (disk full) removes ``tmp`` and is a one-line
    :class:`CheckpointError`."""
    try:
        yield
    except (OSError, RuntimeError) as error:
        if isinstance(error, RuntimeError) and "inline_container" not in str(error):
            raise  # torch.save's zip writer reports a failed write as a RuntimeError from inline_container.cc
        if accelerator.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointError(f"cannot write {what}: {_first_line(error)}") from None


def restore_checkpoint(accelerator: Accelerator, root: Path, spec: str) -> Restored | None:
    """Restores the checkpoint ``spec`` names: a folder, or ``latest``, the newest complete one under
    ``root``; ``None`` when ``latest`` finds none. With ``latest`` a damaged checkpoint is reported and
    the one before it restored; none restorable is a :class:`CheckpointError`."""
    if spec != "latest":
        path = checkpoint_folder(spec)
        return Restored(path, *load_checkpoint(accelerator, path))
    errors = []
    for path in reversed(list_checkpoints(root)):
        try:
            restored, error = load_checkpoint(accelerator, path), None
        except CheckpointError as raised:
            restored, error = None, raised
        damaged = accelerator.gather(torch.tensor([error is not None], device=accelerator.device))
        if not damaged.any():
            return Restored(path, *restored)
        errors.append(error or CheckpointError(f"{path} is damaged on another process"))
        logger.warning("cannot resume from %s, trying the checkpoint before it: %s", path, errors[-1])
    if errors:
        raise CheckpointError(f"no checkpoint in {root} can be restored; the newest: {errors[0]}")
    return None


def load_checkpoint(accelerator: Accelerator, path: Path) -> tuple[int, int, list[float]]:
    """Restores the accelerate state; returns ``(step, data position, losses)`` of this process. A damaged or
    missing file, RNG state included (the resume would not be exact), is a :class:`CheckpointError`."""
    state = _read_json(path / "trainer_state.json")
    if state.get("num_processes") != accelerator.num_processes:
        raise CheckpointError(
            f"{path} was written by {state.get('num_processes')} processes; resume it with the same number "
            f"(this run has {accelerator.num_processes})"
        )
    data = _read_json(path / f"data-{accelerator.process_index}.json")
    step, position, losses = state.get("step"), data.get("position"), data.get("losses", [])
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (step, position)):
        raise CheckpointError(f"{path}: step {step!r} and data position {position!r} must be whole numbers")
    if not (isinstance(losses, list) and all(isinstance(x, float | int) for x in losses)):
        raise CheckpointError(f"{path}: losses must be a list of numbers")
    random_states = path / f"{RNG_STATE_NAME}_{accelerator.process_index}.pkl"
    try:  # accelerate skips an unreadable RNG state with an INFO line; a damaged file fails in many ways
        load_pickle(random_states)
        accelerator.load_state(str(path))
    except Exception as error:  # noqa: BLE001
        raise CheckpointError(f"{path} is damaged: {type(error).__name__}: {_first_line(error)}") from None
    return step, position, [float(x) for x in losses]


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"cannot read {path}: {error}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} is not a JSON object")
    return data


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data) + "\n")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
