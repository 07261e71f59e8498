"""Deterministic benchmark corpus of any size, built from the real text in ../shared/data.

Documents average ~4 KB and come in known kinds, so every benchmark can check
what it removed as well as how fast it ran:

| kind       | share | what                                                                  |
|------------|-------|-----------------------------------------------------------------------|
| clean      | 70%   | real paragraphs (WikiText, TinyStories, Gutenberg, Shakespeare, web)   |
| exact_dup  | 8%    | a byte-identical copy of an earlier clean document                    |
| near_dup   | 8%    | an earlier clean document with ~3% of its words edited                |
| offensive  | 4%    | clean text with hateful/offensive tweets (Davidson, ToxiGen) mixed in |
| pii        | 4%    | clean text with synthetic PII sentences (Presidio) mixed in           |
| multilang  | 4%    | sentences in one of 75 languages (lingua test data)                   |
| junk       | 2%    | short or symbol-heavy text that quality filters remove                |

Usage: python -m benchmarks.corpus --docs 100000 --out benchmarks/out/corpus-100k
Writes Parquet shards (id, text, source, url, position, kind, dup_of) of ~10k rows.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import random
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.machine import SHARED_DATA, positive_int, shared_data_missing

ROOT = Path(__file__).resolve().parents[1]
SHARED = SHARED_DATA
# The shared data subfolders `generate` samples from (TextPools) and the ones `real_documents` reads.
POOLS_NEED = ("clean_text", "toxicity", "pii", "langid")
REAL_NEED = ("web", "clean_text")
KINDS = [
    ("clean", 0.70),
    ("exact_dup", 0.08),
    ("near_dup", 0.08),
    ("offensive", 0.04),
    ("pii", 0.04),
    ("multilang", 0.04),
    ("junk", 0.02),
]
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("text", pa.string()),
        ("source", pa.string()),
        ("url", pa.string()),
        ("position", pa.int64()),
        ("kind", pa.string()),
        ("dup_of", pa.string()),
    ]
)


def data_missing(needs: tuple[str, ...] = POOLS_NEED) -> bool:
    """Whether the shared data folder lacks one of the subfolders `needs` (the first missing one gets one
    `error:` line on stderr; the caller then exits with status 2): the check a benchmark makes before
    any work."""
    return any(shared_data_missing(SHARED, need) for need in needs)


class TextPools:
    """The real text the corpus is sampled from, loaded once."""

    def __init__(self, shared: Path | None = None):
        shared = SHARED if shared is None else shared
        self.paragraphs = self._paragraphs(shared)
        with open(shared / "toxicity/davidson_labeled_data.csv", encoding="utf-8") as f:
            self.offensive = [r["tweet"] for r in csv.DictReader(f) if r["class"] in ("0", "1")]
        with open(shared / "toxicity/toxigen_seed_sentences.csv", encoding="utf-8") as f:
            self.offensive += [r["text"] for r in csv.DictReader(f) if r["label"] == "hate"]
        pii = json.loads((shared / "pii/presidio_synth_dataset_v2.json").read_text(encoding="utf-8"))
        self.pii = [p["full_text"] for p in pii if p["spans"]]
        self.sentences: dict[str, list[str]] = {}
        with open(shared / "langid/lingua_sentences_75lang_250each.tsv", encoding="utf-8") as f:
            for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                self.sentences.setdefault(r["lang"], []).append(r["text"])
        with open(shared / "langid/lingua_word_pairs_75lang_100each.tsv", encoding="utf-8") as f:
            self.snippets = [r["text"] for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]

    @staticmethod
    def _paragraphs(shared: Path) -> list[str]:
        paras: list[str] = []
        files = [
            "clean_text/wikitext2_valid.txt",
            "clean_text/wikitext2_test.txt",
            "clean_text/tinystories_head.txt",
            "clean_text/tinyshakespeare_input.txt",
            *sorted(str(p.relative_to(shared)) for p in (shared / "clean_text/gutenberg").glob("*.txt")),
        ]
        for rel in files:
            text = (shared / rel).read_text(encoding="utf-8", errors="replace")
            for block in re.split(r"\n\s*\n", text):
                block = " ".join(block.split())
                if len(block) >= 200 and not block.startswith("="):
                    paras.append(block.replace(" @-@ ", "-").replace(" @,@ ", ",").replace(" @.@ ", "."))
        return paras


def _clean_doc(pools: TextPools, rng: random.Random, target: int) -> str:
    parts, size = [], 0
    while size < target:
        p = rng.choice(pools.paragraphs)
        parts.append(p)
        size += len(p) + 2
    return "\n\n".join(parts)


def _edit(text: str, rng: random.Random, rate: float = 0.03) -> str:
    words = text.split(" ")
    for _ in range(max(1, int(len(words) * rate))):
        i = rng.randrange(len(words))
        op = rng.random()
        if op < 0.4:
            words[i] = rng.choice(words)
        elif op < 0.7 and len(words) > 10:
            del words[i]
        else:
            words.insert(i, rng.choice(words))
    return " ".join(words)


def generate(
    num_docs: int, seed: int = 0, mean_bytes: int = 3500, pools: TextPools | None = None
) -> Iterator[dict]:
    """Yield `num_docs` documents deterministically from `seed` (memory: the pools plus a ring of originals)."""
    pools = pools or TextPools()
    rng = random.Random(seed)
    names = [k for k, _ in KINDS]
    weights = [w for _, w in KINDS]
    recent: list[tuple[str, str]] = []  # (id, text) of clean originals that duplicates copy
    langs = sorted(pools.sentences)
    for i in range(num_docs):
        kind = rng.choices(names, weights)[0]
        if kind in ("exact_dup", "near_dup") and not recent:
            kind = "clean"
        target = max(300, int(rng.gauss(mean_bytes, mean_bytes / 3)))
        dup_of = None
        if kind == "clean":
            text = _clean_doc(pools, rng, target)
        elif kind == "exact_dup":
            dup_of, text = rng.choice(recent)
        elif kind == "near_dup":
            dup_of, orig = rng.choice(recent)
            text = _edit(orig, rng)
        elif kind == "offensive":
            text = _clean_doc(pools, rng, target // 2) + "\n\n" + "\n".join(rng.sample(pools.offensive, 6))
        elif kind == "pii":
            text = _clean_doc(pools, rng, target // 2) + "\n\n" + "\n".join(rng.sample(pools.pii, 4))
        elif kind == "multilang":
            lang = rng.choice(langs)
            sents, size = [], 0
            while size < target:
                s = rng.choice(pools.sentences[lang])
                sents.append(s)
                size += len(s.encode("utf-8")) + 1
            text = " ".join(sents)
        else:
            text = " ".join(rng.sample(pools.snippets, rng.randint(1, 4)))
        doc_id = f"bench-{seed}-{i:08d}"
        if kind == "clean":
            recent.append((doc_id, text))
            if len(recent) > 2000:
                recent.pop(rng.randrange(len(recent)))
        yield {
            "id": doc_id,
            "text": text,
            "source": f"benchmark://seed-{seed}",
            "url": f"https://example.org/doc/{i}",
            "position": i,
            "kind": kind,
            "dup_of": dup_of,
        }


def write_corpus(out_dir: Path, num_docs: int, seed: int = 0, rows_per_shard: int = 10_000) -> list[Path]:
    """Write the corpus as Parquet shards (zstd); return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths, rows = [], []

    def flush() -> None:
        path = out_dir / f"part-{len(paths):05d}.parquet"
        pq.write_table(pa.Table.from_pylist(rows, SCHEMA), path, compression="zstd")
        paths.append(path)
        rows.clear()

    for doc in generate(num_docs, seed):
        rows.append(doc)
        if len(rows) >= rows_per_shard:
            flush()
    if rows:
        flush()
    return paths


