"""``realisid prepare --engine ray`` on a local Ray cluster of two one-CPU nodes: the shards and manifest
of the local engine, byte for byte, also when a worker is killed mid-shard and when a run resumes."""

from __future__ import annotations

import shutil
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest

from realisid.cli import main
from realisid.errors import RealisIDError
from realisid.training.cluster import ray_runner
from realisid.training.data import ShardTask
from realisid.training.samples import PrepareSettings
from realisid.training.sources import list_sources

from ._training_support import photo_folder

ray = pytest.importorskip("ray")

ARGS = ["--resolution", "256", "--crop-size", "96", "--landmark-size", "128", "--shard-size", "5"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return photo_folder(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="module")
def local(photos, tmp_path_factory):
    """The shards of the single-machine path."""
    out = tmp_path_factory.mktemp("local")
    assert main(["prepare", str(photos), "--out", str(out), *ARGS, "--workers", "1"]) == 0
    return out


@pytest.fixture(scope="module")
def cluster():
    """A head node and a worker node, one CPU each, on this machine; the tests' runs join it as one job
    (so its worker processes, models loaded, serve every run)."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    yield
    ray.shutdown()
    cluster.shutdown()


def files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


class WorkerKiller(threading.Thread):
    """SIGKILLs the first of this test's processes seen writing a ``.tar.tmp`` in ``out``: a Ray worker
    dying mid-shard."""

    def __init__(self, out: Path):
        super().__init__(daemon=True)
        self.out, self.killed, self.stop = out, None, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set() and self.killed is None:
            for tmp in self.out.glob("*.tar.tmp"):
                for process in psutil.Process().children(recursive=True):
                    try:
                        if any(Path(f.path) == tmp for f in process.open_files()):
                            process.send_signal(signal.SIGKILL)
                            self.killed = tmp.name
                    except psutil.Error:
                        pass
            time.sleep(0.01)


def test_killed_worker_is_rerun_and_shards_match_the_local_engine(photos, local, cluster, tmp_path):
    out = tmp_path / "ray"
    killer = WorkerKiller(out)
    killer.start()
    try:
        assert main(["prepare", str(photos), "--out", str(out), *ARGS, "--engine", "ray"]) == 0
    finally:
        killer.stop.set()
        killer.join()
    assert killer.killed is not None
    assert files(out) == files(local)  # every shard, its counts, the settings and manifest; no .tmp left


def test_ray_run_resumes_without_redoing_finished_shards(photos, local, cluster, tmp_path):
    out = tmp_path / "ray"
    shutil.copytree(local, out)
    (out / "shard-000001.tar").unlink()  # stopped while writing shard 1 ...
    (out / "shard-000001.json").unlink()
    (out / "shard-000001.tar.tmp").write_bytes(b"partial")
    done = {name: (out / name).stat().st_mtime_ns for name in ("shard-000000.tar", "shard-000002.tar")}
    assert main(["prepare", str(photos), "--out", str(out), *ARGS, "--engine", "ray"]) == 0
    assert {name: (out / name).stat().st_mtime_ns for name in done} == done
    assert files(out) == files(local)


def test_a_node_that_does_not_see_the_output_folder_stops_the_run(photos, cluster, tmp_path):
    task = ShardTask(0, 0, tuple(list_sources(photos)[:1]))
    with pytest.raises(RealisIDError, match="does not see .*prepare.json: --out must be a folder every node"):
        list(ray_runner()([task], tmp_path / "elsewhere", PrepareSettings()))
    assert not (tmp_path / "elsewhere").exists()


def test_engine_options_are_checked(photos, tmp_path, capsys):
    out = str(tmp_path / "o")
    assert main(["prepare", str(photos), "--out", out, *ARGS, "--ray-address", "auto"]) == 2
    assert main(["prepare", str(photos), "--out", out, *ARGS, "--engine", "ray", "--workers", "2"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and "needs --engine ray" in lines[0] and "--workers is for" in lines[1]
