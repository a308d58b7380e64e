"""How long the ``realisid`` executable takes: ``--help`` of every command, ``conditions`` on large
photos and a ``train --tiny`` smoke run on 8 photos prepared at the default 1024 px, each as a fresh
process (start-up included), with its peak resident memory.

    python benchmarks/cli.py [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import ImageOps

from realisid.cli import COMMANDS
from realisid.faces import samples
from realisid.training.config import TINY_DEFAULTS

CAPTION = "a photo of a person"
MEASURE = """\
import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(time.perf_counter() - start, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, code)
"""
"""Runs a command from a small interpreter, so that its peak memory is its own, not a fork of this one's."""


def run(*argv: str) -> tuple[float, float, float]:
    """``realisid ARGV`` in a fresh interpreter: ``(wall-clock s, CPU s, peak resident memory GB)``."""
    command = [sys.executable, "-c", MEASURE, sys.executable, "-m", "realisid.cli", *argv]
    wall, cpu, memory, code = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()
    if int(code):
        raise SystemExit(f"realisid {' '.join(argv)} failed")
    return float(wall), float(cpu), int(memory) / 2**20


def median_run(repeats: int, *argv: str) -> tuple[float, float, float]:
    runs = [run(*argv) for _ in range(repeats)]
    return tuple(statistics.median(values) for values in zip(*runs))


def eight_photos(folder: Path) -> Path:
    """Three public-domain portraits, their mirror images and two of them re-framed, with captions."""
    folder.mkdir(parents=True)
    portraits = [(samples.astronaut, samples.ASTRONAUT_FACE), (samples.grace_hopper, samples.GRACE_HOPPER_FACE),
                 (samples.cameraman, samples.CAMERAMAN_FACE)]
    photos = [photo() for photo, _ in portraits]
    photos += [ImageOps.mirror(photo) for photo in photos]
    photos += [samples.place_face(photo(), face, 0.2, (768, 768), (0.4, 0.4))[0] for photo, face in portraits[:2]]
    for index, photo in enumerate(photos):
        photo.save(folder / f"{index}.jpg", quality=92)
        (folder / f"{index}.txt").write_text(CAPTION + "\n")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs per timing (the median is shown)")
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS of the commands (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    load = os.getloadavg()[0]
    rows = []
    for command in ("", *(name.replace("_", "-") for name in COMMANDS)):
        rows.append((f"realisid {command} --help".replace("  ", " "),
                     *median_run(args.repeats, *([command] if command else []), "--help")))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for side in (1024, 2048):
            photo = tmp / f"astronaut-{side}.png"
            samples.astronaut().resize((side, side)).save(photo)
            rows.append((f"realisid conditions (photo {side}²)", *median_run(args.repeats, "conditions", str(photo))))
        photos, shards = eight_photos(tmp / "photos"), tmp / "shards"
        rows.append(("realisid prepare (8 photos, 1024 px)",
                     *run("prepare", str(photos), "--out", str(shards), "--workers", "1")))
        size = "{resolution} px, batch {batch_size}, {max_steps} steps, {cpu_threads} thread".format(**TINY_DEFAULTS)
        rows.append((f"realisid train --tiny (8 photos; {size})",
                     *run("train", "--tiny", "--data", str(shards), "--output-dir", str(tmp / "run"))))
    threads = os.environ.get("OMP_NUM_THREADS", "default")
    print(f"{os.cpu_count()} CPU cores (load average {load:.1f} at the start), {threads} threads; median of "
          f"{args.repeats} runs for --help and conditions\n")
    print("| command | wall clock (s) | CPU (s) | peak memory (GB) |\n|---|---|---|---|")
    for name, wall, cpu, memory in rows:
        print(f"| `{name}` | {wall:.2f} | {cpu:.2f} | {memory:.2f} |")


if __name__ == "__main__":
    main()