def load_texts(num_docs: int, seed: int = 0) -> list[str]:
    """The corpus texts in memory (for micro-benchmarks of one library call)."""
    return [d["text"] for d in generate(num_docs, seed)]


# ------------------------------------------------------------------ real, deduplicated documents
#
# For speed benchmarks whose caches would flatter a sampled corpus (issue 14): `generate` draws paragraphs with
# replacement from one pool and copies 8% of documents byte for byte, so per-chunk caches hit 89-96%. Here each
# document is a run of CONSECUTIVE paragraphs of one real source, and every paragraph appears once in the whole
# set (exact dedup after whitespace collapsing), so only real within-document repetition is left to cache.

REAL_DOC_CHARS = 4000


def _unique(paragraphs: list[str], seen: set[str]) -> list[str]:
    """Whitespace-collapsed paragraphs not seen before (adds them to `seen`)."""
    out = []
    for p in paragraphs:
        key = " ".join(p.split())
        if key and key not in seen:
            seen.add(key)
            out.append(key)
    return out


def _web_documents(shared: Path, seen: set[str]) -> list[str]:
    """Real web page texts: the 181 human-annotated article bodies of article_extraction_benchmark and the
    30 Common Crawl documents of dolma_fixtures (paragraphs = lines)."""
    truth = json.loads((shared / "web/article_extraction_benchmark/ground-truth.json").read_text("utf-8"))
    texts = [truth[k]["articleBody"] for k in sorted(truth)]
    dolma = shared / "web/dolma_fixtures"
    for name in ("cc_en_head-0091.jsonl", "cc_en_head-0174.jsonl"):
        texts += [json.loads(line)["text"] for line in (dolma / name).read_text("utf-8").splitlines() if line]
    with gzip.open(dolma / "provided_documents_000.json.gz", "rt", encoding="utf-8") as f:
        texts += [json.loads(line)["text"] for line in f if line.strip()]
    docs = []
    for text in texts:
        paras = _unique(text.split("\n"), seen)
        if sum(map(len, paras)) >= 200:
            docs.append("\n".join(paras))
    return docs


