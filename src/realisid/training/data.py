"""``realisid prepare``: a captioned photo collection → webdataset tar shards with a manifest.

Photo ``i`` of the sorted source list goes to shard ``i // shard_size``, so every machine computes
the same shards and a run may be split by shard range. Each shard is written by one worker process
to ``shard-NNNNNN.tar.tmp``, renamed when complete, and followed by ``shard-NNNNNN.json`` (its counts):
a shard with both files is done and is not redone after a crash. ``manifest.json`` sums the shards
present when a run ends. The worker processes are local by default; a :data:`ShardRunner` runs the same
shard tasks elsewhere (``realisid.training.cluster``: on a Ray cluster).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import multiprocessing
import os
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from ..errors import RealisIDError
from .samples import PrepareSettings, Skip, make_sample
from .sources import SourceItem, list_sources

MANIFEST = "manifest.json"
SETTINGS = "prepare.json"
FORMAT = "realisid-shards"


@dataclass(frozen=True)
class ShardTask:
    index: int
    first: int
    """Index of the shard's first photo in the source list (its sample keys count from here)."""
    items: tuple[SourceItem, ...]


ShardRunner = Callable[[list[ShardTask], Path, PrepareSettings], Iterator[dict]]
"""Writes each task's shard with :func:`write_shard` (wherever it runs); yields the counts as shards finish."""


def shard_name(index: int) -> str:
    return f"shard-{index:06d}"


def write_shard(task: ShardTask, out: Path, settings: PrepareSettings) -> dict:
    """Writes one shard atomically; returns its counts ``{"samples", "photos", "skipped": {reason: n}}``."""
    import webdataset as wds

    name = shard_name(task.index)
    skipped: Counter[str] = Counter()
    samples = 0
    tmp = out / f"{name}.tar.tmp"
    try:
        with wds.TarWriter(str(tmp), encoder=False, mtime=0.0) as sink:  # same photos, same bytes
            for offset, item in enumerate(task.items):
                try:
                    sink.write(make_sample(f"{task.first + offset:09d}", item, settings))
                    samples += 1
                except Skip as skip:
                    skipped[skip.reason] += 1
    except BaseException:  # a crash or an interrupt leaves no half-written shard behind
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out / f"{name}.tar")
    counts = {"samples": samples, "photos": len(task.items), "skipped": dict(sorted(skipped.items()))}
    (out / f"{name}.json").write_text(json.dumps(counts) + "\n")
    return counts


def prepare(
    source: str | Path,
    out: str | Path,
    settings: PrepareSettings | None = None,
    shard_size: int = 1000,
    shards: range | None = None,
    workers: int | None = None,
    progress: bool = True,
    runner: ShardRunner | None = None,
) -> dict:
    """Prepares the shards of ``shards`` (default all) that are not done yet; returns the manifest.

    ``runner`` writes the shards (default: :func:`run_local` with ``workers`` processes)."""
    out, settings = Path(out), settings or PrepareSettings()
    items = list_sources(source)
    total = -(-len(items) // shard_size)
    wanted = range(total) if shards is None else shards
    if not len(wanted) or wanted.start < 0 or wanted.stop > total:
        raise RealisIDError(
            f"shard range {wanted.start}:{wanted.stop} is not within the {total} shards (0:{total})"
        )
    out.mkdir(parents=True, exist_ok=True)
    _check_settings(out, settings, shard_size)
    tasks = [
        ShardTask(i, i * shard_size, tuple(items[i * shard_size : (i + 1) * shard_size]))
        for i in wanted
        if not _done(out, i)
    ]
    runner = runner or functools.partial(run_local, workers=workers)
    bar = tqdm(total=sum(len(t.items) for t in tasks), unit="photo", disable=not progress, desc="prepare")
    for counts in runner(tasks, out, settings):
        bar.update(counts["photos"])
    bar.close()
    return write_manifest(out, total)


def run_local(
    tasks: list[ShardTask], out: Path, settings: PrepareSettings, workers: int | None = None
) -> Iterator[dict]:
    """Writes the shards in ``workers`` local processes (default: all cores); yields counts as they finish."""
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks) or 1))
    if workers == 1:
        yield from (write_shard(task, out, settings) for task in tasks)
        return
    spawn = multiprocessing.get_context("spawn")  # MediaPipe graphs must not be forked
    with ProcessPoolExecutor(workers, mp_context=spawn) as pool:
        for future in as_completed([pool.submit(write_shard, t, out, settings) for t in tasks]):
            yield future.result()


def write_manifest(out: Path, total_shards: int) -> dict:
    """Sums the counts of every finished shard in ``out`` into ``manifest.json``."""
    shards, skipped = [], Counter()
    for stats in sorted(out.glob("shard-*.json")):
        counts = json.loads(stats.read_text())
        shards.append({"name": f"{stats.stem}.tar", "samples": counts["samples"], "photos": counts["photos"]})
        skipped.update(counts["skipped"])
    manifest = {
        "format": FORMAT,
        "settings": json.loads((out / SETTINGS).read_text())["settings"],
        "total_shards": total_shards,
        "samples": sum(s["samples"] for s in shards),
        "photos": sum(s["photos"] for s in shards),
        "skipped": dict(sorted(skipped.items())),
        "shards": shards,
    }
    tmp = out / f"{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(out / MANIFEST)
    return manifest


def _done(out: Path, index: int) -> bool:
    name = shard_name(index)
    return (out / f"{name}.tar").is_file() and (out / f"{name}.json").is_file()


def _check_settings(out: Path, settings: PrepareSettings, shard_size: int) -> None:
    """Records the settings on the first run; a later run into the same folder must match them."""
    record = {"settings": dataclasses.asdict(settings), "shard_size": shard_size}
    path = out / SETTINGS
    if path.is_file():
        previous = json.loads(path.read_text())
        if previous != record:
            raise RealisIDError(
                f"{out} was prepared with other settings ({previous}); use a new folder or the same settings"
            )
    else:
        path.write_text(json.dumps(record, indent=2) + "\n")
