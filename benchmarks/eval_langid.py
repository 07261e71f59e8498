"""Language ID: lid.176 alone vs lid.176 + py3langid (the shipped detector), held-out half.

    .venv/bin/python -m benchmarks.eval_langid [--quick]

Data: ../shared/data/langid (lingua-py's test sentences and two-word snippets, 75 languages;
Leipzig Wortschatz text). Split fixed before tuning: within each language, rows 0, 2, 4, ...
("tune") chose the fusion weight, the unsure threshold and the score rule
(filters/detectors/langid_fusion.py); rows 1, 3, 5, ... ("test") are reported here. Both are
shown; only "test" is held out. These are lingua's own evaluation sentences: any lingua figure
on them (the optional candidate rows) is NOT held out for lingua.

Reports per-language and macro accuracy (sentences, two-word snippets, ~200-character
paragraphs made of two test sentences, ~4 KB documents), confusion counts inside the usual
confusable groups, what the default policy's language rule (keep list, min_score) keeps, and
speed per ~4 KB document on one pinned core: on the 4 KB documents above (75 languages
equally, a stress case: lid.176 is unsure of a quarter of them) and on the project's benchmark
corpus (benchmarks/corpus.py, `--corpus` documents, mostly English web and book text). Norwegian: lingua's "nb" is lid.176's "no".
Optional reference rows (`--candidates`): py3langid alone; lingua and cld3 when importable
(not project dependencies). Writes benchmarks/results/eval_langid.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from benchmarks.corpus import load_texts  # noqa: E402
from benchmarks.machine import (  # noqa: E402
    SHARED_DATA,
    code_version,
    cpu_model,
    require_writable_file,
    shared_data_missing,
)
from filters.detectors.langid import LangIdDetector, LangIdTwoModels, Lid176Detector  # noqa: E402
from filters.detectors.langid_fusion import DEFAULT_UNSURE  # noqa: E402
from filters.detectors.langid_rare import RareLanguages  # noqa: E402

DATA = SHARED_DATA / "langid"
OUT = ROOT / "benchmarks" / "results" / "eval_langid.json"
SENTENCES = "lingua_sentences_75lang_250each.tsv"
WORD_PAIRS = "lingua_word_pairs_75lang_100each.tsv"
CORPUS_NEEDS = ("clean_text", "toxicity", "pii")  # what benchmarks.corpus reads beside langid/
GROUPS = [
    ["bs", "hr", "sr"],
    ["ms", "id"],
    ["no", "nn", "da"],
    ["af", "nl"],
    ["mk", "bg"],
    ["ru", "uk", "be"],
    ["zh", "ja"],
]
DOC_BYTES = 4096
TWO_MODELS = "lid.176 + py3langid"
SHIPPED = "lid.176 + py3langid + mi/tn/ts (shipped)"
Predict = Callable[[list[str]], list[tuple[str, float]]]


def gold(lang: str) -> str:
    """lingua's code as lid.176 writes it (Bokmal is "no")."""
    return {"nb": "no"}.get(lang, lang)


def load(name: str) -> dict[str, list[tuple[str, str]]]:
    """{"tune": [(lang, text)], "test": [...]}: even rows per language tune, odd rows test."""
    path = DATA / name
    if shared_data_missing(DATA, name):
        sys.exit(2)
    seen: Counter[str] = Counter()
    split: dict[str, list[tuple[str, str]]] = {"tune": [], "test": []}
    with path.open(encoding="utf-8", newline="") as fh:
        rows = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(rows)
        for lang, text in rows:
            split["tune" if seen[lang] % 2 == 0 else "test"].append((gold(lang), text))
            seen[lang] += 1
    return split