def _book_documents(shared: Path, seen: set[str]) -> list[str]:
    """~4 KB runs of consecutive paragraphs of each clean_text file (WikiText, TinyStories, Shakespeare,
    Gutenberg books), in file order."""
    files = [
        "clean_text/wikitext2_valid.txt",
        "clean_text/wikitext2_test.txt",
        "clean_text/tinystories_head.txt",
        "clean_text/tinyshakespeare_input.txt",
        *sorted(str(p.relative_to(shared)) for p in (shared / "clean_text/gutenberg").glob("*.txt")),
    ]
    docs = []
    for rel in files:
        text = (shared / rel).read_text(encoding="utf-8-sig", errors="replace").replace("\r\n", "\n")
        blocks = [
            b.replace(" @-@ ", "-").replace(" @,@ ", ",").replace(" @.@ ", ".")
            for b in re.split(r"\n\s*\n", text)
        ]
        blocks = [b for b in blocks if not b.strip().startswith("=")]  # WikiText headings
        run: list[str] = []
        for para in _unique(blocks, seen):
            run.append(para)
            if sum(map(len, run)) >= REAL_DOC_CHARS:
                docs.append("\n\n".join(run))
                run = []
        if sum(map(len, run)) >= REAL_DOC_CHARS // 4:
            docs.append("\n\n".join(run))
    return docs


def real_documents(seed: int = 0, shared: Path | None = None) -> list[tuple[str, str]]:
    """(source, text) of every real deduplicated document (web first claims its paragraphs, then books),
    shuffled deterministically by `seed`. No paragraph occurs twice in the list."""
    shared = SHARED if shared is None else shared
    seen: set[str] = set()
    docs = [("web", t) for t in _web_documents(shared, seen)]
    docs += [("clean_text", t) for t in _book_documents(shared, seen)]
    random.Random(seed).shuffle(docs)
    return docs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the deterministic benchmark corpus.")
    parser.add_argument("--docs", type=positive_int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "benchmarks" / "out" / "corpus",
        help="folder of the Parquet shards",
    )
    args = parser.parse_args(argv)
    if args.out.exists() and not args.out.is_dir():
        print(f"error: --out {args.out} is a file: pass a folder for the Parquet shards", file=sys.stderr)
        sys.exit(2)
    if data_missing():
        sys.exit(2)
    paths = write_corpus(args.out, args.docs, args.seed)
    total = sum(pq.ParquetFile(p).metadata.num_rows for p in paths)
    print(f"wrote {total} documents in {len(paths)} shards under {args.out}")


if __name__ == "__main__":
    main()
