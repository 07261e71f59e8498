"""The trainer's multi-process paths on CPU (gloo): DDP and FSDP2 under `torchrun --nproc_per_node 2`.

All 2-process runs share one `torch.distributed.run` subprocess (its process group is killed after a timeout,
so a hang fails the tests instead of blocking them) that executes this file's `__main__` worker; the
world-size-1 reference and the resumes into world size 1 run in-process.

Tolerance: world 1 accumulates four micro-batch gradients in one process; world 2 accumulates two per rank and
all-reduces them (gloo; bucketed and pre-divided in DDP, reduce-scattered in FSDP2). The floating-point
additions happen in another order, so results agree only to float32 rounding, which Adam then carries through
the steps. Observed: loss relative difference <= 1e-7, weights max |diff| 6e-7 after 6 steps. Allowed:
rtol=1e-5 on logged losses, rtol=1e-4/atol=1e-5 on weights, 1e-6 on the expert-load ratios (integer counts).
A rank-local expert load (no all-reduce) already fails the load check.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 120
STEPS, MID = 6, 3


def _worker(jobs_file: str) -> None:
    """Run under torchrun: each job trains (a fresh process group each time) while recording this rank's
    sampled row ids per step; a failing job leaves its traceback and stops the launch."""
    torch.set_num_threads(1)
    import traceback

    import trainer.train as T
    from trainer.config import load_config

    rank = int(os.environ["RANK"])
    seen: list[list[int]] = []

    class Recording(T.TrainBatches):
        def next(self) -> torch.Tensor:
            if self._it is None:
                self._it = iter(self.sampler)
            rows = next(self._it)
            seen.append(rows.tolist())
            return torch.from_numpy(np.ascontiguousarray(self.ds.take(rows), dtype=np.int64))

    T.TrainBatches = Recording  # type: ignore[misc]
    import torch.distributed as dist

    for i, job in enumerate(json.loads(Path(jobs_file).read_text())):
        seen.clear()
        if i:
            # The trainer tore down job i-1's group; an env:// re-init would reuse its store keys (and reach
            # the dead group's sockets), so later jobs get their own key prefix on torchrun's agent store.
            agent = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False)
            store = dist.PrefixStore(f"job{i}", agent)
            dist.init_process_group("gloo", store=store, rank=rank, world_size=int(os.environ["WORLD_SIZE"]))
        out = Path(job["out"])
        try:
            res = T.train_config(load_config(job["cfg"]), job["tokens"], str(out))
        except BaseException:
            out.mkdir(parents=True, exist_ok=True)
            (out / f"error-rank{rank}.txt").write_text(traceback.format_exc())
            raise
        (out / f"rows-rank{rank}.json").write_text(json.dumps({"rows": seen, "step": res.step}))


def _torchrun(jobs: list[dict], tmp: Path) -> str:
    """2 processes, standalone rendezvous, all jobs in one launch (process start-up dominates the cost);
    killed as a process group on timeout so nothing hangs. Returns the launch's output for failure messages."""
    jobs_file = tmp / "jobs.json"
    jobs_file.write_text(json.dumps(jobs))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           __file__, str(jobs_file)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    # Output to a file, not a pipe: a rank that outlives the kill cannot hold the test on a pipe.
    log_path = tmp / "torchrun.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            proc.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _kill_tree(proc)
            log = log_path.read_bytes().decode(errors="replace")
            return f"torchrun timed out after {TIMEOUT_S}s and was killed:\n{log}"
    return f"torchrun exited {proc.returncode}:\n{log_path.read_bytes().decode(errors='replace')}"


def _kill_tree(proc: subprocess.Popen) -> None:
    """The launcher's process group and every descendant (a rank may have left the group)."""
    import psutil

    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    proc.wait()


def _done(out: Path, launch_log: str) -> Path:
    """The job's output dir, or a failure that shows why its 2-process run did not finish."""
    if not (out / "rows-rank0.json").is_file() or not (out / "rows-rank1.json").is_file():
        errors = "".join(p.read_text() for p in sorted(out.glob("error-rank*.txt")))
        pytest.fail(f"2-process job {out.name} did not finish\n{errors or launch_log[-6000:]}")
    return out


def _cfg(tmp: Path, name: str, **overrides) -> str:
    raw = yaml.safe_load((REPO / "configs" / "moe-tiny.yaml").read_text())
    raw["train"].update(
        steps=STEPS, warmup_steps=2, micro_batch_size=4, log_every=1, eval_every=0, eval_batches=4,
        checkpoint_every=MID,
        keep_checkpoints=2, device="cpu", **overrides,
    )  # fmt: skip
    p = tmp / f"{name}.yaml"
    p.write_text(yaml.safe_dump(raw))
    return str(p)


def _log(out: Path, kind: str = "train") -> dict[int, dict]:
    recs = map(json.loads, (out / "train_log.jsonl").read_text().splitlines())
    return {r["step"]: r for r in recs if r["kind"] == kind}


def _weights(out: Path, step: int) -> dict[str, torch.Tensor]:
    return load_file(str(out / "checkpoints" / f"step-{step:08d}" / "model.safetensors"))


def _assert_same_training(ref: Path, got: Path, steps: range) -> None:
    la, lb = _log(ref), _log(got)
    for s in steps:
        assert lb[s]["loss"] == pytest.approx(la[s]["loss"], rel=1e-5), s
        assert lb[s]["tokens_seen"] == la[s]["tokens_seen"]
        # Expert load is all-reduced before it is logged: a rank-local count would differ from world 1.
        assert lb[s]["expert_load_max_over_mean"] == pytest.approx(
            la[s]["expert_load_max_over_mean"], rel=1e-6
        )
        assert lb[s]["dead_experts"] == la[s]["dead_experts"]
    va, vb = _log(ref, "val")[STEPS], _log(got, "val")[STEPS]
    assert vb["val_tokens"] == va["val_tokens"] and vb["val_loss"] == pytest.approx(va["val_loss"], rel=1e-5)
    wa, wb = _weights(ref, STEPS), _weights(got, STEPS)
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wb[k], wa[k], rtol=1e-4, atol=1e-5, msg=k)


