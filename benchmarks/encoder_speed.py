"""Text encoder speed on one core: texts/s at 32, 128 and 256 tokens, batch sizes 1, 8 and 32.

    .venv/bin/python -m benchmarks.encoder_speed [--texts 48] [--runs 3] [--windows 100]

Texts: the deterministic real-text corpus (`benchmarks.corpus.load_texts`), keeping documents of
at least 256 tokens, so at each length every text is cut to exactly that many tokens (padding
plays no part in the figures). One thread (`torch.set_num_threads(1)`); each figure is the median
of `--runs` runs of `TextEncoder.embed` (tokenizing included) after a warm-up run; the runs of all
configurations are interleaved, so they share the machine's load.

Also: `TextEncoder(precision="bf16")` (the layers' matrix products in bfloat16, everything else
fp32) at batch 1 and 32, and at batch 32 dynamic int8 Linear layers
(`torch.ao.quantization.quantize_dynamic`, per-tensor and per-channel weights; built here by swapping
the encoder's private `_model`, not offered by TextEncoder), each with the cosine of its embeddings
to the fp32 ones (min and mean over the texts; the fp32 encoder itself equals transformers' BertModel
to 1e-5, see tests/test_encoder.py); and transformers' BertModel on the same token ids as the
reference speed.

Then the windows the harm tier really sends to the encoder (`--windows`, default 100: the shipped
harm detector in pre-training mode over the benchmark's real deduplicated documents), each embedded
alone as the tier does, fp32, bf16 and bf16 without packing (`encoder.pack_linears`) back to back
per window in every round: ms per window, the median per-window speed-ups, and whether packing left
every embedding bit-identical.
Then the same windows' first pass in a fresh process (`--first-pass-rounds`, default 3): each round starts
two new processes, one whose encoder only loads and one that also runs `warm_single_texts()` (oneDNN
builds a kernel per input shape the first time it meets it), and each embeds every window once, alone:
ms per window (mean over the windows, median over the rounds), what the cold process paid extra over the
pass, how many distinct token counts the windows have, and the warm-up's CPU seconds. A process builds each
length's kernels once either way, so warming never saves CPU in total (it also runs a pass per length); it
moves the building off the first texts.
Writes benchmarks/results/encoder_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

import filters.detectors.encoder as encoder_module
from benchmarks import corpus
from benchmarks.corpus import load_texts
from benchmarks.machine import cpu_probe, write_results
from filters.detectors.encoder import TextEncoder, bf16_is_native

LENGTHS = (32, 128, 256)
BATCHES = (1, 8, 32)


def long_texts(n: int) -> list[str]:
    """`n` corpus texts of at least 256 tokens (so each length cuts every text to exactly that)."""
    probe = TextEncoder(max_tokens=LENGTHS[-1])
    out: list[str] = []
    docs = load_texts(8 * n)
    for text, ids in zip(docs, probe.tokenize(docs), strict=True):
        if len(ids) == LENGTHS[-1]:
            out.append(text)
        if len(out) == n:
            return out
    raise SystemExit(f"error: the corpus gave only {len(out)} texts of {LENGTHS[-1]}+ tokens")


def int8(per_channel: bool):
    """Dynamic int8 quantization of every Linear layer (weights per tensor or per output channel)."""
    from torch import nn
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic

    qconfig = per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig
    return lambda model: quantize_dynamic(model, {nn.Linear: qconfig}, dtype=torch.qint8)


# Built here by swapping a TextEncoder's private `_model` (benchmark only; not offered by TextEncoder).
VARIANTS = {
    "int8_dynamic": int8(per_channel=False),
    "int8_dynamic_per_channel": int8(per_channel=True),
}


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def cosines(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    c = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"min": round(float(c.min()), 5), "mean": round(float(c.mean()), 5)}


def reference_fn(enc: TextEncoder, texts: list[str]):
    """transformers' BertModel (+ the same pooling) on the same ids, batch 32: the reference speed."""
    from transformers import BertModel

    ref = BertModel.from_pretrained(str(enc.model_dir), local_files_only=True).eval()
    ids = torch.tensor(enc.tokenize(texts))  # every text has the same length: no padding

    def run() -> None:
        with torch.inference_mode():
            for s in range(0, len(ids), 32):
                chunk = ids[s : s + 32]
                h = ref(input_ids=chunk, attention_mask=torch.ones_like(chunk)).last_hidden_state
                torch.nn.functional.normalize(h.mean(1), dim=1)

    return run


