"""One way to do each thing (issue 16): input files, dedup decisions, cluster-size buckets, the loss
curve, the local Ray start, validation errors and pinned files are each done in one place, and
every user gets the same answer."""

from __future__ import annotations

import ast
import gzip
import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dedup.cluster_sizes import CLUSTER_SIZE_BUCKETS, cluster_size_bucket, cluster_size_histogram
from dedup.io import load_block, plan_blocks, split_by_decision
from ingest.readers import detect_format
from kit.files import document_format, expand_inputs, split_compression
from kit.svg import loss_chart, svg_document
from tokenization.inputs import file_kind

REPO = Path(__file__).resolve().parents[1]
CODE_FOLDERS = (
    *(
        "kit",
        "dedup",
        "filters",
        "tokenization",
        "trainer",
        "server",
        "ingest",
        "pipeline",
        "report",
        "winnow",
    ),
    *("benchmarks", "scripts"),
)
NAMES = [
    "a.parquet",
    "A.PARQUET",
    "b.pq",
    "c.jsonl",
    "d.json",
    "e.ndjson",
    "f.JSONL",
    "g.jsonl.gz",
    "h.json.gzip",
    "i.ndjson.zst",
    "j.jsonl.ZSTD",
    "k.parquet.gz",
    "l.txt",
    "m.warc.gz",
    "n.csv",
    "README",
]


