"""End-to-end trainer behaviour on real text: learning, exact resume, checkpoint safety, generation."""

from __future__ import annotations

import argparse
import io
import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from tests.unigram import unigram_entropy_bits
from trainer import checkpoint as ckpt
from trainer.data import open_split
from trainer.generate import generate, load_model
from trainer.train import train

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tokens_dir(shakespeare_tokens, tmp_path_factory) -> Path:
    """Tiny-Shakespeare (first 300 kB) token shards."""
    return shakespeare_tokens(tmp_path_factory.mktemp("tok") / "tokens", 300_000)


@pytest.fixture(scope="module")
def tiny_run(tokens_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny") / "out"
    return train(str(REPO / "configs" / "moe-tiny.yaml"), str(tokens_dir), str(out))


def _tiny_variant(tmp_path: Path, **train_overrides) -> str:
    raw = yaml.safe_load((REPO / "configs" / "moe-tiny.yaml").read_text())
    raw["train"].update(train_overrides)
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(raw))
    return str(p)


def test_tiny_config_learns_well_below_unigram_entropy(tiny_run, tokens_dir):
    ds = open_split(tokens_dir, "train")
    h_nats = unigram_entropy_bits(ds) * math.log(2)
    assert tiny_run.step == 200
    assert tiny_run.final_loss < h_nats - 1.0, (tiny_run.final_loss, h_nats)
    assert tiny_run.val_loss < h_nats - 1.0, (tiny_run.val_loss, h_nats)
    assert 0 < tiny_run.val_bpb < 8
    recs = [json.loads(line) for line in Path(tiny_run.log_path).read_text().splitlines()]
    train_recs = [r for r in recs if r["kind"] == "train"]
    assert len(train_recs) == 10 and train_recs[-1]["loss"] < train_recs[0]["loss"]
    for key in ("loss", "grad_norm", "lr", "tokens_per_s", "mfu", "data_wait_share", "dead_experts",
                "expert_load_max_over_mean", "router_bias_min", "router_bias_max"):  # fmt: skip
        assert key in train_recs[-1]
    # two MoE trunk layers and the MoE block of the MTP head (the first, dense layer has no router)
    assert len(train_recs[-1]["expert_load_max_over_mean"]) == 3
    assert train_recs[-1]["router_bias_max"] > 0 > train_recs[-1]["router_bias_min"]
    assert Path(tiny_run.plot_path).stat().st_size > 1000
    assert [p.name for p in ckpt.list_checkpoints(Path(tiny_run.out_dir) / "checkpoints")] == [
        "step-00000100",
        "step-00000200",
    ]


def test_exact_resume_is_bit_identical(tokens_dir, tmp_path):
    cfg = _tiny_variant(tmp_path, steps=8, warmup_steps=2, log_every=1, eval_every=0, checkpoint_every=0)
    straight = train(cfg, str(tokens_dir), str(tmp_path / "a"))
    first = train(cfg, str(tokens_dir), str(tmp_path / "b"), max_steps=3)
    assert first.step == 3
    resumed = train(cfg, str(tokens_dir), str(tmp_path / "b"))
    assert resumed.step == 8
    wa = load_file(str(Path(straight.checkpoint_dir) / ckpt.WEIGHTS))
    wb = load_file(str(Path(resumed.checkpoint_dir) / ckpt.WEIGHTS))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    sa, sb = ckpt.load_state(straight.checkpoint_dir), ckpt.load_state(resumed.checkpoint_dir)
    assert sa["sampler"] == sb["sampler"] and sa["scheduler"] == sb["scheduler"]
    for pid, st in sa["optimizer"]["state"].items():
        assert torch.equal(st["exp_avg_sq"], sb["optimizer"]["state"][pid]["exp_avg_sq"])

    def losses(path):
        return {
            r["step"]: r["loss"]
            for r in map(json.loads, Path(path).read_text().splitlines())
            if r["kind"] == "train"
        }

    la, lb = losses(straight.log_path), losses(resumed.log_path)
    assert la == lb and len(la) == 8