def bench_length(texts: list[str], length: int, runs: int) -> dict:
    """Every configuration once per round, `runs` rounds: a load change on the shared machine hits
    all of them alike, and each speed-up is the median of per-round ratios to fp32 batch 32."""
    enc = TextEncoder(max_tokens=length)
    fns = {f"fp32_batch_{b}": (lambda b=b: enc.embed(texts, batch_size=b)) for b in BATCHES}
    base = enc.embed(texts, batch_size=32)
    half = TextEncoder(max_tokens=length, precision="bf16")
    cos = {"bf16_batch_1": cosines(half.embed(texts, batch_size=1), base)}
    cos["bf16_batch_32"] = cosines(half.embed(texts, batch_size=32), base)
    for b in (1, 32):
        fns[f"bf16_batch_{b}"] = lambda b=b: half.embed(texts, batch_size=b)
    for name, convert in VARIANTS.items():
        var = TextEncoder(max_tokens=length)
        var._model = convert(var._model)  # benchmark only: TextEncoder does not offer int8
        fns[f"{name}_batch_32"] = lambda v=var: v.embed(texts, batch_size=32)
        cos[f"{name}_batch_32"] = cosines(var.embed(texts, batch_size=32), base)
    fns["transformers_bert_batch_32"] = reference_fn(enc, texts)
    for fn in fns.values():
        fn()  # warm-up
    secs: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(runs):
        for k, fn in fns.items():
            secs[k].append(timed(fn))
    row: dict = {"tokens": length, "texts": len(texts)}
    for k, v in secs.items():
        ratio = [b / a for a, b in zip(v, secs["fp32_batch_32"], strict=True)]
        row[k] = {
            "texts_per_s": round(len(texts) / statistics.median(v), 1),
            "speed_vs_fp32_batch_32": round(statistics.median(ratio), 2),
        }
        if k in cos:
            row[k]["cosine_to_fp32"] = cos[k]
    return row


def harm_windows(n: int) -> list[str]:
    """The first `n` windows the shipped harm tier (pre-training, confirm) sends to the encoder on the
    benchmark's real deduplicated documents, as the encoder reads them."""
    from benchmarks.corpus import real_documents
    from filters.detectors.harm import HarmDetector

    harm = HarmDetector(encoder="required", mode="pretrain")
    seen: list[str] = []
    real = harm.encoder.embed
    harm.encoder.embed = lambda batch, **kw: seen.extend(batch) or real(batch, **kw)
    docs = [t for _, t in real_documents(seed=0)]
    for start in range(0, len(docs), 64):
        harm.detect_batch(docs[start : start + 64])
        if len(seen) >= n:
            return seen[:n]
    raise SystemExit(f"error: the corpus gave only {len(seen)} encoder windows")


def unpacked_bf16() -> TextEncoder:
    """bf16 products with the weights left row-major (what explicit bf16 runs on a CPU without AMX):
    built with the AMX probe answering no, so `pack_linears` is not called."""
    saved = encoder_module.bf16_is_native
    encoder_module.bf16_is_native = lambda: False
    try:
        return TextEncoder(max_tokens=128, precision="bf16")
    finally:
        encoder_module.bf16_is_native = saved


def bench_harm_windows(windows: list[str], runs: int) -> dict:
    """ms per window at batch 1 (how the harm tier calls the encoder) in fp32, bf16 (weights packed for
    oneDNN where the CPU has AMX) and bf16 unpacked: each round times every window in all three back to
    back; per window the median over rounds."""
    encs = {p: TextEncoder(max_tokens=128, precision=p) for p in ("fp32", "bf16")}
    encs["bf16_unpacked"] = unpacked_bf16()
    for e in encs.values():
        e.embed(windows[:4])  # warm-up
    ms: dict[str, list[list[float]]] = {p: [[] for _ in windows] for p in encs}
    for _ in range(runs):
        for i, w in enumerate(windows):
            for p, e in encs.items():
                ms[p][i].append(1000 * timed(lambda e=e, w=w: e.embed([w])))
    per = {p: [statistics.median(v) for v in rows] for p, rows in ms.items()}
    tokens = [len(ids) for ids in encs["fp32"].tokenize(windows)]
    alone = {p: np.concatenate([e.embed([w]) for w in windows]) for p, e in encs.items()}  # as the tier does

    def speedup(slow: str, fast: str) -> float:
        return round(statistics.median(a / b for a, b in zip(per[slow], per[fast], strict=True)), 2)

    return {
        "windows": len(windows),
        "median_tokens": statistics.median(tokens),
        "bf16_packed": encs["bf16"].packed,
        "ms_per_window_median": {p: round(statistics.median(v), 2) for p, v in per.items()},
        "bf16_speedup_median": speedup("fp32", "bf16"),
        "packing_speedup_median": speedup("bf16_unpacked", "bf16"),
        "cosine_bf16_to_fp32": cosines(alone["bf16"], alone["fp32"]),
        "packed_equals_unpacked_bitwise": bool(np.array_equal(alone["bf16"], alone["bf16_unpacked"])),
    }


