"""Tokenize stage: real text in, shards that datasets/pyarrow open, exact round trips, determinism, bad input."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tokenization import (
    EmptyCorpusError,
    TokenDataset,
    TokenizeConfig,
    TokenizeInputError,
    load_tokenizer,
    tokenize_to_dir,
    train_tokenizer,
)
from tokenization.inputs import Chunk, plan_chunks, read_chunk, read_chunk_checked

pytestmark = pytest.mark.ray


def _speeches(shared_data: Path, n: int) -> list[str]:
    """Speeches of tiny-shakespeare (blank-line separated): many short, real documents."""
    text = (shared_data / "clean_text" / "tinyshakespeare_input.txt").read_text(encoding="utf-8")
    return [d for d in text.split("\n\n") if d.strip()][:n]


def _write_parquet(path: Path, texts: list[str], prefix: str = "doc", row_group_size: int = 256) -> Path:
    ids = [hashlib.sha1(f"{prefix}:{i}".encode()).hexdigest() for i in range(len(texts))]
    pq.write_table(
        pa.table({"id": ids, "text": texts, "source": [prefix] * len(texts)}),
        path,
        row_group_size=row_group_size,
        compression="zstd",
    )
    return path


def _cfg(**kw) -> TokenizeConfig:
    base = {
        "seq_len": 64,
        "val_fraction": 0.1,
        "seed": 7,
        "shard_rows": 200,
        "tokenizer": {"vocab_size": 1000},
    }
    tok = kw.pop("tokenizer", {})
    base.update(kw)
    base["tokenizer"] = {**base["tokenizer"], **tok}
    return TokenizeConfig.model_validate(base)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, shared_data) -> tuple[Path, list[str]]:
    texts = _speeches(shared_data, 1500)
    d = tmp_path_factory.mktemp("tok_corpus")
    return _write_parquet(d / "part-00000.parquet", texts), texts


@pytest.fixture(scope="module")
def tokens_one_worker(tmp_path_factory, corpus, ray_session) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("tok_out") / "tokens"
    stats = tokenize_to_dir(
        [str(corpus[0])], str(out), _cfg(num_workers=1, docs_per_task=100_000), source_run="runs/test"
    )
    return out, stats


def test_config_embeds_and_forbids_unknown_keys():
    cfg = TokenizeConfig.model_validate({"seq_len": 128, "tokenizer": {"path": "x/tokenizer.json"}})
    assert cfg.row_len == 129 and cfg.tokenizer.path == "x/tokenizer.json"
    with pytest.raises(ValueError):
        TokenizeConfig.model_validate({"seq_length": 128})
    with pytest.raises(ValueError):
        TokenizeConfig.model_validate({"tokenizer": {"vocab": 10}})
    with pytest.raises(ValueError):
        TokenizeConfig.model_validate({"tail": "pad", "tokenizer": {"pad_token": None}})
    assert TokenizeConfig(seq_len=1023, shard_mb=1).rows_per_shard() == 256


def test_manifest_counts_and_checksums(tokens_one_worker, corpus):
    out, stats = tokens_one_worker
    _, texts = corpus
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seq_len"] == 64 and manifest["row_len"] == 65
    assert manifest["source_run"] == "runs/test"
    tok_bytes = (out / "tokenizer.json").read_bytes()
    assert manifest["tokenizer_sha256"] == hashlib.sha256(tok_bytes).hexdigest()
    tok = load_tokenizer(out)
    assert manifest["vocab_size"] == tok.get_vocab_size() == 1000
    assert manifest["eos_id"] == tok.token_to_id("<|eos|>")

    # Every document is counted once; every encoded token is in a row or counted as dropped.
    enc = tok.encode_batch(texts, add_special_tokens=False)
    expected_tokens = sum(len(e.ids) + 1 for e in enc)  # + EOS per document
    splits = manifest["splits"]
    assert splits["train"]["documents"] + splits["val"]["documents"] == len(texts)
    assert 0 < splits["val"]["documents"] < 0.2 * len(texts)
    assert sum(s["tokens"] + s["dropped_tokens"] for s in splits.values()) == expected_tokens
    for name, split in splits.items():
        assert 0 <= split["dropped_tokens"] < 65
        assert split["tokens"] == split["rows"] * 65 == sum(s["tokens"] for s in split["shards"])
        assert split["rows"] == sum(s["rows"] for s in split["shards"])
        assert stats.splits[name].rows == split["rows"] and stats.splits[name].tokens == split["tokens"]
        assert stats.splits[name].documents == split["documents"]
        for shard in split["shards"]:
            assert shard["path"].startswith(f"{name}/shard-")
            assert hashlib.sha256((out / shard["path"]).read_bytes()).hexdigest() == shard["sha256"]
            assert shard["rows"] <= 200
    assert (
        manifest["total_tokens"] == stats.total_tokens == splits["train"]["tokens"] + splits["val"]["tokens"]
    )
    assert stats.documents_in == len(texts) and stats.documents_empty == 0
    assert not list(out.parent.glob(".tokens.*")), "staging/scratch directories left behind"


def test_shards_open_with_datasets_and_pyarrow_mmap(tokens_one_worker):
    import datasets  # a dev dependency (`make` installs it): missing, this test fails rather than skips

    out, _ = tokens_one_worker
    manifest = json.loads((out / "manifest.json").read_text())
    shards = [s for split in manifest["splits"].values() for s in split["shards"]]
    assert len(shards) >= 3
    for shard in shards:
        path = str(out / shard["path"])
        ds = datasets.Dataset.from_file(path)
        assert ds.num_rows == shard["rows"] and ds.column_names == ["input_ids"]
        assert len(ds[0]["input_ids"]) == 65

        allocated = pa.total_allocated_bytes()
        with pa.memory_map(path) as source:
            table = pa.ipc.open_stream(source).read_all()
            assert table.schema.field("input_ids").type == pa.list_(pa.int32())
            assert table.num_rows == shard["rows"]
            lengths = pa.compute.list_value_length(table.column("input_ids")).to_numpy()
            assert (lengths == 65).all()
            # memory-mapped: reading allocated under a quarter of the 4 * tokens bytes a copy would
            assert pa.total_allocated_bytes() - allocated < shard["tokens"]


def test_rows_decode_to_source_text_short_corpus(tmp_path, shared_data, ray_session):
    """A corpus shorter than one row, padded: the first row is the documents joined with EOS."""
    stories = (shared_data / "clean_text" / "tinystories_head.txt").read_text(encoding="utf-8")
    texts = [s for s in stories.split("\n") if s.strip()][:12]
    src = _write_parquet(tmp_path / "in.parquet", texts)
    cfg = _cfg(seq_len=4096, val_fraction=0.0, tail="pad", tokenizer={"vocab_size": 400, "add_bos": True})
    stats = tokenize_to_dir([str(src)], str(tmp_path / "tokens"), cfg)
    ds = TokenDataset(tmp_path / "tokens", verify=True)
    assert len(ds) == 1 and stats.splits["train"].pad_tokens > 0
    tok = load_tokenizer(ds.tokenizer_path)
    row = ds[0].tolist()
    assert row[0] == ds.bos_id and ds.pad_id is not None
    body = row[: len(row) - stats.splits["train"].pad_tokens]
    assert set(row[len(body) :]) == {ds.pad_id} and body[-1] == ds.eos_id
    decoded = tok.decode(body, skip_special_tokens=False)
    assert decoded == "".join(f"<|bos|>{t}<|eos|>" for t in texts)


def test_long_document_split_across_rows(tmp_path, shared_data, ray_session):
    """One book-length document spans many rows; the rows reassemble to exactly its text."""
    book = (shared_data / "clean_text" / "gutenberg" / "31251-0.txt").read_text(encoding="utf-8")[:60_000]
    src = _write_parquet(tmp_path / "in.parquet", [book])
    cfg = _cfg(seq_len=127, val_fraction=0.0, tail="drop", shard_rows=37, tokenizer={"vocab_size": 600})
    stats = tokenize_to_dir([str(src)], str(tmp_path / "tokens"), cfg)
    ds = TokenDataset(tmp_path / "tokens")
    tok = load_tokenizer(ds.tokenizer_path)
    ids = [*tok.encode(book, add_special_tokens=False).ids, ds.eos_id]
    n_rows = len(ids) // 128
    assert len(ds) == n_rows > 50 and stats.splits["train"].dropped_tokens == len(ids) - n_rows * 128
    assert len(ds.shard_paths) == -(-n_rows // 37)
    expected = {tuple(ids[i * 128 : (i + 1) * 128]): i for i in range(n_rows)}
    rows = ds.take(np.arange(len(ds)))
    order = [expected[tuple(r)] for r in rows.tolist()]  # KeyError = a row that is not a clean slice
    assert sorted(order) == list(range(n_rows)) and order != list(range(n_rows))  # all present, shuffled
    reassembled = rows[np.argsort(order)].reshape(-1).tolist()
    assert tok.decode(reassembled, skip_special_tokens=False) == tok.decode(ids[: n_rows * 128])
    assert book.startswith(tok.decode(reassembled))


def test_same_bytes_for_any_worker_count_and_jsonl_input(tmp_path, tokens_one_worker, corpus, ray_session):
    """2 workers with 8× more tasks, and the same documents as JSONL, give byte-identical output."""
    out1, _ = tokens_one_worker
    src, _ = corpus
    out2 = tmp_path / "tokens2"
    tokenize_to_dir([str(src)], str(out2), _cfg(num_workers=2, docs_per_task=97), source_run="runs/test")
    table = pq.read_table(src)
    jsonl = tmp_path / "in.jsonl"
    with open(jsonl, "w", encoding="utf-8") as f:
        for rec in table.to_pylist():
            f.write(json.dumps({"id": rec["id"], "text": rec["text"]}) + "\n")
    out3 = tmp_path / "tokens3"
    tokenize_to_dir([str(jsonl)], str(out3), _cfg(num_workers=2, docs_per_task=250), source_run="runs/test")
    files1 = sorted(p.relative_to(out1) for p in out1.rglob("*") if p.is_file())
    assert len(files1) > 4
    for other in (out2, out3):
        assert sorted(p.relative_to(other) for p in other.rglob("*") if p.is_file()) == files1
        for rel in files1:
            assert (out1 / rel).read_bytes() == (other / rel).read_bytes(), rel


def test_jsonl_chunks_cover_every_line_once(tmp_path, shared_data):
    texts = _speeches(shared_data, 300)
    path = tmp_path / "x.jsonl"
    lines = [json.dumps({"text": t}) for t in texts]
    lines.insert(100, "")  # a blank line is skipped, not a document
    path.write_text("\n".join(lines))  # no trailing newline
    for per_task in (1, 7, 1000):
        chunks = plan_chunks([str(path)], per_task)
        got_ids, got_texts = [], []
        for c in chunks:
            ids, ts = read_chunk(c, "id", "text")
            got_ids += ids
            got_texts += ts
        assert got_texts == texts
        assert got_ids[:2] == ["x.jsonl#0", "x.jsonl#1"] and got_ids[100] == "x.jsonl#101"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": \n[1, 2]\n{"text": 7}\n{"text": "also ok"}\n')
    ids, texts, malformed = read_chunk_checked(
        Chunk(0, str(bad), "jsonl", 0, bad.stat().st_size, 0), "id", "text"
    )
    assert texts == ["ok", "also ok"] and ids == [
        "bad.jsonl#0",
        "bad.jsonl#4",
    ]  # bad lines skipped, not fatal
    assert [str(b) for b in malformed] == [
        f"{bad}: line 2: malformed JSON: Expecting value (column 9)",
        f"{bad}: line 3: expected a JSON object, got list",
        f"{bad}: line 4: field 'text' is int, not a string",
    ]
    # A lone surrogate escape is valid JSON but not Unicode: the tokenizer gets "?", as ingest stores it.
    sur = tmp_path / "sur.jsonl"
    sur.write_text('{"text": "a lone \\ud800 surrogate"}\n{"text": "caf\\u00e9"}\n')
    _, texts, malformed = read_chunk_checked(
        Chunk(0, str(sur), "jsonl", 0, sur.stat().st_size, 0), "id", "text"
    )
    assert texts == ["a lone ? surrogate", "café"] and not malformed


def test_tokenizer_roundtrip_and_directory_load(tmp_path, shared_data):
    texts = _speeches(shared_data, 400)
    cfg = _cfg(tokenizer={"vocab_size": 500})
    tok = train_tokenizer(iter(texts), cfg)
    again = train_tokenizer(iter(texts), cfg)
    assert tok.to_str() == again.to_str(), "training is not deterministic"
    assert [tok.token_to_id(t) for t in ("<|bos|>", "<|eos|>", "<|pad|>")] == [0, 1, 2]
    odd = "naïve café — “quotes”, emoji 🙂, tabs\tand\r\nCRLF  double  spaces"
    for t in [*texts[:50], odd]:
        assert tok.decode(tok.encode(t).ids) == t
    tok.save(str(tmp_path / "tokenizer.json"))
    assert load_tokenizer(tmp_path).to_str() == tok.to_str()
    with pytest.raises(TokenizeInputError, match="tokenizer file not found"):
        load_tokenizer(tmp_path / "nope")


def test_empty_corpus_is_a_clear_error(tmp_path, ray_session):
    empty = _write_parquet(tmp_path / "empty.parquet", [])
    with pytest.raises(EmptyCorpusError, match="empty corpus"):
        tokenize_to_dir([str(empty)], str(tmp_path / "t1"), _cfg())
    blank = _write_parquet(tmp_path / "blank.parquet", ["", "", ""])
    with pytest.raises(EmptyCorpusError, match="empty corpus"):
        tokenize_to_dir([str(blank)], str(tmp_path / "t2"), _cfg())
    with pytest.raises(EmptyCorpusError, match="empty corpus"):
        tokenize_to_dir([], str(tmp_path / "t3"), _cfg())
    assert not (tmp_path / "t1").exists() and not (tmp_path / "t2").exists()
    assert not list(tmp_path.glob(".t*")), "staging/scratch directories left behind"


def test_tokenizer_without_eos_is_a_clear_error(tmp_path, shared_data):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>"], show_progress=False)
    tok.train_from_iterator(_speeches(shared_data, 50), trainer=trainer)
    tok.save(str(tmp_path / "tokenizer.json"))
    src = _write_parquet(tmp_path / "in.parquet", _speeches(shared_data, 20))
    cfg = _cfg(tokenizer={"path": str(tmp_path)})
    with pytest.raises(ValueError, match=r"no EOS token '<\|eos\|>'.*<unk>"):
        tokenize_to_dir([str(src)], str(tmp_path / "tokens"), cfg)


def test_existing_output_is_not_clobbered(tmp_path, tokens_one_worker):
    out, _ = tokens_one_worker
    with pytest.raises(FileExistsError):
        tokenize_to_dir(["unused.parquet"], str(out), _cfg())


def test_corrupted_shard_is_named_with_checksums(tmp_path, tokens_one_worker):
    src, _ = tokens_one_worker
    out = tmp_path / "tokens"
    shutil.copytree(src, out)
    manifest = json.loads((out / "manifest.json").read_text())
    shard = manifest["splits"]["train"]["shards"][1]
    path = out / shard["path"]
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF  # flip bits inside the token values
    path.write_bytes(bytes(data))
    actual = hashlib.sha256(bytes(data)).hexdigest()
    with pytest.raises(ValueError) as err:
        TokenDataset(out, verify=True)
    msg = str(err.value)
    assert str(path) in msg and shard["sha256"] in msg and actual in msg
    assert len(TokenDataset(out, verify=False)) == manifest["splits"]["train"]["rows"]  # opt-in check

    path.write_bytes(bytes(data[: len(data) // 2]))  # truncated: unreadable even without verify
    with pytest.raises(ValueError, match=str(path)):
        TokenDataset(out, verify=False)


def test_training_sample_is_capped_and_independent_of_chunking(tmp_path, shared_data):
    from tokenization.to_dir import training_sample

    texts = _speeches(shared_data, 2000)
    src = str(_write_parquet(tmp_path / "in.parquet", texts))
    cfg = _cfg(tokenizer={"sample_documents": 150})
    samples = [list(training_sample(plan_chunks([src], per), [src], len(texts), cfg)) for per in (64, 5000)]
    assert samples[0] == samples[1]
    assert 100 <= len(samples[0]) <= 150 and set(samples[0]) <= set(texts)
    assert samples[0] != texts[: len(samples[0])], "a sample, not the head of the corpus"
    by_bytes = list(
        training_sample(plan_chunks([src], 500), [src], len(texts), _cfg(tokenizer={"sample_bytes": 20_000}))
    )
    n = sum(len(t.encode()) for t in by_bytes)
    assert 20_000 <= n < 20_000 + max(len(t.encode()) for t in texts)


@pytest.mark.parametrize("add_bos", [False, True])
def test_pack_documents_matches_the_plain_python_stream(shared_data, add_bos):
    """The vectorized stream builder equals the obvious list loop ([BOS] ids EOS per document)."""
    from tokenization.encode import pack_documents
    from tokenization.tokenizer import SpecialIds

    texts = _speeches(shared_data, 200)
    tok = train_tokenizer(iter(texts), _cfg(tokenizer={"vocab_size": 500}))
    docs = [e.ids for e in tok.encode_batch_fast(texts, add_special_tokens=False)] + [[]]
    specials = SpecialIds(eos=1, bos=0, pad=2, add_bos=add_bos)
    expected: list[int] = []
    for ids in docs:
        expected += ([0] if add_bos else []) + ids + [1]
    got = pack_documents(docs, specials)
    assert got.dtype == np.dtype("<i4") and got.tolist() == expected


def test_parquet_chunks_follow_row_groups_and_cover_every_row_once(tmp_path, shared_data):
    """Chunks never straddle row groups (no group is decoded twice) unless a group alone is too big."""
    texts = _speeches(shared_data, 350)
    src = _write_parquet(tmp_path / "in.parquet", texts, row_group_size=40)
    for per_task in (1, 30, 40, 100, 10_000):
        chunks = plan_chunks([str(src)], per_task)
        assert all(c.stop - c.start <= per_task for c in chunks)
        if per_task >= 40:  # whole groups: every boundary is a multiple of the group size
            assert all(c.start % 40 == 0 for c in chunks)
        got = [t for c in chunks for t in read_chunk(c, "id", "text")[1]]
        assert got == texts


def test_encode_task_writes_its_chunk_files_atomically(tmp_path, shared_data, monkeypatch):
    """While a task writes, its chunk files exist only as kit temporaries (what
    `pipeline.storage.remove_temporaries` and a resume delete after a kill); an error leaves nothing,
    success leaves exactly the chunk files."""
    import os

    from kit.files import TEMPORARY_NAME
    from tokenization import encode
    from tokenization.tokenizer import SpecialIds

    texts = _speeches(shared_data, 60)
    src = _write_parquet(tmp_path / "in.parquet", texts)
    (chunk,) = plan_chunks([str(src)], 1000)
    tok = train_tokenizer(iter(texts), _cfg(tokenizer={"vocab_size": 500}))
    specials = SpecialIds(eos=1, bos=0, pad=2, add_bos=True)
    out = tmp_path / "work"
    out.mkdir()

    def run() -> encode.ChunkResult:
        return encode.encode_chunk(
            chunk, "sha", tok.to_str(), specials, id_column="id", text_column="text",
            seed=7, val_fraction=0.3, batch_size=8, tmp_dir=str(out),
        )  # fmt: skip

    seen: list[list[str]] = []
    real = encode.pack_documents

    def dying(docs, sp):
        seen.append(sorted(os.listdir(out)))
        if len(seen) == 3:
            raise RuntimeError("killed")
        return real(docs, sp)

    monkeypatch.setattr(encode, "pack_documents", dying)
    with pytest.raises(RuntimeError, match="killed"):
        run()
    assert len(seen[-1]) == 2 and all(TEMPORARY_NAME.fullmatch(n) for n in seen[-1])
    assert os.listdir(out) == []
    monkeypatch.setattr(encode, "pack_documents", real)
    res = run()
    assert sorted(os.listdir(out)) == ["chunk-000000.train.bin", "chunk-000000.val.bin"]
    assert sum(res.tokens.values()) == sum(os.path.getsize(out / n) // 4 for n in os.listdir(out))


def test_resume_deletes_temporaries_of_killed_encode_tasks(tmp_path):
    from kit.files import temporary_path
    from tokenization.encode import chunk_path
    from tokenization.workdir import WorkDir

    work = WorkDir(tmp_path / "tokens")
    work.path.mkdir()
    keep = Path(chunk_path(str(work.path), 3, "train"))
    keep.write_bytes(b"\x01\x00\x00\x00")  # encoded, not yet appended: reused
    appended = Path(chunk_path(str(work.path), 1, "val"))
    appended.write_bytes(b"")
    orphan = temporary_path(chunk_path(str(work.path), 4, "val"))
    orphan.write_bytes(b"half")
    work.drop_appended(2)
    assert sorted(p.name for p in work.path.iterdir()) == [keep.name]
