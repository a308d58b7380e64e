"""The one-command GPU benchmark, end to end on the tiny stack on the CPU (``--dry-run``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
            assert 0 < step < image  # a step is a part of the whole call
    training = [cells for cells in rows if cells[0].strip().startswith("batch 2")]
    assert len(training) == 1 and float(training[0][1]) > 0
