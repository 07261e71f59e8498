"""Checkpoints: safetensors weights + config.json + trainer_state.pt (optimizer, scheduler, RNG, data cursor).

Written to a temp dir and renamed into place, so a crash never leaves a half checkpoint; the last k are kept.
trainer_state.pt holds only tensors and plain containers and is read back with torch.load(weights_only=True).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from kit.files import replace_dir

_STEP_DIR = re.compile(r"^step-(\d{8})$")
WEIGHTS, CONFIG, STATE, TOKENIZER = "model.safetensors", "config.json", "trainer_state.pt", "tokenizer.json"


def list_checkpoints(root: str | Path) -> list[Path]:
    """Complete checkpoints under root, oldest first (temp dirs never match the step-NNNNNNNN name)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP_DIR.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def latest_checkpoint(root: str | Path) -> Path | None:
    ckpts = list_checkpoints(root)
    return ckpts[-1] if ckpts else None


def save_checkpoint(
    root: str | Path,
    step: int,
    weights: dict[str, torch.Tensor],
    config: dict,
    state: dict,
    tokenizer_path: str | Path | None,
    keep: int,
) -> Path:
    """Write step-NNNNNNNN atomically, then drop all but the newest `keep` checkpoints."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:08d}"
    tmp = root / f".tmp-step-{step:08d}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    save_file({k: v.detach().contiguous().cpu() for k, v in weights.items()}, str(tmp / WEIGHTS))
    (tmp / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")
    torch.save(state, tmp / STATE)
    if tokenizer_path is not None and Path(tokenizer_path).is_file():
        shutil.copyfile(tokenizer_path, tmp / TOKENIZER)
    replace_dir(tmp, final)  # a rerun that reached the same step replaces it
    for stale in list_checkpoints(root)[:-keep]:
        shutil.rmtree(stale)
    return final


def load_weights(ckpt: str | Path) -> dict[str, torch.Tensor]:
    return load_file(str(Path(ckpt) / WEIGHTS))


def load_config_json(ckpt: str | Path) -> dict:
    return json.loads((Path(ckpt) / CONFIG).read_text(encoding="utf-8"))


def load_state(ckpt: str | Path) -> dict:
    """Trainer state; weights_only=True refuses anything but tensors and plain containers."""
    return torch.load(Path(ckpt) / STATE, map_location="cpu", weights_only=True)
