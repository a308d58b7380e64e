"""Shard preparation on a Ray cluster: one Ray task per shard, written by the same :func:`write_shard`.

Shards, sample keys, skip counts and the manifest are those of the local engine, since each task is
a whole shard; Ray only decides where it runs. A task whose worker dies is run again from its first
photo (its ``.tar.tmp`` is rewritten), so a killed node costs the shards it was writing, and a stopped
run resumes like a local one. ``--out`` and the photos must be at the same path on every node.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

from ..errors import RealisIDError
from .data import SETTINGS, ShardRunner, ShardTask, write_shard
from .samples import PrepareSettings

RETRIES = 3
"""Times a shard is run again when its worker process or node dies."""


def ray_runner(address: str | None = None) -> ShardRunner:
    """A runner over the Ray cluster at ``address`` (``None``: the one already joined, else a new local one)."""
    try:
        import ray
    except ImportError:
        raise RealisIDError("--engine ray needs Ray: pip install 'realisid[cluster]'") from None

    def run(tasks: list[ShardTask], out: Path, settings: PrepareSettings) -> Iterator[dict]:
        joined = ray.is_initialized()
        if not joined:
            try:
                ray.init(address=address)
            except ConnectionError as error:
                raise RealisIDError(f"no Ray cluster at {address}: {error}") from None
        shard = ray.remote(_write_shard).options(num_cpus=1, max_retries=RETRIES)
        pending = [shard.remote(task, out, settings) for task in tasks]
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                try:
                    yield ray.get(done[0])
                except ray.exceptions.RayTaskError as error:
                    raise error.cause if isinstance(error.cause, RealisIDError) else error
        finally:
            for ref in pending:  # a rerun must not meet a task still writing its shard
                ray.cancel(ref, force=True)
            if not joined:
                ray.shutdown()

    return run


def _write_shard(task: ShardTask, out: Path, settings: PrepareSettings) -> dict:
    """:func:`write_shard` on a node, which must see the folder the driver prepares into."""
    if not (out / SETTINGS).is_file():
        raise RealisIDError(
            f"Ray node {socket.gethostname()} does not see {out / SETTINGS}: --out must be a folder every "
            "node mounts at the same path"
        )
    return write_shard(task, out, settings)
