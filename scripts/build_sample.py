"""Build the bundled sample corpus `data/sample/` from ../shared/data (deterministic).

The sample is small (a few MB) but gives every stage real work: web pages with
boilerplate (WARC), several languages, exact and near duplicates, offensive
text, personal data, junk, and a file with broken lines for the quarantine.
Run: python scripts/build_sample.py [--data ../shared/data]  (--shared is the same flag's former name)
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import random
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "sample"
SEED = 20261128

WARCS = [
    "web/warc/resiliparse_CC-MAIN-2020-34_excerpt.warc.gz",
    "web/warc/dolma_sample-0000.warc.gz",
    "web/warc/cc_whirlwind.warc.wet.gz",
]
# Every file of the shared data folder this script reads (checked before anything is written).
REQUIRED = (
    *WARCS,
    "clean_text/wikitext2_valid.txt",
    "clean_text/tinystories_head.txt",
    "clean_text/gutenberg/31251-0.txt",
    "langid/lingua_sentences_75lang_250each.tsv",
    "langid/lingua_word_pairs_75lang_100each.tsv",
    "toxicity/davidson_labeled_data.csv",
    "toxicity/toxigen_seed_sentences.csv",
    "toxicity/wiki_toxicity_nonfuzzed_testset.csv",
    "neardup/wiki_toxicity_fuzzed_testset.csv",
    "pii/presidio_synth_dataset_v2.json",
    "web/dolma_fixtures/cc_en_head-0091.jsonl",
    "web/dolma_fixtures/provided_documents_000.json.gz",
)
LANGS = ["en", "de", "fr", "es", "it", "pt", "nl", "ru", "zh", "ja", "ar", "hi", "tr", "pl", "sv", "ko"]


def wikitext_articles(path: Path) -> list[tuple[str, str]]:
    """Split WikiText into (title, body) articles at top-level `= Title =` headings."""
    articles, title, lines = [], None, []
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^ = ([^=].*[^=]) = $", line)
        if m:
            if title and lines:
                articles.append((title, "\n".join(lines).strip()))
            title, lines = m.group(1), []
        elif title is not None and line.strip():
            lines.append(line.strip())
    if title and lines:
        articles.append((title, "\n".join(lines).strip()))
    return articles


def tinystories(path: Path) -> list[str]:
    """Stories are paragraphs split by blank lines; a new story starts right after a line with no blank."""
    stories: list[list[str]] = [[]]
    prev = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and prev.strip() and stories[-1]:
            stories.append([])
        if line.strip():
            stories[-1].append(line.strip())
        prev = line
    return ["\n\n".join(s) for s in stories if s]


def edit_words(text: str, rng: random.Random, rate: float) -> str:
    """A near duplicate: substitute/delete/insert a share of the words."""
    words = text.split(" ")
    out = []
    for w in words:
        r = rng.random()
        if r < rate / 3:
            continue
        if r < 2 * rate / 3:
            out.append(rng.choice(words))
        else:
            out.append(w)
        if rng.random() < rate / 3:
            out.append(rng.choice(words))
    return " ".join(out)


def jsonl_docs(shared: Path, rng: random.Random) -> list[dict]:
    docs: list[dict] = []

    def add(text: str, kind: str, url: str | None = None) -> dict:
        doc = {"id": f"sample-{len(docs):05d}", "text": text, "kind": kind}
        if url:
            doc["url"] = url
        docs.append(doc)
        return doc

    articles = [a for a in wikitext_articles(shared / "clean_text/wikitext2_valid.txt") if len(a[1]) > 1500]
    for title, body in articles[:40]:
        add(
            f"{title}\n\n{body}".replace(" @-@ ", "-").replace(" @,@ ", ",").replace(" @.@ ", "."), "wikitext"
        )
    for s in [s for s in tinystories(shared / "clean_text/tinystories_head.txt") if len(s) > 400][:300]:
        add(s, "tinystories")
    # Languages: ten sentences per document (Leipzig download corpora via lingua-py, CC BY; ATTRIBUTION.md).
    with open(shared / "langid/lingua_sentences_75lang_250each.tsv", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    by_lang: dict[str, list[str]] = {}
    for r in rows:
        by_lang.setdefault(r["lang"], []).append(r["text"])
    for lang in LANGS:
        sents = by_lang[lang]
        for i in range(4):
            add(" ".join(sents[i * 10 : (i + 1) * 10]), f"lang:{lang}")
    # Offensive text: Davidson tweets (hate / offensive) and ToxiGen hate sentences.
    with open(shared / "toxicity/davidson_labeled_data.csv", encoding="utf-8") as f:
        tweets = list(csv.DictReader(f))
    hateful = [t["tweet"] for t in tweets if t["class"] == "0"]
    offensive = [t["tweet"] for t in tweets if t["class"] == "1"]
    for i in range(12):
        add("\n".join(hateful[i * 8 : (i + 1) * 8]), "hate")
        add("\n".join(offensive[i * 8 : (i + 1) * 8]), "offensive")
    with open(shared / "toxicity/toxigen_seed_sentences.csv", encoding="utf-8") as f:
        toxigen = [r["text"] for r in csv.DictReader(f) if r["label"] == "hate"]
    for i in range(10):
        add(". ".join(toxigen[i * 6 : (i + 1) * 6]) + ".", "hate")
    # Personal data: synthetic PII sentences in groups of four.
    pii = json.loads((shared / "pii/presidio_synth_dataset_v2.json").read_text(encoding="utf-8"))
    pii = [p["full_text"] for p in pii if p["spans"]]
    for i in range(40):
        add("\n".join(pii[i * 4 : (i + 1) * 4]), "pii")
    # Junk: two-word snippets (same Leipzig source and licence as the language documents).
    with open(shared / "langid/lingua_word_pairs_75lang_100each.tsv", encoding="utf-8") as f:
        pairs = [
            r["text"] for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if r["lang"] == "en"
        ]
    for i in range(15):
        add(pairs[i], "junk")
    # Exact duplicates (some differ only by case and whitespace) and near duplicates.
    originals = [d for d in docs if d["kind"] in ("wikitext", "tinystories")]
    for d in rng.sample(originals, 25):
        text = d["text"] if rng.random() < 0.5 else "  " + d["text"].upper().replace(" ", "   ") + "\n"
        add(text, "exact_dup")
    # Near copies of stories, which pass the quality filter, so the near-dedup stage (after the filter) sees them.
    stories = [d for d in docs if d["kind"] == "tinystories"]
    for d in rng.sample(stories, 25):
        add(edit_words(d["text"], rng, 0.01), "near_dup")
    with open(shared / "neardup/wiki_toxicity_fuzzed_testset.csv", encoding="utf-8") as f:
        fuzzed = {r["rev_id"]: r["comment"] for r in csv.DictReader(f)}
    with open(shared / "toxicity/wiki_toxicity_nonfuzzed_testset.csv", encoding="utf-8") as f:
        plain = {r["rev_id"]: r["comment"] for r in csv.DictReader(f)}
    pairs_nd = [(plain[k], fuzzed[k]) for k in sorted(plain) if k in fuzzed and plain[k] != fuzzed[k]]
    pairs_nd = [p for p in pairs_nd if len(p[0]) > 600][:20]
    for a, b in pairs_nd:
        add(a, "wiki_talk")
        add(b, "near_dup")
    rng.shuffle(docs)
    return docs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        "--shared",
        dest="data",
        type=Path,
        default=ROOT.parent / "shared" / "data",
        help="the shared data folder (--shared: the former name)",
    )
    args = parser.parse_args(argv)
    missing = [rel for rel in REQUIRED if not (args.data / rel).is_file()]
    if missing:
        print(
            f"error: {args.data / missing[0]} not found: pass --data pointing at the shared data folder",
            file=sys.stderr,
        )
        return 2
    rng = random.Random(SEED)
    OUT.mkdir(parents=True, exist_ok=True)
    for rel in WARCS:
        shutil.copyfile(args.data / rel, OUT / Path(rel).name)
    docs = jsonl_docs(args.data, rng)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        for d in docs:
            gz.write((json.dumps(d, ensure_ascii=False) + "\n").encode("utf-8"))
    (OUT / "documents.jsonl.gz").write_bytes(buf.getvalue())
    for rel in [
        "web/dolma_fixtures/cc_en_head-0091.jsonl",
        "web/dolma_fixtures/provided_documents_000.json.gz",
    ]:
        shutil.copyfile(args.data / rel, OUT / Path(rel).name)
    shutil.copyfile(args.data / "clean_text/gutenberg/31251-0.txt", OUT / "gutenberg-31251.txt")
    # A file with broken lines: the run quarantines them and goes on.
    broken = [
        json.dumps({"id": "broken-0", "text": "A well-formed line before the broken ones. " * 20}).encode(),
        b'{"id": "broken-1", "text": "this line is cut in the mid',
        b'{"id": "broken-2", "text": "invalid UTF-8 here: \xff\xfe\xfa"}',
        json.dumps({"id": "broken-3", "text": ""}).encode(),
        json.dumps({"id": "broken-4", "text": "A well-formed line after the broken ones. " * 20}).encode(),
    ]
    (OUT / "broken.jsonl").write_bytes(b"\n".join(broken) + b"\n")
    kinds: dict[str, int] = {}
    for d in docs:
        kinds[d["kind"]] = kinds.get(d["kind"], 0) + 1
    print(f"wrote {OUT}: {len(docs)} JSONL documents {dict(sorted(kinds.items()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
