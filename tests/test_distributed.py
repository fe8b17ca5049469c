"""Many scenes on a Dask cluster: the bytes of a single-process run, done scenes skipped, a broken
scene named while the rest finish, the model loaded once per worker with its share of the cores.

Clusters are Dask's own, on 127.0.0.1 only, without a dashboard, and gone when the test ends:
``--cluster local`` starts one for its run; the module's ``cluster`` fixture is a running one,
reached by address as a shared cluster would be (the model then travels as bytes).
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys

import pytest
from detect_fixtures import paint_vessel
from PIL import Image
from test_detect import sea, write_scene

from tankerwatch.infer import Detector
from tankerwatch.infer.cli import main
from tankerwatch.infer.core.errors import ConfigError
from tankerwatch.infer.runtime import batch

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    """A running two-worker cluster (one thread each) for the module; its address is what tests pass."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=logging.CRITICAL) as local:
        assert local.scheduler_address.startswith("tcp://127.0.0.1:")
        yield local


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """A folder of four scenes that exercise different paths (several tiles, resampling, no
    georeferencing) and one broken file."""
    folder = tmp_path_factory.mktemp("scenes")
    port = sea(560, 1250)
    for box, p_loaded in (([310.3, 200.6, 36.0, 8.0, 0.35], 0.92), ([700.2, 420.7, 30.0, 7.0, -1.1], 0.08),
                          ([1050.6, 130.2, 40.0, 9.0, 1.4], 0.5)):
        paint_vessel(port, box, p_loaded=p_loaded)
    write_scene(folder / "a_port.tif", port)
    fine = sea(900, 1600)
    paint_vessel(fine, [801.0, 402.0, 70.0, 16.0, 0.6], p_loaded=0.95)  # 0.5 m: resampled to 1 m
    write_scene(folder / "b_fine.tif", fine, gsd=0.5)
    plain = sea(200, 240)
    paint_vessel(plain, [120.3, 80.6, 30.0, 8.0, 0.2], p_other=1.0)
    Image.fromarray(plain.transpose(1, 2, 0)).save(folder / "c_plain.png")
    (folder / "d_broken.tif").write_text("not an image\n")
    calm = sea(300, 300)
    write_scene(folder / "e_calm.tif", calm)
    return folder


