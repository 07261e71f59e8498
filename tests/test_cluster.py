"""Cluster plumbing: the actor pool survives dying actors, a local run never joins a stray cluster,
and the pieces `make cluster-test` judges by (job status, output comparison)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pipeline.executor import run_on_actors
from scripts.cluster_test import NO_AGENT_YET, diff_outputs, job_status, output_files, submit_until_accepted

REPO_ROOT = Path(__file__).resolve().parents[1]


class DiesOnce:
    """Squares numbers; the first time it sees a job listed in `deadly`, its process exits (a lost worker)."""

    def __init__(self, flag_dir: str, deadly: tuple[int, ...], always: bool = False):
        self.flag_dir = flag_dir
        self.deadly = deadly
        self.always = always

    def work(self, x: int) -> int:
        flag = os.path.join(self.flag_dir, f"died-{x}")
        if x in self.deadly and (self.always or not os.path.exists(flag)):
            Path(flag).touch()
            os._exit(1)
        return x * x


@pytest.fixture()
def by_value(ray_session, request):
    """Ray workers cannot import this test module by name: ship its classes by value."""
    module = sys.modules[DiesOnce.__module__]
    ray_session.cloudpickle.register_pickle_by_value(module)
    request.addfinalizer(lambda: ray_session.cloudpickle.unregister_pickle_by_value(module))


def test_actor_pool_requeues_the_job_of_a_dead_actor_and_replaces_it(by_value, tmp_path):
    jobs = [(i,) for i in range(12)]
    got = run_on_actors(
        DiesOnce, (str(tmp_path), (3, 7)), "work", jobs, total=len(jobs), desc="t", num_actors=2
    )
    assert sorted(got) == [i * i for i in range(12)]  # every job once, none lost, none twice
    assert sorted(p.name for p in tmp_path.iterdir()) == ["died-3", "died-7"]  # two actors really died


def test_actor_pool_gives_up_on_a_job_that_always_kills_its_actor(by_value, tmp_path):
    jobs = [(i,) for i in range(4)]
    with pytest.raises(RuntimeError, match="lost its actor 2 times"):
        list(
            run_on_actors(
                DiesOnce,
                (str(tmp_path), (2,), True),
                "work",
                jobs,
                total=len(jobs),
                desc="t",
                num_actors=1,
                max_attempts=2,
            )
        )


def test_local_run_does_not_join_a_cluster_named_by_ray_current_cluster(tmp_path):
    """`ray start` writes RAY_TMPDIR/ray/ray_current_cluster; a plain `winnow run` must still start its own Ray."""
    ray_tmp = Path(tempfile.mkdtemp(prefix="wc-", dir="/tmp"))
    try:
        (ray_tmp / "ray").mkdir()
        (ray_tmp / "ray" / "ray_current_cluster").write_text("127.0.0.1:1")  # nothing listens there
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env.update(RAY_TMPDIR=str(ray_tmp), OMP_NUM_THREADS="1")
        code = (
            "import ray; from pipeline.executor import init_ray; init_ray(num_cpus=1); "
            "print('cpus', ray.cluster_resources()['CPU']); ray.shutdown()"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            start_new_session=True,  # Ray's reaper kills its own process group when the driver ends
        )
    finally:
        import shutil

        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "cpus 1.0" in proc.stdout


def test_job_status_reads_both_forms_of_ray_job_status():
    ok = "2026-11-28 22:05:56,092\tSUCC cli.py:67 -- \x1b[32mJob 'winnow-ct-1' succeeded\x1b[39m\n"
    assert job_status(ok, "winnow-ct-1") == "SUCCEEDED"
    assert job_status("Status for job 'winnow-ct-1': FAILED\nStatus message: boom", "winnow-ct-1") == "FAILED"
    assert job_status(ok, "winnow-ct-2") == "UNKNOWN"  # another job's success is not ours


def _answers(*outputs: tuple[int, str]):
    """A stand-in for `ray job submit`: each call returns the next (returncode, stderr)."""
    calls = iter(outputs)

    def submit() -> subprocess.CompletedProcess:
        rc, err = next(calls)
        return subprocess.CompletedProcess(["ray"], rc, stdout="", stderr=err)

    return submit


def test_submission_is_retried_only_while_ray_has_no_agent_for_the_job():
    busy = (1, f"RuntimeError: Request failed with status code 500: {NO_AGENT_YET}, please try again later..")
    done, attempts = submit_until_accepted(_answers(busy, busy, (0, "Job 'x' succeeded")), pause_s=0.0)
    assert (done.returncode, attempts) == (0, 3)
    failed, attempts = submit_until_accepted(_answers((1, "Job 'x' failed"), (0, "unused")), pause_s=0.0)
    assert (failed.returncode, attempts) == (1, 1)  # another failure is the job's own: not retried
    stuck, attempts = submit_until_accepted(_answers(*[busy] * 5), budget_s=0.05, pause_s=0.02)
    assert stuck.returncode == 1 and NO_AGENT_YET in stuck.stderr and 1 <= attempts < 5  # bounded


def test_output_comparison_ignores_temporaries_and_the_run_path_only(tmp_path):
    def make(root: Path, run_name: str, payload: bytes) -> None:
        (root / "filter").mkdir(parents=True)
        (root / "tokens").mkdir()
        (root / "filter" / "part-00000.parquet").write_bytes(payload)
        (root / "filter" / ".part-00001.parquet.abc.tmp").write_bytes(b"half-written")
        (root / "tokens" / "manifest.json").write_text(f'{{"source_run": "{run_name}", "total_tokens": 5}}')

    make(tmp_path / "a", "/x/a", b"same")
    make(tmp_path / "b", "/y/b", b"same")
    make(tmp_path / "c", "/z/c", b"other")
    a, b, c = (output_files(tmp_path / n) for n in "abc")
    assert sorted(a) == ["filter/part-00000.parquet", "tokens/manifest.json"]
    assert diff_outputs(a, b) == []
    assert diff_outputs(c, a) == ["differs: filter/part-00000.parquet"]
    assert diff_outputs({}, a) == ["missing: filter/part-00000.parquet", "missing: tokens/manifest.json"]


def test_the_checkout_a_job_uploads_fits_rays_limit_and_holds_what_a_run_needs(tmp_path):
    """`ray job submit --working-dir .` zips this checkout (minus .gitignore and .rayignore) and the job server refuses
    a body over 100 MiB; with the evaluation evidence in, the upload had grown past it (2026-12-07, 413 from the job
    server). Ray's own packaging builds the zip here; half the limit is Ray's own warning level."""
    import logging
    import zipfile

    from ray._private.runtime_env.packaging import create_package

    package = tmp_path / "package.zip"
    create_package(str(REPO_ROOT), package, include_gitignore=True, logger=logging.getLogger("test"))
    assert package.stat().st_size < 50 * 2**20
    names = set(zipfile.ZipFile(package).namelist())
    assert {"configs/default.yaml", "filters/models/harm_fast.npz", "winnow/cli.py"} <= names
    assert any(n.startswith("data/sample/") for n in names)
    assert not any(n.startswith(("benchmarks/results/", "tests/", ".git/", ".venv/")) for n in names)
