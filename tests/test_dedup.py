"""Tests of the dedup library on real data (shared/data/neardup, clean_text) and small synthetic clusters."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasketch import MinHash, MinHashLSH
from datasketch.hashfunc import sha1_hash32
from datasketch.lsh import _optimal_param

from dedup import (
    DedupConfig,
    LocalExecutor,
    MinHashConfig,
    dedup_blocks,
    exact_hash,
    explain,
    hash32,
    optimal_params,
    run_dedup,
    shingle_hashes,
    shingles,
    signatures,
    signatures_from_hashes,
    to_datasketch,
)
from dedup.lsh import candidate_probability
from dedup.shingle import _CHUNK_CPS, jaccard, shingle_hashes_batch

CJK = [
    "自然语言处理是人工智能和语言学领域的分支学科。此领域探讨如何处理及运用自然语言。",
    "日本語の文章は単語の間に空白を入れずに書かれるので、文字単位の分割が必要です。",
    "ภาษาไทยเขียนติดกันโดยไม่มีการเว้นวรรคระหว่างคำ",
]

MIXED = [
    "Ünïcödé wörds ﬁne",
    "two words",
    "",
    "  ,;  ",
    "İstanbul STRASSE straße 12½ x_y 한국어 문장 東京タワー𠀀𠀁abc日本 ไทยabc",
    "lone surrogate \ud800 here and here again",
    "long " + "z" * 5000 + " token then five more words here",
]


def _pairs(shared_data: Path) -> list[tuple[str, str, str]]:
    """(rev_id, original comment, identity-swapped comment) joined on rev_id."""
    fuzz = {
        r["rev_id"]: r["comment"]
        for r in csv.DictReader(
            io.StringIO((shared_data / "neardup/wiki_toxicity_fuzzed_testset.csv").read_text())
        )
    }
    orig = csv.DictReader(
        io.StringIO((shared_data / "toxicity/wiki_toxicity_nonfuzzed_testset.csv").read_text())
    )
    return [(r["rev_id"], r["comment"], fuzz[r["rev_id"]]) for r in orig if r["rev_id"] in fuzz]


def _corpus(pairs) -> pa.Table:
    ids = [f"o{r}" for r, _, _ in pairs] + [f"f{r}" for r, _, _ in pairs]
    texts = [a for _, a, _ in pairs] + [b for _, _, b in pairs]
    return pa.table({"id": ids, "text": texts})


@pytest.fixture(scope="module")
def pairs(shared_data):
    return _pairs(shared_data)


@pytest.fixture(scope="module")
def wiki_docs(shared_data) -> list[str]:
    text = (shared_data / "clean_text/wikitext2_valid.txt").read_text()
    return [text[i : i + 3000] for i in range(0, 3000 * 40, 3000)]


# ------------------------------------------------------------------ signatures


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
def test_signatures_match_datasketch(wiki_docs, scheme):
    cfg = MinHashConfig(scheme=scheme, num_perm=96, seed=7)
    docs = wiki_docs[:20] + CJK + MIXED
    ours = signatures(docs, cfg)
    for doc, sig in zip(docs, ours, strict=True):
        m = MinHash(num_perm=96, seed=7, hashfunc=hash32, scheme=scheme)
        m.update_batch(shingles(doc, cfg.ngram, cfg.char_ngram))
        assert np.array_equal(m.hashvalues, sig)
    # Our signatures go straight into a datasketch LSH index.
    lsh = MinHashLSH(threshold=0.8, num_perm=96)
    for i, sig in enumerate(ours):
        lsh.insert(str(i), to_datasketch(sig, cfg))
    assert "3" in lsh.query(to_datasketch(ours[3], cfg))


def test_signatures_match_datasketch_default_sha1(wiki_docs):
    cfg = MinHashConfig()
    sh = [shingles(d) for d in wiki_docs[:5]]
    ours = signatures_from_hashes([np.array([sha1_hash32(s) for s in x], dtype=np.uint32) for x in sh], cfg)
    for x, sig in zip(sh, ours, strict=True):
        m = MinHash(num_perm=cfg.num_perm, seed=cfg.seed)  # datasketch defaults: sha1_hash32, affine32
        m.update_batch(x)
        assert np.array_equal(m.hashvalues, sig)


def test_fast_shingle_hashes_equal_reference(wiki_docs):
    for doc in [*wiki_docs[:10], *CJK, *MIXED]:
        assert shingle_hashes(doc).tolist() == [hash32(s) for s in shingles(doc)]
        assert shingle_hashes(doc, 2, 3).tolist() == [hash32(s) for s in shingles(doc, 2, 3)]


def test_vectorized_tokenizer_matches_regex_on_random_unicode():
    """The per-code-point class table must split exactly like TOKEN_RE, over the whole code space."""
    rng = np.random.default_rng(0)
    pool = np.concatenate(
        [
            rng.integers(1, 0x110000, 3000),
            rng.integers(0x20, 0x7F, 3000),
            rng.integers(0x3000, 0xA000, 800),
            rng.integers(0x0E00, 0x1100, 800),
            rng.integers(0xD800, 0xE000, 50),  # surrogates
        ]
    )
    for _ in range(150):
        text = "".join(map(chr, rng.choice(pool, int(rng.integers(0, 120)))))
        assert shingle_hashes(text, 3, 2).tolist() == [hash32(s) for s in shingles(text, 3, 2)], repr(text)


def test_batched_shingle_hashes_equal_reference_per_text(wiki_docs):
    """The batched tokenizer (texts joined, chunked, table-lowercased, NFKC by line) must give every text
    exactly its reference shingles: normalization edge cases, mixed scripts in one batch, tiny texts."""
    edge = [
        "",
        "\x00\x00",
        "a",
        "one two",
        "No\u00a0break\u00a0space here and\u00a0there " * 3,
        "e\n\u0301 combining mark after a newline, \ufb01ne ligature, \u2460 circled",
        "ΟΔΥΣΣΕΥΣ ΣΟΦΟΣ ends with Σ. İstanbul İZMİR and ǅ titlecase",
        "x" * 70 + " " + "y" * 200 + " long tokens " + "Z" * 65,
        "Ａｂｃ full width ｶﾀｶﾅ and ＡＢＣ",
        "\ud800 lone surrogate \udfff here",
    ]
    docs = [*wiki_docs[:8], *CJK, *MIXED, *edge]
    for n, cn in ((3, 5), (5, 2), (1, 1)):
        batch = shingle_hashes_batch(docs, n, cn)
        for doc, got in zip(docs, batch, strict=True):
            assert got.tolist() == [hash32(s) for s in shingles(doc, n, cn)], repr(doc[:60])
    # More text than one chunk: the same hashes as one text at a time.
    big = wiki_docs[:40] * 3
    assert sum(map(len, big)) > _CHUNK_CPS
    for doc, got in zip(big, shingle_hashes_batch(big, 3, 5), strict=True):
        assert np.array_equal(got, shingle_hashes(doc, 3, 5))


def test_shingle_hash_is_order_sensitive_and_spread(shared_data):
    assert hash32(b"ab cd") != hash32(b"cd ab") and hash32(b"ab") != hash32(b"ba")
    assert hash32(b"a b") != hash32(b"ab")
    text = (shared_data / "clean_text/wikitext2_valid.txt").read_text().lower()
    words = sorted(set(text.split()))
    assert len(words) > 10000
    h = np.array([hash32(w.encode()) for w in words], dtype=np.uint32)
    assert len(np.unique(h)) >= len(words) - 2  # ~0.02 collisions expected among 12k 32-bit values
    bits = (h[:, None] >> np.arange(32, dtype=np.uint32)) & 1  # every bit set about half the time
    assert np.all(np.abs(bits.mean(axis=0) - 0.5) < 0.03)


def test_cjk_and_thai_use_char_ngrams():
    zh = shingles(CJK[0], ngram=5, char_ngram=3)
    assert zh[0] == "自 然 语".encode()
    assert shingles(CJK[2], char_ngram=4)[0] == "ภ า ษ า".encode()
    assert shingles("The quick brown fox jumps over", ngram=3)[0] == b"the quick brown"
    # A small edit in Chinese keeps most char shingles; a different sentence shares almost none.
    edited = CJK[0].replace("分支", "一个分支")
    assert jaccard(shingle_hashes(CJK[0], char_ngram=3), shingle_hashes(edited, char_ngram=3)) > 0.8
    assert jaccard(shingle_hashes(CJK[0], char_ngram=3), shingle_hashes(CJK[1], char_ngram=3)) < 0.05
    docs = [CJK[0] * 3, (CJK[0] * 3).replace("分支", "一个分支", 1), CJK[1] * 3]
    r = dedup_blocks(
        [pa.table({"id": ["a", "b", "c"], "text": docs})], DedupConfig(use_ray=False, num_partitions=2)
    )
    assert r.removed["id"].to_pylist() == ["a"] and r.removed["kept_id"].to_pylist() == ["b"]  # longer wins


# ------------------------------------------------------------------ parameters


@pytest.mark.parametrize(
    ("t", "fp", "fn"), [(0.5, 0.5, 0.5), (0.8, 0.5, 0.5), (0.8, 0.2, 0.8), (0.9, 0.5, 0.5)]
)
def test_optimal_params_match_datasketch(t, fp, fn):
    assert optimal_params(t, 128, fp, fn) == _optimal_param(t, 128, fp, fn)


def test_s_curve_and_explain():
    b, r = optimal_params(0.8, 128)
    p = candidate_probability(np.linspace(0, 1, 11), b, r)
    assert np.all(np.diff(p) >= 0) and p[0] == 0.0 and p[-1] == 1.0
    assert p[3] < 0.01 and p[10] > 0.99
    text = explain(DedupConfig(minhash=MinHashConfig(bands=16, rows=8)))
    assert "bands=16, rows=8 (hand-set)" in text
    assert "| 0.50 | " in text and "| 1.00 | 1.0000 |" in text
    with pytest.raises(ValueError):
        MinHashConfig(bands=20, rows=8)  # 160 > num_perm
    with pytest.raises(ValueError):
        DedupConfig(unknown=1)


# ------------------------------------------------------------------ exact and near on real pairs


def test_exact_dedup_on_real_pairs(pairs):
    r = dedup_blocks([_corpus(pairs)], DedupConfig(use_ray=False, minhash=MinHashConfig(enabled=False)))
    removed = dict(zip(r.removed["id"].to_pylist(), r.removed["kept_id"].to_pylist(), strict=True))
    identical = [rev for rev, a, b in pairs if a == b]
    assert len(identical) == 241  # the byte-identical pairs of the shipped slice (tests/fixtures)
    for (
        rev
    ) in identical:  # every byte-identical pair is one cluster; "f" > "o"? no: survivor is smallest id "f.."
        assert removed.get(f"o{rev}") == f"f{rev}"
    assert set(r.removed["reason"].to_pylist()) == {"exact_duplicate"}
    assert exact_hash("Hello  World\n") == exact_hash("hello world") != exact_hash("hello, world")


def test_near_dedup_finds_known_pairs(pairs):
    changed = [(rev, a, b) for rev, a, b in pairs if a != b]
    assert len(changed) == 259  # the edited pairs of the shipped slice
    r = dedup_blocks([_corpus(changed)], DedupConfig(use_ray=False, exact=dict(enabled=False)))
    kept_of = dict(zip(r.removed["id"].to_pylist(), r.removed["kept_id"].to_pylist(), strict=True))
    found = total = 0
    for rev, a, b in changed:
        j = jaccard(shingle_hashes(a), shingle_hashes(b))
        if j >= 0.9:
            total += 1
            found += kept_of.get(f"o{rev}") == f"f{rev}" or kept_of.get(f"f{rev}") == f"o{rev}"
    assert total > 90 and found / total > 0.97
    # Precision: with the Jaccard check every removed doc is similar to its kept doc (direct or transitive),
    # and nearly all clusters pair a comment with its own edited copy.
    same = sum(k[1:] == d[1:] for d, k in kept_of.items())
    assert same / len(kept_of) > 0.97


# ------------------------------------------------------------------ survivor rule


def _cluster(**cols) -> pa.Table:
    base = "the quick brown fox jumps over the lazy dog near the river bank in the morning light " * 4
    n = len(cols["id"])
    texts = cols.pop("text", [base] * n)
    return pa.table({"text": texts, **cols})


def _survivor(table: pa.Table, near: bool = False) -> str:
    cfg = DedupConfig(use_ray=False, exact=dict(enabled=not near), minhash=dict(enabled=near))
    r = dedup_blocks([table], cfg)
    kept = set(r.removed["kept_id"].to_pylist())
    assert len(kept) == 1 and r.removed.num_rows == table.num_rows - 1
    return kept.pop()


def test_survivor_rule_quality_then_length_then_source_order():
    base = "the quick brown fox jumps over the lazy dog near the river bank in the morning light " * 4
    longer = base + "and then it rested"  # near-duplicate, longer
    ids = ["d", "c", "b", "a"]
    src = ["s2", "s1", "s1", "s3"]
    pos = [0, 5, 2, 0]
    # quality wins
    t = _cluster(id=ids, quality=[0.2, 0.9, None, 0.5], source=src, position=pos)
    assert _survivor(t) == "c"
    # no quality: longest wins (near-dup cluster)
    t = _cluster(id=ids, text=[base, base, longer, base], source=src, position=pos)
    assert _survivor(t, near=True) == "b"
    # same length: first in source order (source, position)
    t = _cluster(id=ids, source=src, position=pos)
    assert _survivor(t) == "b"
    # nothing else: smallest id; custom order (length before quality)
    assert _survivor(_cluster(id=ids)) == "a"
    t = _cluster(id=ids, text=[base, base, base, longer], quality=[0.1, 0.9, 0.1, 0.1])
    cfg = DedupConfig(use_ray=False, exact=dict(enabled=False), survivor=["length", "quality"])
    assert set(dedup_blocks([t], cfg).removed["kept_id"].to_pylist()) == {"a"}


# ------------------------------------------------------------------ determinism across partitions / workers


@pytest.mark.ray
def test_clusters_identical_across_blocks_partitions_and_ray(ray_session, pairs):
    table = _corpus(pairs[:500])
    local = dedup_blocks([table], DedupConfig(use_ray=False, num_partitions=1), LocalExecutor())
    blocks = [ray_session.put(table.slice(i, 170)) for i in range(0, table.num_rows, 170)]
    dist = dedup_blocks(blocks, DedupConfig(num_partitions=5))
    assert local.removed.num_rows > 200
    assert local.removed.equals(dist.removed)
    assert local.clusters.sort_by("cluster_id").equals(dist.clusters.sort_by("cluster_id"))


# ------------------------------------------------------------------ files in, files out; incremental index


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_run_dedup_outputs_reconcile(tmp_path, pairs):
    rows = [
        {"id": f"o{r}", "text": a, "source": "orig", "position": i} for i, (r, a, _) in enumerate(pairs[:200])
    ]
    _write_jsonl(tmp_path / "a.jsonl", rows)
    fz = [
        {"id": f"f{r}", "text": b, "source": "fuzz", "position": i} for i, (r, _, b) in enumerate(pairs[:200])
    ]
    pq.write_table(pa.Table.from_pylist(fz), tmp_path / "b.parquet", row_group_size=64)
    cfg = DedupConfig(use_ray=False, rows_per_block=100)
    told: list[str] = []
    stats = run_dedup(
        [str(tmp_path / "a.jsonl"), str(tmp_path / "b.parquet")],
        str(tmp_path / "out"),
        cfg,
        progress=told.append,
    )
    # Each step says when it ends (`winnow dedup` prints these on long runs).
    assert [m.split(":")[0].split(" (")[0] for m in told] == [
        "4 input blocks checked",
        "exact dedup done",
        "near dedup done",
        "kept and rejected documents written",
    ], told
    assert told[1] == f"exact dedup done: {stats.removed_exact:,} removed"
    kept = pq.read_table(tmp_path / "out/kept")
    rej = pq.read_table(tmp_path / "out/rejected")
    clusters = pq.read_table(tmp_path / "out/clusters.parquet")
    assert stats.documents_in == 400 == kept.num_rows + rej.num_rows
    assert stats.kept == kept.num_rows and stats.removed_exact + stats.removed_near == rej.num_rows
    assert stats.removed_exact >= 90 and stats.removed_near > 0
    assert set(rej["reason"].to_pylist()) == {"exact_duplicate", "near_duplicate"}
    assert set(rej["kept_id"].to_pylist()) <= set(kept["id"].to_pylist())
    # exact pairs have equal length, so the survivor is the first in source order: "fuzz" < "orig"
    exact = rej.filter(pa.compute.equal(rej["reason"], "exact_duplicate"))
    assert all(i.startswith("o") for i in exact["id"].to_pylist())
    assert sum(clusters["size"].to_pylist()) - clusters.num_rows == rej.num_rows
    assert stats.bytes_removed == sum(len(t.encode()) for t in rej["text"].to_pylist())
    assert json.loads((tmp_path / "out/stats.json").read_text())["kept"] == stats.kept


def test_incremental_index(tmp_path, wiki_docs):
    index = str(tmp_path / "index")
    old = pa.table({"id": [f"old{i:02d}" for i in range(20)], "text": wiki_docs[:20]})
    cfg = DedupConfig(use_ray=False, index_dir=index, update_index=True, num_partitions=3)
    first = dedup_blocks([old], cfg)
    assert first.removed.num_rows == 0 and first.info["index_added"] == 20
    # New corpus: light edits of old docs 0-4, fresh docs 20-29, and a near-dup pair inside the new corpus.
    edited = [d.replace(" the ", " a ", 2) for d in wiki_docs[:5]]
    fresh = wiki_docs[20:30]
    new = pa.table(
        {
            "id": [f"new{i:02d}" for i in range(16)],
            "text": [*edited, *fresh, fresh[0].replace(" of ", " from ", 1)],
        }
    )
    second = dedup_blocks([new], cfg)
    kept_of = dict(zip(second.removed["id"].to_pylist(), second.removed["kept_id"].to_pylist(), strict=True))
    assert kept_of == {
        **{f"new{i:02d}": f"old{i:02d}" for i in range(5)},
        "new05": "new15",
    }  # "from" is longer
    assert second.info["index_added"] == 10
    # A third run sees the second run's survivors in the index.
    third = dedup_blocks([pa.table({"id": ["z"], "text": [fresh[3]]})], cfg)
    assert third.removed["kept_id"].to_pylist() == ["new08"]
    with pytest.raises(ValueError, match="built with"):
        dedup_blocks([new], DedupConfig(use_ray=False, index_dir=index, minhash=dict(num_perm=64)))


# ------------------------------------------------------------------ Jaccard verification shuffle


class _Recording(LocalExecutor):
    """LocalExecutor that keeps each stage call's function name and outputs."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def submit(self, fn, *args, num_returns: int = 1):
        out = super().submit(fn, *args, num_returns=num_returns)
        self.calls.append((fn.__name__, out))
        return out