def _state(out: Path, step: int) -> dict:
    from trainer import checkpoint as ckpt

    return ckpt.load_state(out / "checkpoints" / f"step-{step:08d}")


def _resume_from(src: Path, step: int, dst: Path) -> None:
    (dst / "checkpoints").mkdir(parents=True)
    shutil.copytree(src / "checkpoints" / f"step-{step:08d}", dst / "checkpoints" / f"step-{step:08d}")


@pytest.fixture(scope="module")
def tokens_dir(shakespeare_tokens, tmp_path_factory) -> Path:
    return shakespeare_tokens(tmp_path_factory.mktemp("tok") / "tokens", 120_000)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dist")


@pytest.fixture(scope="module")
def world1(tokens_dir, runs) -> Path:
    """The reference: one process, the same global batch (4 micro-batches accumulated)."""
    from trainer.train import train

    out = runs / "w1"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the workers, so CPU kernels reduce in the same order
    try:
        train(_cfg(runs, "ddp"), str(tokens_dir), str(out))
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="module")
def launch(tokens_dir, runs, world1) -> str:
    """One torchrun launch: DDP from scratch, DDP resumed from world 1's mid checkpoint, then the same two
    with FSDP2 (last, so a failure there cannot take the DDP results with it)."""
    for name in ("w1_to_ddp2", "w1_to_fsdp2"):
        _resume_from(world1, MID, runs / name)
    ddp, fsdp = _cfg(runs, "ddp"), _cfg(runs, "fsdp", parallel="fsdp")
    jobs = [
        {"cfg": ddp, "tokens": str(tokens_dir), "out": str(runs / "ddp2")},
        {"cfg": ddp, "tokens": str(tokens_dir), "out": str(runs / "w1_to_ddp2")},
        {"cfg": fsdp, "tokens": str(tokens_dir), "out": str(runs / "fsdp2")},
        {"cfg": fsdp, "tokens": str(tokens_dir), "out": str(runs / "w1_to_fsdp2")},
    ]
    return _torchrun(jobs, runs)


@pytest.fixture(scope="module")
def ddp2(runs, launch) -> Path:
    return _done(runs / "ddp2", launch)


def test_ddp_world2_matches_world1(world1, ddp2):
    start = json.loads((ddp2 / "train_log.jsonl").read_text().splitlines()[0])
    assert start["world"] == 2 and start["grad_accum"] == 2 and start["device"] == "cpu"
    _assert_same_training(world1, ddp2, range(1, STEPS + 1))


def test_rank_shards_are_disjoint_and_cover_the_global_batch(tokens_dir, ddp2):
    from tokenization.reader import GlobalBatchSampler
    from trainer.data import open_split

    r0 = json.loads((ddp2 / "rows-rank0.json").read_text())["rows"]
    r1 = json.loads((ddp2 / "rows-rank1.json").read_text())["rows"]
    assert len(r0) == len(r1) == STEPS
    n = len(open_split(tokens_dir, "train"))
    it = iter(GlobalBatchSampler(n, 16, seed=0, rank=0, world_size=1))
    for a, b in zip(r0, r1, strict=True):
        assert len(a) == len(b) == 8 and not set(a) & set(b)
        assert a + b == next(it).tolist()  # rank 0's slice then rank 1's: the world-1 batch, in order


def test_checkpoint_from_world2_resumes_in_world1(tokens_dir, runs, world1, ddp2):
    from trainer.train import train

    out = runs / "ddp2_to_w1"
    _resume_from(ddp2, MID, out)
    assert _state(out, MID)["world_size"] == 2
    train(_cfg(runs, "ddp"), str(tokens_dir), str(out))
    assert _state(out, STEPS)["sampler"] == _state(world1, STEPS)["sampler"]
    _assert_same_training(world1, out, range(MID + 1, STEPS + 1))


def test_checkpoint_from_world1_resumes_in_world2(runs, world1, launch):
    out = _done(runs / "w1_to_ddp2", launch)
    r0 = json.loads((out / "rows-rank0.json").read_text())
    assert r0["step"] == STEPS and len(r0["rows"]) == STEPS - MID  # picked up at the saved cursor
    assert _state(out, STEPS)["sampler"] == _state(world1, STEPS)["sampler"]
    _assert_same_training(world1, out, range(MID + 1, STEPS + 1))


def test_fsdp2_world2_matches_world1_and_checkpoints_cross_over(tokens_dir, runs, world1, launch):
    from trainer.train import train

    out = _done(runs / "fsdp2", launch)
    start = json.loads((out / "train_log.jsonl").read_text().splitlines()[0])
    assert start["world"] == 2 and start["grad_accum"] == 2
    _assert_same_training(world1, out, range(1, STEPS + 1))
    back = runs / "fsdp2_to_w1"
    _resume_from(out, MID, back)
    train(_cfg(runs, "ddp"), str(tokens_dir), str(back))
    _assert_same_training(world1, back, range(MID + 1, STEPS + 1))
    # and world 1's checkpoint (optimizer state keyed by index) loads into the sharded model and optimizer
    fwd = _done(runs / "w1_to_fsdp2", launch)
    assert json.loads((fwd / "rows-rank1.json").read_text())["step"] == STEPS
    _assert_same_training(world1, fwd, range(MID + 1, STEPS + 1))


if __name__ == "__main__":
    _worker(sys.argv[1])
