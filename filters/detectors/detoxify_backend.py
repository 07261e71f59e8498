"""Detoxify models, loaded safely and offline (optional extra `winnow[detoxify]`).

detoxify's own loader unpickles checkpoints with `torch.load(weights_only=False)`
(arbitrary code execution on an untrusted file) and always calls
`from_pretrained` with the base model's hub name (network). This loader:

- reads a detoxify `.ckpt` ({"config": ..., "state_dict": ...}) with
  `torch.load(weights_only=True)`, or a `.safetensors` state dict (labels from
  its metadata key "classes", a JSON list, else from the HF config's id2label);
- builds the model from a local Hugging Face config/tokenizer directory with
  `local_files_only=True`; nothing is fetched;
- refuses a tokenizer whose size differs from the config's `vocab_size`
  (transformers 5 silently builds a 5-token vocabulary when `vocab.txt` is
  missing), a classification head whose label count differs from the
  checkpoint's classes, and any state-dict key or shape mismatch;
- truncates inputs to the model's maximum length, and batches them sorted by
  length with per-batch (dynamic) padding, restoring the input order.

Score keys: every detoxify label as `detoxify_<label>` plus policy categories
(`LABEL_TO_CATEGORY`, maximum where several labels map to one):
toxicity, severe_toxicity -> toxicity; identity_attack -> hate;
insult, threat -> harassment; threat -> violence; obscene -> profanity;
sexual_explicit -> sexual.

The class is picklable (only paths and options) and loads the model lazily,
so the pipeline can build it inside a Ray (GPU) actor.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from filters.detectors.base import DetectorResult

# detoxify's own renames (detoxify.detoxify.load_checkpoint) to canonical names
_CANONICAL = {
    "toxic": "toxicity",
    "identity_hate": "identity_attack",
    "severe_toxic": "severe_toxicity",
}
LABEL_TO_CATEGORY: dict[str, tuple[str, ...]] = {
    "toxicity": ("toxicity",),
    "severe_toxicity": ("toxicity",),
    "identity_attack": ("hate",),
    "insult": ("harassment",),
    "threat": ("harassment", "violence"),
    "obscene": ("profanity",),
    "sexual_explicit": ("sexual",),
}
_CHARS_PER_TOKEN_CAP = 32  # texts are cut to max_length * this many characters before tokenizing


class DetoxifyLoadError(ValueError):
    """The checkpoint, config or tokenizer is unsafe, incomplete or inconsistent."""


def _head_rows(state_dict: dict[str, Any]) -> int | None:
    """Output rows of the classification head (BERT: classifier.weight; RoBERTa: classifier.out_proj.weight)."""
    for key in ("classifier.out_proj.weight", "classifier.weight"):
        if key in state_dict:
            return int(state_dict[key].shape[0])
    return None


def load_checkpoint(path: str) -> tuple[dict[str, Any], list[str]]:
    """(state_dict, class names) from a detoxify .ckpt (weights_only) or a .safetensors file."""
    import torch

    p = Path(path)
    if p.suffix == ".safetensors":
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
        classes = json.loads(meta["classes"]) if "classes" in meta else []
        return load_file(str(p)), classes
    try:
        loaded = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as e:  # pickle with code in it, or not a torch file
        raise DetoxifyLoadError(
            f"detoxify: refusing {p.name}: not loadable with weights_only=True ({e})"
        ) from e
    if not isinstance(loaded, dict) or "state_dict" not in loaded:
        raise DetoxifyLoadError(
            f"detoxify: {p.name} is not a detoxify checkpoint ({{'config', 'state_dict'}})"
        )
    config = loaded.get("config") or {}
    classes = list(config.get("dataset", {}).get("args", {}).get("classes", []))
    n_classes = config.get("arch", {}).get("args", {}).get("num_classes")
    if n_classes is not None and classes and int(n_classes) != len(classes):
        raise DetoxifyLoadError(f"detoxify: config says {n_classes} classes but lists {len(classes)}")
    return loaded["state_dict"], classes


class DetoxifyDetector:
    """A local detoxify checkpoint + local HF config/tokenizer directory, batched."""

    name = "detoxify"

    def __init__(
        self,
        checkpoint: str,
        hf_dir: str,
        device: str = "cpu",
        batch_size: int = 32,
        max_length: int | None = None,
    ):
        self.checkpoint = str(checkpoint)
        self.hf_dir = str(hf_dir)
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self._state: tuple[Any, Any, list[str], int] | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint,
            "hf_dir": self.hf_dir,
            "device": self.device,
            "batch_size": self.batch_size,
            "max_length": self.max_length,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def load(self) -> tuple[Any, Any, list[str], int]:
        """(model, tokenizer, labels, max_length); validated, built once."""
        with self._lock:
            if self._state is None:
                self._state = self._build()
        return self._state

    def _build(self) -> tuple[Any, Any, list[str], int]:
        try:
            from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer
        except ImportError as e:  # pragma: no cover - depends on the optional extra
            raise ImportError("DetoxifyDetector needs `pip install winnow[detoxify]` (transformers)") from e

        state_dict, classes = load_checkpoint(self.checkpoint)
        config = AutoConfig.from_pretrained(self.hf_dir, local_files_only=True)
        if not classes:
            id2label = getattr(config, "id2label", None) or {}
            classes = [id2label[i] for i in sorted(id2label)]
        labels = [_CANONICAL.get(c, c) for c in classes]
        head = _head_rows(state_dict)
        if head is None:
            raise DetoxifyLoadError("detoxify: no classification head (classifier.weight) in the checkpoint")
        if head != len(labels):
            raise DetoxifyLoadError(
                f"detoxify: head has {head} outputs but the checkpoint names {len(labels)} labels"
            )
        config.num_labels = head
        config.problem_type = "multi_label_classification"

        tokenizer = AutoTokenizer.from_pretrained(self.hf_dir, local_files_only=True)
        if len(tokenizer) != config.vocab_size:
            raise DetoxifyLoadError(
                f"detoxify: tokenizer in {self.hf_dir} has {len(tokenizer)} tokens but the config's vocab_size is "
                f"{config.vocab_size} (missing or wrong vocab file?)"
            )
        model = AutoModelForSequenceClassification.from_config(config)
        missing, unexpected = model.load_state_dict(state_dict, strict=False)
        missing = [k for k in missing if not k.endswith("position_ids")]
        unexpected = [k for k in unexpected if not k.endswith("position_ids")]
        if missing or unexpected:
            raise DetoxifyLoadError(
                f"detoxify: checkpoint does not match the config: missing {missing[:5]}, unexpected {unexpected[:5]}"
            )
        model.eval().to(self.device)

        limit = int(getattr(config, "max_position_embeddings", 512))
        if config.model_type in ("roberta", "xlm-roberta", "camembert"):
            limit -= 2  # positions start after the padding index
        tok_max = getattr(tokenizer, "model_max_length", None)
        if isinstance(tok_max, int) and 0 < tok_max < 1_000_000:
            limit = min(limit, tok_max)
        if self.max_length:
            limit = min(limit, self.max_length)
        return model, tokenizer, labels, limit

    def predict(self, texts: list[str]) -> np.ndarray:
        """Sigmoid probabilities, shape (len(texts), n_labels), in input order."""
        import torch

        model, tokenizer, labels, limit = self.load()
        if not texts:
            return np.zeros((0, len(labels)), dtype=np.float32)
        clean = []
        for t in texts:
            t = t if isinstance(t, str) else ("" if t is None else str(t))
            clean.append(t[: limit * _CHARS_PER_TOKEN_CAP].encode("utf-8", "replace").decode("utf-8"))
        enc = tokenizer(clean, truncation=True, max_length=limit, padding=False)["input_ids"]
        order = sorted(range(len(enc)), key=lambda i: (len(enc[i]), i))
        out = np.zeros((len(texts), len(labels)), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = tokenizer.pad({"input_ids": [enc[i] for i in idx]}, return_tensors="pt")
                batch = {k: v.to(self.device) for k, v in batch.items()}
                logits = model(**batch).logits.float()
                out[idx] = torch.sigmoid(logits).cpu().numpy()
        return out

    def detect_batch(self, texts: list[str]) -> list[DetectorResult]:
        _, _, labels, _ = self.load()
        probs = self.predict(texts)
        results = []
        for row in probs:
            scores = {f"detoxify_{lab}": float(p) for lab, p in zip(labels, row, strict=True)}
            for lab, p in zip(labels, row, strict=True):
                for cat in LABEL_TO_CATEGORY.get(lab, ()):
                    scores[cat] = max(scores.get(cat, 0.0), float(p))
            results.append(DetectorResult(scores=scores))
        return results