def test_verification_ships_each_set_once_per_partition_and_matches_brute_force(wiki_docs, pairs):
    """A 30-variant cluster (hundreds of candidate edges, Jaccard from ~1 down past the threshold) plus real
    comment pairs: verified edges must equal exact Jaccard over the candidate edges, and the shuffle must
    carry each document's shingle set at most once per destination partition, not once per edge."""
    from dedup.exact import node_ids

    words = wiki_docs[0].split()
    variants = []
    for k in range(30):  # variant k has k words replaced, spread over the text
        w = list(words)
        for j in range(k):
            w[(j * 37) % len(w)] = f"zq{k}x{j}"
        variants.append(" ".join(w))
    table = pa.concat_tables(
        [pa.table({"id": [f"v{k:02d}" for k in range(30)], "text": variants}), _corpus(pairs[:300])]
    )
    P = 3
    cfg = DedupConfig(use_ray=False, exact=dict(enabled=False), num_partitions=P)
    ex = _Recording()
    blocks = [table.slice(i, 250) for i in range(0, table.num_rows, 250)]
    dedup_blocks(blocks, cfg, ex)

    def outs(name):
        return [o for n, o in ex.calls if n == name]

    cand = pa.concat_tables(outs("edge_unique"))
    verified = pa.concat_tables(outs("verify_finish"))
    text_of = dict(zip(node_ids(table["id"]).tolist(), table["text"].to_pylist(), strict=True))
    m = cfg.minhash

    def sim(a, b):
        return jaccard(shingle_hashes(a, m.ngram, m.char_ngram), shingle_hashes(b, m.ngram, m.char_ngram))

    cand_pairs = list(zip(cand["u"].to_pylist(), cand["v"].to_pylist(), strict=True))
    expect = {(u, v) for u, v in cand_pairs if sim(text_of[u], text_of[v]) >= m.threshold}
    got = set(zip(verified["u"].to_pylist(), verified["v"].to_pylist(), strict=True))
    assert got == expect
    assert 0 < len(expect) < len(cand_pairs)  # both outcomes exercised

    shipped = 0
    for o in outs("verify_attach"):  # per destination: exactly the distinct u's of its edges, once each
        for e, s in zip(o[:P], o[P:], strict=True):
            assert e.column_names == ["u", "v"]  # no set copied onto an edge
            assert sorted(s["node"].to_pylist()) == sorted(set(e["u"].to_pylist()))
            shipped += s.num_rows
    assert shipped < len(cand_pairs)  # fewer sets than edges: the variant cluster's u's have several each