def _touch(path: Path, data: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------- input files


def test_document_names_are_one_rule_for_every_reader() -> None:
    kinds = {name: document_format(name) for name in NAMES}
    assert {n for n, k in kinds.items() if k == "parquet"} == {"a.parquet", "A.PARQUET", "b.pq"}
    assert {n for n, k in kinds.items() if k == "jsonl"} == {
        "c.jsonl",
        "d.json",
        "e.ndjson",
        "f.JSONL",
        "g.jsonl.gz",
        "h.json.gzip",
        "i.ndjson.zst",
        "j.jsonl.ZSTD",
    }
    for name, kind in kinds.items():
        if kind is not None:
            assert detect_format(name) == kind, name  # ingest reads it as the same format
        compressed = split_compression(name)[1] is not None
        if kind is None or compressed:  # tokenization cuts byte ranges: plain files only
            with pytest.raises(ValueError, match="unsupported tokenize input"):
                file_kind(name)
        else:
            assert file_kind(name) == kind, name
    assert split_compression("x.JSONL.GZ") == ("x.JSONL", "gzip")
    assert split_compression("x.jsonl") == ("x.jsonl", None)


def test_a_directory_means_the_documents_below_it(tmp_path: Path) -> None:
    root = tmp_path / "in"
    for rel in [
        "b.jsonl",
        "a.parquet",
        "c.json",
        "d.jsonl.gz",
        "notes.txt",
        "sub/e.ndjson",
        "sub/deeper/f.PQ",
        ".g.jsonl",
        ".hidden/h.jsonl",
        "_parts/part-00000.json",
        "_SUCCESS",
    ]:
        _touch(root / rel)
    loose = _touch(tmp_path / "loose.txt")  # a file named on its own is taken as given
    got = expand_inputs([str(loose), str(root)])
    rel = [str(Path(p).relative_to(tmp_path)) for p in got]
    assert rel == [
        "loose.txt",
        "in/a.parquet",
        "in/b.jsonl",
        "in/c.json",
        "in/d.jsonl.gz",
        "in/sub/deeper/f.PQ",
        "in/sub/e.ndjson",
    ]
    (tmp_path / "empty").mkdir()
    assert expand_inputs([str(tmp_path / "empty")]) == []
    with pytest.raises(FileNotFoundError, match=r"input not found: .*missing\.jsonl"):
        expand_inputs([str(tmp_path / "missing.jsonl")])


@pytest.mark.parametrize("name", ["docs.jsonl.gz", "docs.json.gzip", "docs.ndjson"])
def test_dedup_reads_every_jsonl_name(tmp_path: Path, name: str) -> None:
    lines = "".join(json.dumps({"id": i, "text": f"document {i}"}) + "\n" for i in range(3)).encode()
    path = _touch(tmp_path / name, gzip.compress(lines) if split_compression(name)[1] else lines)
    (block,) = plan_blocks([str(path)], rows_per_block=100)
    table = load_block(block)
    assert table["id"].to_pylist() == ["0", "1", "2"]
    assert table["text"].to_pylist() == ["document 0", "document 1", "document 2"]


# ---------------------------------------------------------------- dedup decisions


def test_split_by_decision_appends_the_decision_in_table_order() -> None:
    table = pa.table({"id": ["a", "b", "c", "d"], "text": ["1", "2", "3", "4"]})
    removed = pa.table(
        {"id": ["d", "b"], "reason": ["near", "exact"], "cluster_id": ["c1", "c0"], "kept_id": ["a", "c"]}
    )
    kept, rejected = split_by_decision(table, removed)
    assert kept.to_pylist() == [{"id": "a", "text": "1"}, {"id": "c", "text": "3"}]
    assert rejected.to_pylist() == [
        {"id": "b", "text": "2", "reason": "exact", "cluster_id": "c0", "kept_id": "c"},
        {"id": "d", "text": "4", "reason": "near", "cluster_id": "c1", "kept_id": "a"},
    ]
    kept, rejected = split_by_decision(table.slice(0, 0), removed)
    assert kept.num_rows == rejected.num_rows == 0
    assert rejected.column_names == ["id", "text", "reason", "cluster_id", "kept_id"]
    assert rejected.schema.field("kept_id").type == pa.string()


# ---------------------------------------------------------------- cluster-size buckets


def test_cluster_size_buckets() -> None:
    assert [cluster_size_bucket(s) for s in (2, 3, 9, 10, 99, 100, 10**6)] == [
        "2",
        "3",
        "9",
        "10-99",
        "10-99",
        "100+",
        "100+",
    ]
    assert {cluster_size_bucket(s) for s in range(2, 1000)} == set(CLUSTER_SIZE_BUCKETS)
    with pytest.raises(ValueError):
        cluster_size_bucket(1)
    hist = cluster_size_histogram([150, 2, 12, 2, 1, 0, 3])
    assert hist == {"2": 2, "3": 1, "10-99": 1, "100+": 1}
    assert list(hist) == ["2", "3", "10-99", "100+"]  # bucket order, not string order
    assert cluster_size_histogram([]) == {}


def test_report_shows_the_ledger_buckets(tmp_path: Path) -> None:
    """The report's buckets from a clusters file equal the ones the stage wrote into the ledger."""
    from report.data import read_clusters

    sizes = [2, 2, 3, 7, 15, 40, 230]
    run = tmp_path / "run"
    (run / "clusters").mkdir(parents=True)
    pq.write_table(
        pa.table({"size": sizes, "kind": ["near_duplicate"] * len(sizes)}), run / "clusters" / "a.parquet"
    )
    ledger = {
        "stages": [{"name": "b", "clusters": len(sizes), "cluster_sizes": cluster_size_histogram(sizes)}]
    }
    from_file, from_ledger = read_clusters(str(run), ledger, max_rows=1000)
    assert (from_file.stage, from_ledger.stage) == ("a", "b")
    assert from_file.buckets == from_ledger.buckets
    assert list(from_file.buckets) == list(CLUSTER_SIZE_BUCKETS)  # every bucket, empty ones too
    assert {k: v for k, v in from_file.buckets.items() if v} == cluster_size_histogram(sizes)


# ---------------------------------------------------------------- the loss curve


def test_trainer_and_report_draw_the_same_loss_curve(tmp_path: Path) -> None:
    from report.data import read_train_log
    from trainer.metrics import plot_losses

    log = tmp_path / "log.jsonl"
    recs = [{"kind": "train", "step": s, "loss": 5.0 / s} for s in range(1, 40)]
    recs += [{"kind": "val", "step": s, "val_loss": 6.0 / s} for s in (10, 20, 30)]
    log.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")

    written = plot_losses(log, tmp_path / "loss_curve.svg")
    assert written == tmp_path / "loss_curve.svg"
    seen = read_train_log(str(log))
    inline = loss_chart((seen.steps, seen.loss), (seen.val_steps, seen.val_loss))
    assert written.read_text(encoding="utf-8") == svg_document(inline)
    assert inline.count("<polyline") == 2 and 'id="chart-loss"' in inline
    assert plot_losses(_touch(tmp_path / "empty.jsonl"), tmp_path / "none.svg") is None


def test_a_diverged_step_leaves_a_gap(tmp_path: Path) -> None:
    from trainer.metrics import plot_losses

    log = tmp_path / "log.jsonl"
    recs = [{"kind": "train", "step": 1, "loss": 3.0}, {"kind": "train", "step": 2, "loss": math.nan}]
    recs.append({"kind": "train", "step": 3, "loss": 2.0})
    log.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    svg = plot_losses(log, tmp_path / "c.svg").read_text(encoding="utf-8")
    assert "nan" not in svg.lower()
    assert "train loss from 3.0000 at step 1 to 2.0000 at step 3" in svg


# ---------------------------------------------------------------- the local Ray start


def test_only_the_kit_starts_ray() -> None:
    """Every Ray start (product, benchmarks, scripts) goes through `kit.ray_local` (loopback, token auth)."""
    callers = []
    for folder in CODE_FOLDERS:
        for path in sorted((REPO / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "init"
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "ray"
                ):
                    callers.append(str(path.relative_to(REPO)))
    assert sorted(set(callers)) == ["kit/ray_local.py"]


def test_tokens_metadata_has_one_writer(tmp_path: Path) -> None:
    """`tokenization.pack.write_metadata` writes tokenizer.json as given and manifest.json as indented JSON;
    no other product file spells those names as a string."""
    from tokenization.pack import MANIFEST, TOKENIZER_FILE, write_metadata

    manifest = {"format_version": 1, "tokenizer": TOKENIZER_FILE, "splits": {"train": {"rows": 2}}}
    write_metadata(tmp_path / "a", b'{"model": "\xc3\xa9"}', manifest)
    write_metadata(tmp_path / "b", '{"model": "é"}', manifest)
    for name in ("a", "b"):
        assert (tmp_path / name / TOKENIZER_FILE).read_bytes() == b'{"model": "\xc3\xa9"}'
        assert (tmp_path / name / MANIFEST).read_bytes() == (json.dumps(manifest, indent=2) + "\n").encode()
    spelled = []
    for folder in ("kit", "dedup", "tokenization", "trainer", "pipeline", "report", "winnow"):
        for path in sorted((REPO / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and node.value == MANIFEST:
                    spelled.append(str(path.relative_to(REPO)))
    assert spelled == ["tokenization/pack.py"]


# ---------------------------------------------------------------- validation errors and pinned files

PRODUCT_FOLDERS = CODE_FOLDERS[:-2]  # without benchmarks and scripts


def _product_calls(attr: str) -> list[tuple[str, ast.Call]]:
    found = []
    for folder in PRODUCT_FOLDERS:
        for path in sorted((REPO / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == attr
                ):
                    found.append((str(path.relative_to(REPO)), node))
    return found


def test_only_the_kit_reads_pydantic_errors() -> None:
    """Every room names a bad field through `kit.validation.field_errors` (one wording, `did you mean`)."""
    assert sorted({path for path, _ in _product_calls("errors")}) == ["kit/validation.py"]


def test_no_product_code_hashes_a_file_by_hand() -> None:
    """A pinned file is read with `kit.files.read_pinned`, a file digest is `kit.files.file_sha256`:
    no `hashlib.sha256(<path>.read_bytes())` in the product."""
    by_hand = [
        path
        for path, call in _product_calls("sha256")
        if any(
            isinstance(arg, ast.Call)
            and isinstance(arg.func, ast.Attribute)
            and arg.func.attr == "read_bytes"
            for arg in call.args
        )
    ]
    assert by_hand == []