def paragraphs(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Two consecutive same-language sentences joined (~200 characters)."""
    by: dict[str, list[str]] = {}
    for lang, text in rows:
        by.setdefault(lang, []).append(text)
    return [
        (lang, f"{ts[i]} {ts[i + 1]}") for lang, ts in sorted(by.items()) for i in range(0, len(ts) - 1, 2)
    ]


def documents(rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Same-language sentences joined into documents of ~4 KB (UTF-8), cut at a character."""
    by: dict[str, list[str]] = {}
    for lang, text in rows:
        by.setdefault(lang, []).append(text)
    docs = []
    for lang, ts in sorted(by.items()):
        buf: list[str] = []
        size = 0
        for t in ts:
            buf.append(t)
            size += len(t.encode("utf-8")) + 1
            if size >= DOC_BYTES:
                docs.append((lang, " ".join(buf).encode("utf-8")[:DOC_BYTES].decode("utf-8", "ignore")))
                buf, size = [], 0
    return docs


def accuracy(rows: list[tuple[str, str]], preds: list[tuple[str, float]], known: set[str] | None) -> dict:
    """Per-language accuracy, macro over all languages and over those the model can name."""
    hits: dict[str, list[bool]] = {}
    for (lang, _), (pred, _) in zip(rows, preds, strict=True):
        hits.setdefault(lang, []).append(pred == lang)
    per = {lang: round(sum(h) / len(h), 4) for lang, h in sorted(hits.items())}
    out = {"macro": round(statistics.fmean(per.values()), 4), "n": len(rows), "per_language": per}
    if known is not None:
        named = [v for lang, v in per.items() if lang in known]
        out["macro_named"] = round(statistics.fmean(named), 4)
        out["languages_named"] = len(named)
    return out


def confusions(rows: list[tuple[str, str]], preds: list[tuple[str, float]]) -> dict[str, dict[str, int]]:
    """gold -> {predicted: count} inside each confusable group (gold in the group)."""
    out: dict[str, dict[str, int]] = {}
    for group in GROUPS:
        for g in group:
            c = Counter(p for (lang, _), (p, _) in zip(rows, preds, strict=True) if lang == g)
            out[g] = {p: c[p] for p in group if c[p]} | {
                "other": sum(v for p, v in c.items() if p not in group)
            }
    return out


def policy_effect(rows: list[tuple[str, str]], preds: list[tuple[str, float]]) -> dict[str, float]:
    """Default policy's language rule: share of keep-list texts kept, of other texts kept."""
    cat = yaml.safe_load((ROOT / "filters" / "default_policy.yaml").read_text())["categories"]["language"]
    keep, floor = set(cat["keep"]), float(cat["min_score"])
    kept = [p in keep and s >= floor for p, s in preds]
    ink = [lang in keep for lang, _ in rows]
    kk = [k for k, i in zip(kept, ink, strict=True) if i]
    ko = [k for k, i in zip(kept, ink, strict=True) if not i]
    return {
        "min_score": floor,
        "keep_list_kept": round(sum(kk) / len(kk), 4),
        "others_kept": round(sum(ko) / len(ko), 4),
    }


def speed(models: dict[str, Predict], sets: dict[str, list[str]], repeats: int) -> dict[str, dict]:
    """Median ms per document; the models take turns in each round, so load swings hit all alike."""
    runs: dict[str, dict[str, list[float]]] = {n: {k: [] for k in sets} for n in models}
    for predict in models.values():
        for docs in sets.values():
            predict(docs[:20])  # warm-up: models loaded
    for _ in range(repeats):
        for key, docs in sets.items():
            for name, predict in models.items():
                t0 = time.perf_counter()
                predict(docs)
                runs[name][key].append((time.perf_counter() - t0) / len(docs) * 1e3)
    return {
        n: {
            k: {
                "ms_per_doc_median": round(statistics.median(r), 4),
                "runs_ms": [round(x, 4) for x in r],
                "documents": len(sets[k]),
            }
            for k, r in per.items()
        }
        for n, per in runs.items()
    }


def detector_predict(det: LangIdDetector) -> Predict:
    """The detector as (label, score) pairs."""
    return lambda texts: [(r.labels["lang"], r.scores["lang_score"]) for r in det.detect_batch(texts)]


def candidates() -> dict[str, tuple[Predict, set[str] | None, str]]:
    """Reference rows: py3langid alone, and lingua / cld3 where importable (not dependencies)."""
    out: dict[str, tuple[Predict, set[str] | None, str]] = {}
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    out["py3langid 0.4.0 alone"] = (
        lambda ts: [(gold(lab), float(p)) for lab, p in (ident.classify(t[:1000]) for t in ts)],
        set(ident.labels),
        "held out for py3langid as far as known (its training data is not lingua's test set)",
    )
    try:
        from lingua import LanguageDetectorBuilder

        lg = LanguageDetectorBuilder.from_all_languages().build()

        def lingua(ts: list[str]) -> list[tuple[str, float]]:
            res = []
            for t in ts:
                vals = lg.compute_language_confidence_values(t[:1000])
                top = vals[0] if vals else None
                code = top.language.iso_code_639_1.name.lower() if top else "unknown"
                res.append((gold(code), float(top.value) if top else 0.0))
            return res

        out["lingua high-accuracy (all 75)"] = (
            lingua,
            None,
            "NOT held out: these are lingua's own test sentences",
        )
    except ImportError:
        pass
    try:
        import gcld3

        c3 = gcld3.NNetLanguageIdentifier(min_num_bytes=0, max_num_bytes=1000)
        fix = {"iw": "he", "fil": "tl", "jw": "jv", "nb": "no"}

        def cld3(ts: list[str]) -> list[tuple[str, float]]:
            res = [c3.FindLanguage(t) for t in ts]
            return [
                (fix.get(r.language.split("-")[0], r.language.split("-")[0]), float(r.probability))
                for r in res
            ]

        out["cld3 (cld3-py 3.1.0)"] = (cld3, None, "held out for cld3 as far as known")
    except ImportError:
        pass
    return out


def third_opinion_effect(
    sets: dict[str, dict], before: dict[str, list], after: dict[str, list], targets: set[str]
) -> dict[str, dict]:
    """Test rows whose label the mi/tn/ts model changes: right → wrong and wrong → right, for the target
    languages and for all others (a change on another language can only be a new error or a fix
    that names a target). `before`/`after`: each set's test predictions without and with it."""
    out: dict[str, dict] = {}
    for set_name, split in sets.items():
        rows = split["test"]
        counts: Counter[str] = Counter()
        for (lang, _), (b, _), (a, _) in zip(rows, before[set_name], after[set_name], strict=True):
            if a == b:
                continue
            who = "targets" if lang in targets else "others"
            counts[
                f"{who}_fixed" if a == lang else f"{who}_broken" if b == lang else f"{who}_other_change"
            ] += 1
        out[set_name] = dict(sorted(counts.items())) | {"n": len(rows)}
        print(f"third opinion on {set_name} test: {out[set_name]}", flush=True)
    return out


def positive(value: str) -> int:
    """argparse type: an integer >= 1."""
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value!r}")
    return int(value)