def test_checkpoints_are_atomic_pruned_and_weights_only(tokens_dir, tmp_path):
    cfg = _tiny_variant(
        tmp_path, steps=6, warmup_steps=1, checkpoint_every=2, keep_checkpoints=2, eval_every=0, log_every=3
    )
    res = train(cfg, str(tokens_dir), str(tmp_path / "run"))
    root = tmp_path / "run" / "checkpoints"
    assert sorted(p.name for p in root.iterdir()) == ["step-00000004", "step-00000006"]
    c = Path(res.checkpoint_dir)
    assert {p.name for p in c.iterdir()} == {
        "model.safetensors",
        "config.json",
        "trainer_state.pt",
        "tokenizer.json",
    }
    state = ckpt.load_state(c)
    assert state["step"] == 6 and isinstance(state["rng"]["torch"], torch.Tensor)
    assert (
        json.loads((c / "config.json").read_text())["data"]["eos_id"]
        == open_split(tokens_dir, "train").eos_id
    )
    # A state file carrying arbitrary pickled objects is refused, not executed.
    bad = tmp_path / "bad"
    bad.mkdir()
    buf = io.BytesIO()
    torch.save({"step": 1, "evil": np.dtype("float64"), "obj": pickle.loads(pickle.dumps(Path("/x")))}, buf)
    (bad / ckpt.STATE).write_bytes(buf.getvalue())
    with pytest.raises(pickle.UnpicklingError):
        ckpt.load_state(bad)
    # Refuse to silently restart over an existing run.
    with pytest.raises(FileExistsError):
        train(cfg, str(tokens_dir), str(tmp_path / "run"), resume=False)


def test_a_checkpoint_saved_again_at_its_step_replaces_the_old_one(tmp_path):
    """A rerun that reaches a saved step publishes its own checkpoint in place (`kit.files.replace_dir`)."""
    root = tmp_path / "checkpoints"
    for value in (1.0, 2.0):
        ckpt.save_checkpoint(root, 3, {"w": torch.full((2,), value)}, {"v": value}, {"step": 3}, None, keep=2)
    assert sorted(p.name for p in root.iterdir()) == ["step-00000003"]  # no staging or old copy left
    assert ckpt.load_weights(root / "step-00000003")["w"].tolist() == [2.0, 2.0]
    assert ckpt.load_config_json(root / "step-00000003") == {"v": 2.0}


def test_generate_says_when_the_context_caps_max_new_tokens(tiny_run, capsys):
    """`winnow generate` notes on stderr that decoding stops at the context, so a short answer is not
    mistaken for the model ending early; the note's count is what generate() then writes at most."""
    from winnow.commands import _cmd_generate, _context_note

    prompt = "ROMEO:\nWhat light"
    assert _context_note(str(tiny_run.out_dir), prompt, 5) == ""
    note = _context_note(str(tiny_run.out_dir), prompt, 100_000)
    assert note.startswith("note: the model reads at most ") and note.endswith("not --max-new-tokens 100000")
    room = int(note.split("it writes at most ")[1].split(",")[0])
    out: list[int] = []
    for _ in generate(
        tiny_run.checkpoint_dir,
        prompt,
        100_000,
        temperature=1.0,
        top_k=None,
        seed=0,
        device="cpu",
        generated=out,
    ):
        pass
    assert len(out) <= room
    assert _context_note(str(tiny_run.out_dir), prompt, room) == ""
    args = argparse.Namespace(
        checkpoint=str(tiny_run.out_dir),
        prompt=prompt,
        max_new_tokens=100_000,
        temperature=0.0,
        top_k=1,
        seed=0,
    )
    assert _cmd_generate(args) == 0
    assert capsys.readouterr().err.strip() == note  # the command prints it, once, on stderr


def test_generate_streams_cached_decoding_matching_full_forward(tiny_run):
    model, tok, eos = load_model(tiny_run.out_dir, device="cpu")
    prompt = "ROMEO:\nWhat light"
    pieces = list(
        generate(tiny_run.checkpoint_dir, prompt, 24, temperature=0.0, top_k=None, seed=0, device="cpu")
    )
    assert pieces and all(isinstance(p, str) and p for p in pieces)
    # Greedy decoding with the full forward pass (no cache) must pick the same tokens.
    ids = tok.encode(prompt).ids
    out: list[int] = []
    with torch.no_grad():
        for _ in range(24):
            nxt = int(model(torch.tensor([ids + out]))[0, -1].argmax())
            if nxt == eos:
                break
            out.append(nxt)
    assert "".join(pieces) == tok.decode(out)
    # Sampling is reproducible from the seed, and the seed is what decides it; a stop callback halts the stream.
    a, b, other = (
        "".join(
            generate(tiny_run.checkpoint_dir, prompt, 20, temperature=1.0, top_k=20, seed=s, device="cpu")
        )
        for s in (7, 7, 8)
    )
    assert a == b != other
    seen: list[str] = []
    stopped = list(
        generate(
            tiny_run.checkpoint_dir,
            prompt,
            40,
            1.0,
            20,
            7,
            stop=lambda t: seen.append(t) or len(seen) >= 2,
            device="cpu",
        )
    )
    assert len(stopped) == 2