def first_pass_child(mode: str, windows_file: str) -> None:
    """In this fresh process: load the encoder as the harm tier does (128 tokens, precision "auto"),
    warm it if `mode` is "warmed", then embed every window once, alone; print the CPU times as JSON."""
    torch.set_num_threads(1)
    windows = json.loads(Path(windows_file).read_text(encoding="utf-8"))
    enc = TextEncoder(max_tokens=128, precision="auto")
    start = time.process_time()
    if mode == "warmed":
        enc.warm_single_texts()
    warm_s = time.process_time() - start
    ms = []
    for w in windows:
        start = time.process_time()
        enc.embed([w])
        ms.append(1000 * (time.process_time() - start))
    print(
        json.dumps({"warm_cpu_s": warm_s, "ms_per_window_mean": statistics.fmean(ms), "packed": enc.packed})
    )


def bench_first_pass(windows: list[str], rounds: int) -> dict:
    """Cold (load only) against warmed (`warm_single_texts` after load), each in fresh processes, the
    order alternated per round."""
    runs: dict[str, list[dict]] = {"cold": [], "warmed": []}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "windows.json"
        path.write_text(json.dumps(windows), encoding="utf-8")
        for r in range(rounds):
            for mode in ("cold", "warmed") if r % 2 == 0 else ("warmed", "cold"):
                cmd = [
                    sys.executable,
                    "-m",
                    "benchmarks.encoder_speed",
                    "--first-pass-child",
                    mode,
                    str(path),
                ]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                runs[mode].append(json.loads(out.strip().splitlines()[-1]))
    cold = statistics.median(x["ms_per_window_mean"] for x in runs["cold"])
    warmed = statistics.median(x["ms_per_window_mean"] for x in runs["warmed"])
    warm_s = statistics.median(x["warm_cpu_s"] for x in runs["warmed"])
    counts = {len(ids) for ids in TextEncoder(max_tokens=128).tokenize(windows)}
    return {
        "windows": len(windows),
        "rounds": rounds,
        "packed": runs["warmed"][0]["packed"],
        "ms_per_window_first_pass": {"cold": round(cold, 2), "warmed": round(warmed, 2)},
        "cold_extra_ms_over_the_pass": round((cold - warmed) * len(windows), 1),
        "distinct_token_counts": len(counts),
        "warm_up_cpu_s": round(warm_s, 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=48, help="texts per length (default 48)")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument("--windows", type=int, default=100, help="harm-tier encoder windows timed one by one")
    parser.add_argument(
        "--first-pass-rounds", type=int, default=3, help="fresh-process rounds, cold vs warmed"
    )
    parser.add_argument("--first-pass-child", nargs=2, metavar=("MODE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.first_pass_child:
        first_pass_child(*args.first_pass_child)
        return
    for flag, value, least in (
        ("--texts", args.texts, 8),
        ("--runs", args.runs, 1),
        ("--windows", args.windows, 4),
        ("--first-pass-rounds", args.first_pass_rounds, 1),
    ):
        if value < least:
            print(f"error: {flag} must be at least {least}, got {value}", file=sys.stderr)
            sys.exit(2)
    if corpus.data_missing((*corpus.POOLS_NEED, "web")):  # load_texts samples the pools; the windows: web
        sys.exit(2)
    torch.set_num_threads(1)
    texts = long_texts(args.texts)
    rows = []
    for length in LENGTHS:
        rows.append(bench_length(texts, length, args.runs))
        print(rows[-1], flush=True)
    sent = harm_windows(args.windows)  # the windows the shipped tier sends, found once for both parts
    windows = bench_harm_windows(sent, args.runs)
    print("harm encoder windows", windows, flush=True)
    first_pass = bench_first_pass(sent, args.first_pass_rounds)
    print("first pass in a fresh process", first_pass, flush=True)
    method = (
        f"TextEncoder.embed texts/s on one thread, tokenizing included: {args.texts} real texts cut to each "
        f"length, median of {args.runs} runs after a warm-up run, the runs of all configurations interleaved"
    )
    figures = {
        "cpu_probe_s": cpu_probe(),
        "torch_threads": torch.get_num_threads(),
        "bf16_is_native": bf16_is_native(),
        "results": rows,
        "harm_windows": windows,
        "first_pass": first_pass,
    }
    path = write_results(
        "encoder_speed", figures, method=method, packages=("torch", "tokenizers", "transformers")
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
