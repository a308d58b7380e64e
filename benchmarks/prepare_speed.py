"""Photos per second per core of ``realisid prepare``: local worker processes and Ray tasks (CPU).

    python benchmarks/prepare_speed.py [--photos 32] [--cores N]

Prepares a full-body collection like CosmicMan's (1488×1255 photos, faces 1/8 to 1/12 of the long
edge) at the paper's settings (1024 px) with the ``realisid prepare`` command, each engine twice: on the
collection and on one photo per worker; the difference leaves out start-up (imports, models, the Ray
cluster). CPU seconds are those of the command and every process it starts (workers, Ray's daemons),
polled with psutil, so the per-core figure holds on a machine shared with other work; wall seconds
do not (the load average is printed with them).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from realisid.faces import samples

PORTRAITS = (
    (samples.astronaut, samples.ASTRONAUT_FACE),
    (samples.grace_hopper, samples.GRACE_HOPPER_FACE),
    (samples.cameraman, samples.CAMERAMAN_FACE),
)
SIZE = (1488, 1255)
"""CosmicMan-HQ's mean resolution."""
PHOTOS_2M = 2_000_000


def collection(root: Path, count: int) -> Path:
    """``count`` captioned full-body photos: three people at three face sizes, backdrops and positions."""
    root.mkdir(parents=True)
    positions = sorted(samples.POSITIONS)
    for i in range(count):
        photo, face = PORTRAITS[i % 3]
        relative, backdrop = (1 / 8, 1 / 10, 1 / 12)[i // 3 % 3], ("scene", "noise")[i % 2]
        image, _ = samples.composed(photo(), face, relative, backdrop, positions[i % len(positions)], SIZE)
        image.save(root / f"{i:05d}.jpg", quality=92)
        (root / f"{i:05d}.txt").write_text("a full-body photo of a person\n")
    return root


def timed(command: list[str]) -> tuple[float, float, str]:
    """Wall and CPU seconds (user + system, summed over the process tree) of ``command``; its output."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    root, cpu = psutil.Process(process.pid), {}
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            tree = []
        for member in tree:
            try:
                times = member.cpu_times()
                cpu[(member.pid, member.create_time())] = times.user + times.system
            except psutil.Error:
                pass
        time.sleep(0.05)
    output = process.stdout.read()
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{output}")
    return time.perf_counter() - started, sum(cpu.values()), output.strip().splitlines()[-1]


def rates(options: list[str], full: Path, tiny: Path, cores: int, out: Path) -> tuple[float, float, str]:
    """Photos per wall second and per CPU-second of ``realisid prepare`` with ``options``, start-up left
    out (``full`` in two shards a core, less ``tiny`` in one a photo); and the summary line of ``full``."""
    runs, photos = [], []
    for source in (full, tiny):
        photos.append(len(list(source.glob("*.jpg"))))
        shard_size = max(1, photos[-1] // (2 * cores)) if source == full else 1
        command = ["prepare", str(source), "--out", str(out / source.name), "--shard-size", str(shard_size)]
        runs.append(timed([sys.executable, "-m", "realisid.cli", *command, *options]))
    (wall, cpu, summary), (tiny_wall, tiny_cpu, _) = runs
    counted = photos[0] - photos[1]
    return counted / (wall - tiny_wall), counted / (cpu - tiny_cpu), summary.split(": ", 1)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=32)
    parser.add_argument("--cores", type=int, default=os.cpu_count())
    args = parser.parse_args()
    engines = {  # name: (worker processes, options)
        "local, 1 process": (1, ["--workers", "1"]),
        f"local, {args.cores} processes": (args.cores, ["--workers", str(args.cores)]),
        f"ray, local cluster of {args.cores} CPUs": (args.cores, ["--engine", "ray"]),
    }
    measured = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        full, tiny = collection(root / "full", args.photos), collection(root / "tiny", args.cores)
        for i, (name, (_, options)) in enumerate(engines.items()):
            measured[name] = rates(options, full, tiny, args.cores, root / f"out{i}")
        shard_bytes = sum(path.stat().st_size for path in (root / "out0" / "full").glob("*.tar"))
    _, ray_rate, summary = measured[f"ray, local cluster of {args.cores} CPUs"]
    print(f"{summary}; {SIZE[0]}×{SIZE[1]} photos at 1024 px, load average {os.getloadavg()[0]:.1f}\n")
    print("| engine | photos/s (wall) | photos/s per worker (wall) | photos per CPU-second |")
    print("|---|---|---|---|")
    for name, (wall, cpu, _) in measured.items():
        print(f"| {name} | {wall:.2f} | {wall / engines[name][0]:.2f} | {cpu:.2f} |")
    print(f"\nshards: {shard_bytes / args.photos / 2**20:.2f} MiB per photo")
    for cores in (16, 64, 256):
        hours = PHOTOS_2M / ray_rate / cores / 3600
        print(f"2M photos with Ray on {cores} cores at {ray_rate:.2f} photos per CPU-second: {hours:.1f} h")


if __name__ == "__main__":
    main()