def cpu(value: str) -> int:
    """argparse type: a CPU this process may run on."""
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else {0}
    if not value.isdigit() or int(value) not in allowed:
        raise argparse.ArgumentTypeError(f"no CPU {value!r} here (allowed: {sorted(allowed)})")
    return int(value)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer speed repeats")
    ap.add_argument("--candidates", action="store_true", help="also py3langid alone, lingua, cld3")
    ap.add_argument("--no-accuracy", action="store_true", help="speed only")
    ap.add_argument("--core", type=cpu, default=0, help="CPU core to pin to (speed on one core)")
    ap.add_argument("--corpus", type=positive, default=1000, help="benchmark-corpus documents for speed")
    ap.add_argument("--out", type=Path, default=OUT, help="where the JSON goes")
    args = ap.parse_args(argv)
    require_writable_file(args.out, "--out")
    if any(shared_data_missing(DATA, name) for name in (SENTENCES, WORD_PAIRS)) or any(
        shared_data_missing(DATA.parent, need) for need in CORPUS_NEEDS
    ):
        return 2
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.core})
    code = code_version()  # the commit the figures belong to, read before the run
    sents = load(SENTENCES)
    pairs = load(WORD_PAIRS)
    sets = {
        "sentences": sents,
        "word_pairs": pairs,
        "paragraphs_200": {k: paragraphs(v) for k, v in sents.items()},
        "documents_4kb": {k: documents(v) for k, v in sents.items()},
    }
    lingua_docs = [t for _, t in sets["documents_4kb"]["test"]]
    corpus = load_texts(args.corpus)
    lid = Lid176Detector()
    ens = LangIdDetector()
    lid_known = {lab.removeprefix("__label__") for lab in lid.model.get_labels()}
    ens_known = lid_known | set(ens._label_sets()[1])
    targets = set(RareLanguages().model["targets"])
    models: dict[str, tuple[Predict, set[str] | None, str]] = {
        "lid.176 alone": (detector_predict(lid), lid_known, "held out"),
        TWO_MODELS: (
            detector_predict(LangIdTwoModels()),
            ens_known,
            "test: held out; tune: in-sample",
        ),
        SHIPPED: (
            detector_predict(ens),
            ens_known | targets,
            "test: held out; tune: in-sample (the mi/tn/ts model is trained on the tune rows)",
        ),
    }
    if args.candidates:
        models |= candidates()
    results: dict[str, dict] = {}
    test_preds: dict[str, dict[str, list]] = {}  # model -> set -> predictions on the test rows
    for name, (predict, known, note) in models.items():
        res: dict[str, dict] = {"note": {"value": note}}
        results[name] = res
        for set_name, split in sets.items() if not args.no_accuracy else ():
            for part in ("test", "tune"):
                rows = split[part]
                preds = predict([t for _, t in rows])
                entry = accuracy(rows, preds, known)
                if part == "test":
                    test_preds.setdefault(name, {})[set_name] = preds
                    entry["confusions"] = confusions(rows, preds)
                    entry["policy"] = policy_effect(rows, preds)
                res[f"{set_name}/{part}"] = entry
                print(f"{name:34s} {set_name:15s} {part:5s} macro {entry['macro']:.3f}", flush=True)
    if not args.no_accuracy:
        results["third opinion"] = third_opinion_effect(
            sets, test_preds[TWO_MODELS], test_preds[SHIPPED], targets
        )
    timed = {"lingua_75_languages": lingua_docs, "benchmark_corpus": corpus}
    speeds = speed({n: m[0] for n, m in models.items()}, timed, 3 if args.quick else 7)
    for name, per in speeds.items():
        results[name]["speed"] = per
        print(f"{name:34s} " + ", ".join(f"{k} {v['ms_per_doc_median']:.3f} ms/doc" for k, v in per.items()))
    reached = {}  # share of documents that reach py3langid
    for key, docs in (("75_languages", lingua_docs), ("benchmark_corpus", corpus)):
        probs = lid.model.predict([lid._prepare(t) for t in docs], k=1)[1]
        reached[key] = round(sum(float(p[0]) < DEFAULT_UNSURE for p in probs) / len(docs), 4)
    meta = {
        "command": "python -m benchmarks.eval_langid " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (pinned to core {args.core}), "
        f"Python {platform.python_version()}",
        "cpu": cpu_model(),
        "code": code,
        "split": "per language: even rows tune (chose weight/threshold), odd rows test (held out)",
        "documents_reaching_py3langid": reached,
        "corpus_mean_bytes": round(statistics.fmean(len(t.encode("utf-8")) for t in corpus)),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}; documents reaching py3langid: {reached}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