def files_of(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_local_cluster_writes_the_bytes_of_one_process_and_names_the_broken_scene(blob_model, scenes, tmp_path,
                                                                                      capsys):
    assert main(["detect", str(blob_model), str(scenes), "-o", str(tmp_path / "one"), "--cluster", "none"]) == 1
    alone = capsys.readouterr()
    assert main(["detect", str(blob_model), str(scenes), "-o", str(tmp_path / "many"), "--cluster", "local",
                 "--workers", "2"]) == 1
    spread = capsys.readouterr()
    assert "5 scenes on a local Dask cluster: 2 workers x 1 onnxruntime thread" in spread.err
    one, many = files_of(tmp_path / "one"), files_of(tmp_path / "many")
    assert len(one) >= 12 and "a_port.geojson" in one and not any(name.startswith("d_broken") for name in one)
    assert sorted(one) == sorted(many)
    different = [name for name in one if one[name] != many[name]]
    assert not different
    # The same lines in the same order, whichever worker finished first.
    assert spread.out == alone.out.replace(str(tmp_path / "one"), str(tmp_path / "many"))
    for err in (alone.err, spread.err):
        skipped = [line for line in err.splitlines() if line.startswith("skipped")]
        assert len(skipped) == 1 and "d_broken.tif" in skipped[0] and "not an image" in skipped[0]
        assert "1 of 5 scenes failed" in err
        assert "note: b_fine.tif: resampling" in err and "note: c_plain.png: GSD unknown" in err
    assert "Traceback" not in spread.err and "distributed" not in spread.err


def test_a_rerun_on_a_running_cluster_does_only_what_is_left(blob_model, scenes, cluster, tmp_path, monkeypatch):
    """...with the workers' results written here, as when they do not share this machine's disk
    (the local-cluster test has them write the files themselves)."""
    from tankerwatch.infer.runtime import distributed as engine

    monkeypatch.setattr(engine, "workers_see", lambda client, out_dir: False)
    out = tmp_path / "out"
    detector = Detector(blob_model, device="cpu", threads=1)
    (first,) = detector.detect_many([scenes / "a_port.tif"], out, cluster="none")
    assert first.status == batch.DONE and first.result.summary().startswith("a_port.tif: 3 vessels")
    done_before = {name: (out / name).stat().st_mtime_ns for name in files_of(out)}
    outcomes = detector.detect_many(sorted(scenes.iterdir()), out, cluster=cluster.scheduler_address)
    assert [(o.source.rsplit("/", 1)[1], o.status) for o in outcomes] == [
        ("a_port.tif", "already done"), ("b_fine.tif", "done"), ("c_plain.png", "done"), ("d_broken.tif", "failed"),
        ("e_calm.tif", "done")]
    assert "d_broken.tif: not an image" in outcomes[3].reason
    assert {name: (out / name).stat().st_mtime_ns for name in done_before} == done_before
    assert {name.split(".")[0] for name in files_of(out)} == {"a_port", "b_fine", "c_plain", "e_calm"}

    # Each worker made one session for the run, from the bytes it was sent once, with one thread.
    model_id = hashlib.sha256(blob_model.read_bytes()).hexdigest()

    def plugins(dask_worker):
        from pathlib import Path

        found = {}
        for name, plugin in dask_worker.plugins.items():
            if name.startswith("tankerwatch-model-"):
                copy = Path(dask_worker.local_directory) / "tankerwatch-models" / f"{model_id}.onnx"
                found[name] = (plugin.loads, plugin.threads, hashlib.sha256(copy.read_bytes()).hexdigest(),
                               plugin.detector.session.get_session_options().intra_op_num_threads)
        return found

    with distributed.Client(cluster) as client:
        seen = client.run(plugins)
    assert len(seen) == 2
    for found in seen.values():
        assert list(found.values()) == [(1, 1, model_id, 1)]


def test_a_task_carries_the_scene_not_the_model(blob_model):
    from distributed.protocol.pickle import dumps

    from tankerwatch.infer.runtime.distributed import ModelPlugin, analyse_on_worker

    options = batch.SceneOptions(None, 2, None, 0.3)
    plugin = ModelPlugin(blob_model, "0" * 64, "cpu", 1, blob_model.read_bytes())
    task = dumps((analyse_on_worker, "/data/scenes/2024-05-01_port.tif", plugin.name, options, "/data/out"))
    assert len(task) < 1000 < blob_model.stat().st_size
    assert len(dumps(plugin)) >= blob_model.stat().st_size  # the bytes go once, with the plugin


def test_an_unreachable_cluster_is_one_line(blob_model, scenes, tmp_path, capsys, monkeypatch):
    from tankerwatch.infer.runtime import distributed as engine

    monkeypatch.setattr(engine, "CONNECT_TIMEOUT", "1s")
    scene = str(scenes / "e_calm.tif")
    assert main(["detect", str(blob_model), scene, scene.replace("e_calm", "a_port"), "-o", str(tmp_path / "out"),
                 "--cluster", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("tankerwatch detect: error: --cluster tcp://127.0.0.1:9: no Dask scheduler reachable "
                              "there (")
    assert "Traceback" not in "".join(err)
    assert not list((tmp_path / "out").glob("*.geojson"))


def test_cluster_choice_and_worker_layout(monkeypatch):
    monkeypatch.setattr(batch, "usable_cores", lambda: 2)
    assert batch.choose_cluster("auto", 24, "cpu") == "local"
    assert batch.choose_cluster("auto", 1, "cpu") == "none"  # one scene: a cluster would only add its start
    assert batch.choose_cluster("auto", 24, "cpu", threads=1) == "none"  # one thread: nothing to share out
    assert batch.choose_cluster("auto", 24, "cpu", threads=1, workers=2) == "local"
    assert batch.choose_cluster("auto", 24, "cuda") == "none"  # one GPU session beats several sharing it
    assert batch.local_layout(24, None, None) == (2, 1)  # 2 workers on 2 cores: one thread each
    assert batch.local_layout(1, None, None) == (1, 2)
    monkeypatch.setattr(batch, "usable_cores", lambda: 8)
    assert batch.local_layout(24, None, 4) == (4, 1)  # --threads is the run's budget, never exceeded
    assert batch.local_layout(24, 2, None) == (2, 4)
    assert batch.local_layout(24, 3, 1) == (3, 1)  # more workers than threads asked for: one each
    monkeypatch.setattr(batch, "usable_cores", lambda: 1)
    assert batch.choose_cluster("auto", 24, "cpu") == "none"
    monkeypatch.setattr(batch, "usable_cores", lambda: 2)
    monkeypatch.setattr(batch, "engine_installed", lambda: False)
    assert batch.choose_cluster("auto", 24, "cpu") == "none"
    with pytest.raises(ConfigError, match=r"pip install 'tankerwatch\[cluster\]'"):
        batch.choose_cluster("local", 24, "cpu")


def test_the_analysts_path_does_not_import_the_engine():
    code = ("import sys\n"
            "import tankerwatch.infer.cli, tankerwatch.infer.api, tankerwatch.infer.commands.detect\n"
            "loaded = [n for n in ('dask', 'distributed', 'ray') if n in sys.modules]\n"
            "assert not loaded, loaded\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_outcomes_keep_the_order_of_the_sources(blob_model, scenes, tmp_path):
    detector = Detector(blob_model, device="cpu", threads=1)
    sources = [scenes / "e_calm.tif", scenes / "missing.tif", scenes / "a_port.tif"]
    seen = []
    outcomes = detector.detect_many(sources, tmp_path, cluster="none", on_scene=seen.append)
    assert [o.status for o in outcomes] == ["done", "failed", "done"]
    assert [o.source for o in outcomes] == [o.source for o in seen] == [str(s) for s in sources]
    assert "missing.tif" in outcomes[1].reason and len(outcomes[2].result.detections) == 3


@pytest.mark.slow
def test_a_scene_that_kills_its_worker_is_named_and_the_rest_finish(blob_model, scenes, tmp_path):
    """A scene whose worker dies (out of memory, a crash in a library) fails alone: Dask retries it
    on fresh workers (distributed.scheduler.allowed-failures, 3), then gives up on it, and the
    others finish. About 20 s: each death costs a worker restart."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class CrashOn(WorkerPlugin):
        """Makes every worker, restarted ones too, exit hard on scenes named ``marker``."""

        name = "test-crash-on"

        def __init__(self, marker):
            self.marker = marker

        def setup(self, worker):
            import os

            from tankerwatch.infer.runtime import distributed as engine

            real, marker = engine.analyse_scene, self.marker

            def analyse(detector, source, **kwargs):
                if marker in str(source):
                    os._exit(1)
                return real(detector, source, **kwargs)

            engine.analyse_scene = analyse

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=logging.CRITICAL) as local:
        with distributed.Client(local) as client:
            client.register_plugin(CrashOn("c_plain"))
            outcomes = Detector(blob_model, device="cpu", threads=1).detect_many(
                [scenes / "a_port.tif", scenes / "c_plain.png", scenes / "e_calm.tif"], tmp_path,
                cluster=local.scheduler_address)
    assert [o.status for o in outcomes] == ["done", "failed", "done"]
    assert "c_plain.png" in outcomes[1].reason and "worker running this scene died" in outcomes[1].reason


def test_one_scene_on_a_local_cluster_runs_in_this_process_with_the_same_bytes(blob_model, scenes, tmp_path,
                                                                               monkeypatch):
    """One scene to do: the local cluster's worker is a thread of this process (no worker process
    to start and import), and the files are those of the single-process run."""
    import os

    from tankerwatch.infer.runtime import distributed as engine

    detector = Detector(blob_model, device="cpu", threads=1)
    scene = scenes / "a_port.tif"
    detector.detect_many([scene], tmp_path / "one", cluster="none")
    real, pids = engine.analyse_scene, []

    def analyse(*args, **kwargs):
        pids.append(os.getpid())
        return real(*args, **kwargs)

    # A worker process would import the engine afresh, without this wrapper.
    monkeypatch.setattr(engine, "analyse_scene", analyse)
    (outcome,) = detector.detect_many([scene], tmp_path / "local", cluster="local", workers=1)
    assert outcome.status == "done" and pids == [os.getpid()]
    one, local = files_of(tmp_path / "one"), files_of(tmp_path / "local")
    assert sorted(one) == sorted(local) and all(one[name] == local[name] for name in one)
