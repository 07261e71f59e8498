"""Quality detector speed vs datatrove's own filters, same documents, same run, one core.

    .venv/bin/python -m benchmarks.quality_speed [--docs 400]

Reference: datatrove's GopherQualityFilter + GopherRepetitionFilter + C4QualityFilter +
FineWebQualityFilter (default parameters), each run on every document (what
`QualityDetector()` evaluates: all four checks, every rule). Documents: the
deterministic ~4 KB real-text corpus (`benchmarks.corpus.load_texts`). Also
checks that both sides take the same keep/drop decision per check. One timed pass per side after a
warm-up (spaCy loaded, datatrove's filters called once); pin it to one core (`taskset -c 1`).
Writes benchmarks/results/quality_speed.json.

NOT a fair speed comparison: the sampled corpus repeats paragraphs, which feeds winnow's per-chunk
tokenizer cache and not datatrove's filters, and each side gets one timed pass. Its ratio is an upper bound
under this corpus; its use is the parity check (same first failing rule). The fair speed comparison is
benchmarks.filter_speed (real deduplicated documents, cold, median over sets).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from benchmarks import corpus
from benchmarks.corpus import load_texts
from benchmarks.machine import machine_info, positive_int, write_results


def run(num_docs: int) -> dict:
    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    from filters.detectors.quality import CHECKS, QualityDetector

    docs = load_texts(num_docs)
    det = QualityDetector()
    det.detect_batch(docs[:5])  # load spaCy outside the timing
    t0, c0 = time.perf_counter(), time.process_time()
    ours = det.detect_batch(docs)
    ours_s, ours_cpu = time.perf_counter() - t0, time.process_time() - c0

    ref = {
        "gopher_quality": GopherQualityFilter(),
        "gopher_repetition": GopherRepetitionFilter(),
        "c4": C4QualityFilter(),
        "fineweb": FineWebQualityFilter(),
    }
    for f in ref.values():
        f.filter(Document(text=docs[0], id="warm"))
    reasons = {c: [] for c in CHECKS}
    t0, c0 = time.perf_counter(), time.process_time()
    for i, text in enumerate(docs):
        for c, f in ref.items():
            r = f.filter(Document(text=text, id=str(i)))
            reasons[c].append("" if r is True else r[1])
    ref_s, ref_cpu = time.perf_counter() - t0, time.process_time() - c0
    expected = [next((f"{c}:{reasons[c][i]}" for c in CHECKS if reasons[c][i]), "") for i in range(len(docs))]
    same = sum(o.labels["quality_reason"] == e for o, e in zip(ours, expected, strict=True))
    return {
        "docs": len(docs),
        "mean_chars": sum(map(len, docs)) / len(docs),
        "ours_docs_per_s": len(docs) / ours_s,
        "datatrove_docs_per_s": len(docs) / ref_s,
        "speedup": ref_s / ours_s,
        "ours_docs_per_cpu_s": len(docs) / ours_cpu,
        "datatrove_docs_per_cpu_s": len(docs) / ref_cpu,
        "speedup_cpu": ref_cpu / ours_cpu,
        "same_first_reason": same / len(docs),
        "removed_ours": sum(o.scores["low_quality"] == 1.0 for o in ours),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=positive_int, default=400)
    args = ap.parse_args(argv)
    if corpus.data_missing():
        sys.exit(2)
    res = run(args.docs)
    m = machine_info("datatrove", "spacy")
    print(
        f"# Quality detector vs datatrove ({m['date']}, nproc {m['nproc']}, {m['memory_gib']} GiB, 1 core)\n"
    )
    print(f"{res['docs']} docs, mean {res['mean_chars']:.0f} chars\n")
    print("| implementation | docs/s (wall) | docs/s per CPU-second | ratio (CPU) |\n|---|---|---|---|")
    print(
        f"| datatrove Gopher quality + repetition + C4 + FineWeb | {res['datatrove_docs_per_s']:,.1f} | "
        f"{res['datatrove_docs_per_cpu_s']:,.1f} | 1.0× |"
    )
    print(
        f"| winnow QualityDetector (same 4 checks) | {res['ours_docs_per_s']:,.1f} | "
        f"{res['ours_docs_per_cpu_s']:,.1f} | {res['speedup_cpu']:.1f}× |"
    )
    print(f"\nsame first failing rule as datatrove on {res['same_first_reason']:.1%} of documents")
    print(
        "\nNOT a fair speed comparison (repeated paragraphs feed winnow's cache, one pass per side): the ratio "
        "is an upper bound; see benchmarks.filter_speed for the fair one."
    )
    method = (
        "NOT a fair speed comparison (tilted toward winnow; the ratio is an upper bound): "
        "one timed pass per side (one run, no repeats) after a warm-up on the first documents (QualityDetector "
        "on 5, each datatrove filter on 1); the sampled corpus repeats paragraphs, so winnow's per-chunk "
        "tokenizer cache hits within the pass (real deduplicated documents: benchmarks.filter_speed); the two "
        "sides run one after the other in one process, one thread (OMP_NUM_THREADS=1); docs per second of "
        "wall time and of process CPU time; parity = same first failing rule per document"
    )
    write_results("quality_speed", res, method=method, machine=m)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
