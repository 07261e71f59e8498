"""How many characters lid.176 needs: cost and agreement of reading 2,000 / 1,000 / 600 characters.

    taskset -c 1 .venv/bin/python -m benchmarks.langid_cut [--data ../shared/data]

Documents: ~4 KB clean English prose (WikiText valid, TinyStories, Moby Dick; 150 each) and one ~4 KB
document per language of the lingua sentences (odd rows, the held-out half of eval_langid). Cost is CPU
time per document (median of 5 interleaved passes, one document per call as in a pipeline batch of one);
agreement is against reading 2,000 characters (the old default): labels changed and scores that cross the
policy's 0.65. Writes benchmarks/results/langid_cut.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import SHARED_DATA, machine_info, require_writable_file, shared_data_missing  # noqa: E402
from filters.detectors.langid import LangIdDetector  # noqa: E402
from scripts.harm_data import prose_documents, prose_text  # noqa: E402

CUTS = (2000, 1000, 600)
PROSE = ("wikitext2_valid.txt", "tinystories_head.txt", "gutenberg/pg2701.txt")
MIN_SCORE = 0.65


def documents(data: Path) -> list[str]:
    docs = [d for f in PROSE for d in prose_documents(prose_text(data / "clean_text" / f))[:150]]
    by_lang: dict[str, list[str]] = {}
    with open(data / "langid" / "lingua_sentences_75lang_250each.tsv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
            by_lang.setdefault(r["lang"], []).append(r["text"])
    return docs + [" ".join(v[1::2])[:4000] for _, v in sorted(by_lang.items())]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=SHARED_DATA, help="the shared data folder")
    ap.add_argument(
        "--out",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "langid_cut.json",
        help="where the JSON goes",
    )
    args = ap.parse_args(argv)
    needs = (*(f"clean_text/{f}" for f in PROSE), "langid/lingua_sentences_75lang_250each.tsv")
    require_writable_file(args.out, "--out")
    if any(shared_data_missing(args.data, need) for need in needs):
        return 2
    docs = documents(args.data)
    dets = {n: LangIdDetector(max_chars=n) for n in CUTS}
    for d in dets.values():
        d.detect_batch(docs[:5])
    times: dict[int, list[float]] = {n: [] for n in CUTS}
    for _ in range(5):
        for n, d in dets.items():
            t0 = time.process_time()
            for x in docs:
                d.detect_batch([x])
            times[n].append((time.process_time() - t0) / len(docs) * 1e3)
    ref = dets[CUTS[0]].detect_batch(docs)
    res: dict = {
        "command": "python -m benchmarks.langid_cut",
        "machine": machine_info(),
        "documents": len(docs),
    }
    for n, d in dets.items():
        out = d.detect_batch(docs)
        res[str(n)] = {
            "cpu_ms_per_doc_median": round(statistics.median(times[n]), 3),
            "cpu_ms_runs": [round(t, 3) for t in times[n]],
            "labels_changed": sum(
                a.labels["lang"] != b.labels["lang"] for a, b in zip(out, ref, strict=True)
            ),
            "crossing_min_score": sum(
                (a.scores["lang_score"] >= MIN_SCORE) != (b.scores["lang_score"] >= MIN_SCORE)
                for a, b in zip(out, ref, strict=True)
            ),
        }
        print(n, res[str(n)])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
