"""winnow serve with the bundled trainer checkpoint (a tiny model trained here for a few steps)."""

from __future__ import annotations

import re
from pathlib import Path

import openai
import pytest
import yaml
from tokenizers import Tokenizer

from server.app import create_app
from server.config import ServeConfig
from server.testing import ServerThread
from tests.policy_data import rules_only_policy_data
from trainer.checkpoint import latest_checkpoint
from trainer.train import train

REPO = Path(__file__).resolve().parents[1]
PROMPT = "ROMEO:\nWhat light through yonder window"


@pytest.fixture(scope="session")
def tiny_checkpoint(shakespeare_tokens, tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("serve_ckpt")
    tokens = shakespeare_tokens(root / "tokens", 60_000)
    train(str(REPO / "configs" / "moe-tiny.yaml"), str(tokens), str(root / "out"), max_steps=4)
    return str(root / "out")


def _stream(client: openai.OpenAI, prompt: str, max_tokens: int) -> tuple[str, str | None]:
    text, finish = [], None
    events = client.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens,
        temperature=0,
        stream=True,
    )
    for ev in events:
        if ev.choices and ev.choices[0].delta.content:
            text.append(ev.choices[0].delta.content)
        if ev.choices and ev.choices[0].finish_reason:
            finish = ev.choices[0].finish_reason
    return "".join(text), finish


def test_bundled_model_guarded(tiny_checkpoint, tmp_path):
    # 1) Unfiltered greedy answer: what the model says for PROMPT.
    base = ServeConfig(
        checkpoint=tiny_checkpoint,
        policy=str(REPO / "configs" / "policy.yaml"),
        device="cpu",
        filter_enabled=False,
    )
    app = create_app(base)
    with ServerThread(app) as srv:
        c = openai.OpenAI(base_url=srv.url + "/v1", api_key="x", max_retries=0)
        raw, finish = _stream(c, PROMPT, 96)
        full_pieces = app.state.winnow.backend.pieces_generated
        r = c.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": PROMPT}], max_tokens=48, temperature=0
        )
        short = c.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": PROMPT}], max_tokens=5, temperature=0
        )
    assert raw and finish in ("stop", "length")
    assert r.choices[0].message.content == raw  # streaming and not give the same greedy text
    # Usage counts the checkpoint's own tokenizer: the role-formatted prompt, and the tokens the model
    # generated (never more than max_tokens; re-encoding the text can give another count).
    tok = Tokenizer.from_file(
        str(latest_checkpoint(Path(tiny_checkpoint) / "checkpoints") / "tokenizer.json")
    )
    assert r.usage.prompt_tokens == len(tok.encode(f"user: {PROMPT}\nassistant:").ids) > 0
    assert 0 < r.usage.completion_tokens <= 48
    if r.choices[0].finish_reason == "length":
        assert r.usage.completion_tokens == 48
    assert short.choices[0].finish_reason == "length" and short.usage.completion_tokens == 5
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    # A word the model says in the first half of its answer (so that a stop saves the rest).
    words = [
        m
        for m in re.finditer(r"(?<![^\W\d_])[^\W\d_]{3,}(?![^\W\d_])", raw)
        if m.start() > 0 and m.end() < len(raw) // 2
    ]
    assert words, f"the tiny model's greedy answer has no word to block: {raw!r}"
    word = words[0].group()
    # 2) A policy that blocks that word as violence: the guard stops the stream, decoding stops.
    pol = rules_only_policy_data()  # the rules decide here: the extra term is what must block
    pol["detectors"]["terms"]["extra_terms"] = {"violence": [word]}
    ppath = tmp_path / "policy.yaml"
    ppath.write_text(yaml.safe_dump(pol), encoding="utf-8")
    cfg = base.model_copy(update={"filter_enabled": True, "policy": str(ppath), "prompt_checks": True})
    app = create_app(cfg)
    backend = app.state.winnow.backend
    with ServerThread(app) as srv:
        c = openai.OpenAI(base_url=srv.url + "/v1", api_key="x", max_retries=0)
        before = backend.pieces_generated
        text, finish = _stream(c, PROMPT, 96)
        generated = backend.pieces_generated - before
        assert finish == "content_filter"
        assert text.endswith(cfg.safe_message)
        released = text[: -len(cfg.safe_message)]
        assert raw.startswith(released) and len(released) <= words[0].start()
        assert generated < full_pieces  # decoding stopped early (fewer pieces than the full answer)
        # 3) A blocked prompt is refused without calling the model.
        before = backend.pieces_generated
        text, finish = _stream(c, "you should kill yourself", 16)
        assert finish == "content_filter" and text == cfg.refusal_message
        assert backend.pieces_generated == before


def _serve_error(capsys, monkeypatch, *argv: str) -> str:
    """`winnow serve ARGV` in this process, which must refuse before serving: its one `error:` line."""
    import server.app
    from winnow.cli import build_parser

    def must_not_start(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the server started: the mistake was not refused")

    monkeypatch.setattr(server.app, "serve", must_not_start)
    args = build_parser().parse_args(["serve", *argv])
    code = args.func(args)
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        ("gpu", "error: --device gpu is not a torch device; use cpu, cuda or cuda:N"),
        (
            "cuda",
            "error: --device cuda: this torch has no CUDA (torch.cuda.is_available() is False); "
            "use --device cpu",
        ),
    ],
)
def test_a_device_this_torch_cannot_use_is_one_error_line(
    tiny_checkpoint, capsys, monkeypatch, device, expected
):
    """A real checkpoint: torch's own errors were an AssertionError / RuntimeError traceback."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a CPU-only torch
    monkeypatch.setattr(torch.version, "cuda", None)
    line = _serve_error(
        capsys, monkeypatch, "--checkpoint", tiny_checkpoint, "--device", device, "--no-filter"
    )
    assert line == expected


def test_a_run_directory_points_to_its_trained_model(tiny_checkpoint, capsys, monkeypatch, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "train").symlink_to(tiny_checkpoint, target_is_directory=True)
    line = _serve_error(capsys, monkeypatch, "--checkpoint", str(run_dir), "--device", "cpu")
    assert line.endswith(f"{run_dir} holds a trained model in train/: pass --checkpoint {run_dir / 'train'}")
    assert create_app(ServeConfig(checkpoint=str(run_dir / "train"), device="cpu", filter_enabled=False))
