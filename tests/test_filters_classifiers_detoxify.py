"""DetoxifyDetector's real loading code on a tiny checkpoint made here, and its refusals."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest

# torch is a core dependency and transformers a dev one (`make` installs both): a broken install fails here
import torch
import transformers  # noqa: F401  (imported here so that its absence fails the file)

from filters.detectors.detoxify_backend import DetoxifyDetector, DetoxifyLoadError

CLASSES = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
WORDS = [
    "the",
    "a",
    "you",
    "are",
    "is",
    "an",
    "idiot",
    "nice",
    "day",
    "hello",
    "world",
    "this",
    "good",
    "bad",
    "really",
    "very",
    "stupid",
    "people",
]


def _make(tmp: Path, n_labels: int = 6, classes: list[str] | None = None) -> tuple[Path, Path, object]:
    """A tiny random BERT in detoxify's checkpoint layout plus a local HF config/tokenizer dir."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    hf = tmp / "hf"
    hf.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, ",", ".", "!"]
    (hf / "vocab.txt").write_text("\n".join(vocab) + "\n")
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=24,
        num_labels=n_labels,
    )
    config.save_pretrained(hf)
    BertTokenizer(str(hf / "vocab.txt")).save_pretrained(hf)
    torch.manual_seed(0)
    model = BertForSequenceClassification(config).eval()
    ckpt = tmp / "model.ckpt"
    torch.save(
        {
            "config": {
                "arch": {"args": {"model_type": "bert-base-uncased", "num_classes": len(classes or CLASSES)}},
                "dataset": {"args": {"classes": classes or CLASSES}},
            },
            "state_dict": model.state_dict(),
        },
        ckpt,
    )
    return ckpt, hf, model


def test_loads_and_matches_unbatched_forward(tmp_path):
    ckpt, hf, model = _make(tmp_path)
    from transformers import BertTokenizer

    texts = ["you are an idiot", "", "hello world " * 40, "nice day", "this is really very bad people !"]
    det = DetoxifyDetector(str(ckpt), str(hf), batch_size=2)
    res = det.detect_batch(texts)
    tok = BertTokenizer(str(hf / "vocab.txt"))
    for text, r in zip(texts, res, strict=True):
        enc = tok(text, truncation=True, max_length=24, return_tensors="pt")
        with torch.no_grad():
            ref = torch.sigmoid(model(**enc).logits)[0]
        got = [
            r.scores[f"detoxify_{lab}"]
            for lab in ["toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"]
        ]
        assert got == pytest.approx(ref.tolist(), abs=1e-5)
        assert r.scores["hate"] == r.scores["detoxify_identity_attack"]
        assert r.scores["harassment"] == max(r.scores["detoxify_insult"], r.scores["detoxify_threat"])
        assert r.scores["toxicity"] == max(
            r.scores["detoxify_toxicity"], r.scores["detoxify_severe_toxicity"]
        )
    # long input was truncated to the model's 24 positions instead of failing
    assert det.load()[3] == 24
    clone = pickle.loads(pickle.dumps(det))
    assert clone._state is None and clone.detect_batch(texts[:2]) == res[:2]
    assert det.detect_batch([]) == []


def test_refuses_tokenizer_without_vocab(tmp_path):
    ckpt, hf, _ = _make(tmp_path)
    (hf / "vocab.txt").unlink()
    for extra in hf.glob("tokenizer*.json"):
        extra.unlink()
    with pytest.raises((DetoxifyLoadError, OSError, ValueError)) as err:
        DetoxifyDetector(str(ckpt), str(hf)).load()
    assert "vocab" in str(err.value).lower() or "tokenizer" in str(err.value).lower()


def test_refuses_vocab_size_mismatch(tmp_path):
    ckpt, hf, _ = _make(tmp_path)
    cfg = json.loads((hf / "config.json").read_text())
    cfg["vocab_size"] += 7
    (hf / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(DetoxifyLoadError, match="vocab_size"):
        DetoxifyDetector(str(ckpt), str(hf)).load()


def test_refuses_head_label_mismatch(tmp_path):
    ckpt, hf, _ = _make(tmp_path, n_labels=3)  # head has 3 outputs, checkpoint names 6 classes
    with pytest.raises(DetoxifyLoadError, match="head has 3"):
        DetoxifyDetector(str(ckpt), str(hf)).load()


def test_refuses_pickled_code(tmp_path):
    _, hf, _ = _make(tmp_path)
    evil = tmp_path / "evil.ckpt"
    torch.save({"config": {}, "state_dict": {}, "payload": shutil.rmtree}, evil)
    with pytest.raises(DetoxifyLoadError, match="weights_only"):
        DetoxifyDetector(str(evil), str(hf)).load()


def test_safetensors_checkpoint(tmp_path):
    from safetensors.torch import save_file

    _, hf, model = _make(tmp_path)
    st = tmp_path / "model.safetensors"
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(st),
        metadata={"classes": json.dumps(CLASSES)},
    )
    det = DetoxifyDetector(str(st), str(hf))
    (r,) = det.detect_batch(["you are an idiot"])
    assert set(r.scores) >= {"detoxify_toxicity", "toxicity", "hate", "profanity", "harassment", "violence"}
