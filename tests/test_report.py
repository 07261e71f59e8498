"""The run report: sections and numbers from a fixture run directory, tolerance, sampling, and a real browser.

The fixture run holds real multilingual sentences (tests/fixtures/langid) passed
through a hand-made five-stage ledger, so every number the report shows is
known here independently of the report code.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.ledger import StageStats, ledger_dict
from report.data import read_sample
from report.page import write_report
from tests.langid_data import langid_file

LANGS = {"en": 60, "de": 20, "fr": 15, "es": 15, "ru": 10}
KEEP = ["en", "de"]
CATS = ["hate", "spam", "language"]
SEQ = 256


def chart_count(html: str) -> int:
    """Number of charts in a rendered report (what the page's script should find drawn)."""
    return html.count('<svg class="chart"')


# -- fixture run directory -------------------------------------------------------------------------


def _sentences(shared_data: Path) -> list[tuple[str, str]]:
    want = dict(LANGS)
    out = []
    with open(langid_file("lingua_sentences_75lang_250each.tsv"), encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            if want.get(row["lang"], 0) > 0:
                want[row["lang"]] -= 1
                out.append((row["lang"], row["text"]))
    assert not any(want.values())
    return out


def _write(path: Path, table: pa.Table, row_group_size: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd", row_group_size=row_group_size)


def _docs(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows)


def make_run(root: Path, shared_data: Path, *, policy: bool = True, train: bool = True) -> tuple[Path, dict]:
    """A finished run with every optional part; returns it and the numbers the report must show."""
    rng = np.random.default_rng(7)
    run = root / "runs" / "fixture"
    run.mkdir(parents=True)
    src = "file:///data/langid.tsv"
    docs = [
        {"id": f"d{i:04d}", "text": t, "source": src, "url": None, "position": i, "lang_true": lang}
        for i, (lang, t) in enumerate(_sentences(shared_data))
    ]
    exp: dict = {}
    stages: list[StageStats] = []

    # ingest: 4 broken records quarantined, 6 empty ones removed.
    empties = [
        {"id": f"e{i}", "text": "", "source": src, "url": None, "position": 1000 + i} for i in range(6)
    ]
    bad = [
        {
            "source": "file:///data/broken.jsonl.gz",
            "position": 17 + i,
            "stage": "ingest",
            "id": None,
            "error": f"JSONDecodeError: Expecting value: line 1 column {i + 1}\nTraceback ...",
        }
        for i in range(3)
    ]
    bad.append(
        {
            "source": "file:///data/<script>alert(1)</script>.txt",
            "position": 3,
            "stage": "ingest",
            "id": None,
            "error": "UnicodeDecodeError: <script>alert('x')</script>",
        }
    )
    plain = [{k: v for k, v in d.items() if k != "lang_true"} for d in docs]
    _write(run / "ingest" / "part-00000.parquet", _docs(plain))
    _write(
        run / "rejected" / "ingest" / "part-00000.parquet",
        _docs([{**e, "stage": "ingest", "reason": "empty_text"} for e in empties]),
    )
    _write(run / "quarantine" / "ingest" / "part-00000.parquet", pa.Table.from_pylist(bad))
    stages.append(StageStats("ingest", len(docs) + 10, len(docs), {"empty_text": 6}, 4, 9000, 8000, 1.5))

    # exact_dedup: the last 4 English sentences are copies of the first 4 (2-member clusters).
    dup_ids = [d["id"] for d in docs if d["lang_true"] == "en"][-4:]
    keep_ids = [d["id"] for d in docs if d["lang_true"] == "en"][:4]
    after_exact = [d for d in docs if d["id"] not in dup_ids]
    _write(
        run / "exact_dedup" / "part-00000.parquet",
        _docs([{k: v for k, v in d.items() if k != "lang_true"} for d in after_exact]),
    )
    _write(
        run / "clusters" / "exact_dedup.parquet",
        pa.table(
            {
                "cluster_id": [f"c{i}" for i in range(4)],
                "kept_id": keep_ids,
                "kind": ["exact"] * 4,
                "size": [2] * 4,
                "members": [[k, r] for k, r in zip(keep_ids, dup_ids, strict=True)],
            }
        ),
    )
    stages.append(
        StageStats("exact_dedup", len(docs), len(after_exact), {"exact_duplicate": 4}, 0, 8000, 7800, 0.5)
    )

    # filter: real language labels; hate/spam scores drawn, a few forced over the thresholds.
    rows = []
    for i, d in enumerate(after_exact):
        r = {k: v for k, v in d.items() if k != "lang_true"}
        r["lang"] = d["lang_true"]
        r["lang_score"] = float(0.9 + 0.09 * rng.random())
        r["score_hate"] = float(rng.beta(1, 12))
        r["score_spam"] = float(rng.beta(1, 6))
        if d["lang_true"] == "en" and i % 17 == 3:
            r["score_hate"] = 0.93
        if d["lang_true"] == "de" and i % 7 == 1:
            r["score_spam"] = 0.85
        r["score_language"] = round(1 - r["lang_score"], 6) if r["lang"] in KEEP else 1.0
        r["quality"] = float(rng.random())
        reason = ""
        if r["lang"] not in KEEP:
            reason = "language"
        elif r["score_hate"] >= 0.5:
            reason = "hate"
        elif r["score_spam"] >= 0.7:
            reason = "spam"
        r["action"] = "drop" if reason else "allow"
        r["flags"] = [reason] if reason else []
        r["reason"] = reason
        rows.append(r)
    kept = [{k: v for k, v in r.items() if k != "reason"} for r in rows if not r["reason"]]
    removed = [{**r, "stage": "filter"} for r in rows if r["reason"]]
    half = len(kept) // 2
    # Two parts with small row groups, so sampling has groups to choose from.
    _write(run / "filter" / "part-00000.parquet", pa.Table.from_pylist(kept[:half]), row_group_size=8)
    _write(run / "filter" / "part-00001.parquet", pa.Table.from_pylist(kept[half:]), row_group_size=8)
    _write(run / "rejected" / "filter" / "part-00000.parquet", pa.Table.from_pylist(removed))
    reasons: dict[str, int] = {}
    for r in removed:
        reasons[r["reason"]] = reasons.get(r["reason"], 0) + 1
    stages.append(StageStats("filter", len(after_exact), len(kept), reasons, 0, 7800, 6000, 12.25))
    exp["filter_kept"] = len(kept)
    exp["filter_reasons"] = reasons
    exp["kept_hate"] = [r["score_hate"] for r in kept]
    exp["removed_hate"] = [r["score_hate"] for r in removed]
    exp["langs_removed"] = {
        lang: sum(1 for r in removed if r["reason"] == "language" and r["lang"] == lang)
        for lang in LANGS
        if lang not in KEEP
    }

    # near_dedup: one 3-member and one 2-member cluster among the kept English documents.
    en = [r["id"] for r in kept if r["lang"] == "en"]
    gone = {en[1], en[2], en[4]}
    final = [r for r in kept if r["id"] not in gone]
    _write(run / "near_dedup" / "part-00000.parquet", pa.Table.from_pylist(final))
    _write(
        run / "clusters" / "near_dedup.parquet",
        pa.table(
            {
                "cluster_id": ["n0", "n1"],
                "kept_id": [en[0], en[3]],
                "kind": ["near", "near"],
                "size": [3, 2],
                "members": [[en[0], en[1], en[2]], [en[3], en[4]]],
            }
        ),
    )
    nd = StageStats("near_dedup", len(kept), len(final), {"near_duplicate": 3}, 0, 6000, 5900, 3.0)
    nd.extra = {"clusters": 2, "cluster_sizes": {"2": 1, "3": 1}}
    stages.append(nd)
    exp["langs_kept"] = {lang: sum(1 for r in final if r["lang"] == lang) for lang in KEEP}

    # tokenize: 18 train rows and 1 val row of seq_len + 1 tokens.
    tok = StageStats("tokenize", len(final), len(final), {}, 0, 5900, 0, 2.0)
    tok.extra = {"tokens": 19 * (SEQ + 1), "tokens_by_split": {"train": 18 * (SEQ + 1), "val": SEQ + 1}}
    stages.append(tok)
    (run / "tokens").mkdir()
    manifest = {
        "format_version": 1,
        "seq_len": SEQ,
        "vocab_size": 4096,
        "total_tokens": 19 * (SEQ + 1),
        "splits": {
            "train": {
                "rows": 18,
                "tokens": 18 * (SEQ + 1),
                "documents": len(final) - 5,
                "dropped_tokens": 40,
                "pad_tokens": 0,
                "shards": [{"path": "train/shard-00000.arrow", "rows": 18}],
            },
            "val": {
                "rows": 1,
                "tokens": SEQ + 1,
                "documents": 5,
                "dropped_tokens": 3,
                "pad_tokens": 0,
                "shards": [{"path": "val/shard-00000.arrow", "rows": 1}],
            },
        },
    }
    (run / "tokens" / "manifest.json").write_text(json.dumps(manifest))
    ledger = ledger_dict(stages)
    assert ledger["reconciles"], ledger
    (run / "stats.json").write_text(json.dumps(ledger))
    exp["ledger"] = ledger

    (run / "config.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "fixture-run",
                "stages": [s.name for s in stages],
                "filter": {"policy": "policy.yaml", "mode": "pretrain"},
            }
        )
    )
    if policy:  # next to the run dir, as a config-relative path would be
        (root / "runs" / "policy.yaml").write_text(
            yaml.safe_dump(
                {
                    "version": 1,
                    "categories": {
                        "hate": {"detectors": ["terms:hate"], "threshold": 0.5, "action": "drop"},
                        "spam": {"detectors": ["terms:spam"], "threshold": 0.7, "action": "drop"},
                        "language": {
                            "detectors": ["langid"],
                            "keep": KEEP,
                            "min_score": 0.65,
                            "action": "drop",
                        },
                    },
                }
            )
        )
    if train:
        lines = []
        for step in range(10, 210, 10):
            lines.append(
                {
                    "kind": "train",
                    "step": step,
                    "loss": 8.0 * 0.93 ** (step / 10),
                    "lr": 3e-4,
                    "tokens_per_s": 1000.0 + step,
                }
            )
            if step % 50 == 0:
                lines.append({"kind": "val", "step": step, "val_loss": 8.2 * 0.93 ** (step / 10)})
        (run / "train").mkdir()
        text = "\n".join(json.dumps(x) for x in lines) + "\n{not json\n"
        (run / "train" / "log.jsonl").write_text(text)
        exp["val"] = [x["val_loss"] for x in lines if "val_loss" in x]
        exp["train_last"] = lines[-2]["loss"] if "val_loss" in lines[-1] else lines[-1]["loss"]
    return run, exp


# -- reading the page back -------------------------------------------------------------------------


class Page(HTMLParser):
    """Tables per section (rows of cell texts), the svg ids, and visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, list[list[list[str]]]] = {}
        self.section = ""
        self.svgs: list[str] = []
        self.thresholds = 0
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.section = a.get("id", "")
            self.sections.setdefault(self.section, [])
        elif tag == "table":
            self.sections.setdefault(self.section, []).append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "svg":
            self.svgs.append(a.get("id", ""))
        elif tag == "line" and a.get("class") == "threshold":
            self.thresholds += 1

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.sections[self.section][-1].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def rows(self, section: str) -> dict[str, list[str]]:
        """First cell -> row, over every table of a section."""
        return {r[0]: r for t in self.sections.get(section, []) for r in t if r}


def parse(html: str) -> Page:
    p = Page()
    p.feed(html)
    return p


@pytest.fixture
def full_run(tmp_path: Path, shared_data: Path) -> tuple[Path, dict]:
    return make_run(tmp_path, shared_data)


# -- tests -------------------------------------------------------------------------------------------


def test_report_sections_and_numbers(full_run):
    run, exp = full_run
    out = write_report(str(run))
    assert out == str(run / "report.html")
    html = Path(out).read_text(encoding="utf-8")
    page = parse(html)
    for sid in ("summary", "funnel", "scores", "languages", "duplicates", "tokens", "quarantine", "training"):
        assert sid in page.sections, sid
    assert "<title>winnow report — fixture-run</title>" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing to fetch

    funnel = page.rows("funnel")
    for st in exp["ledger"]["stages"]:
        row = funnel[st["name"]]
        assert row[1:3] == [f"{st['input']:,}", f"{st['kept']:,}"]
        assert row[4:6] == [f"{sum(st['removed'].values()):,}", f"{st['quarantined']:,}"]
    assert funnel["filter"][6] == "12.2"
    for reason, n in exp["filter_reasons"].items():
        assert f"{reason} {n:,}" in funnel["filter"][-1]

    scores = page.rows("scores")
    hate = scores["hate"]
    assert hate[1:4] == ["≥ 0.5", "drop", f"{exp['filter_reasons']['hate']:,}"]
    k_over = sum(v >= 0.5 for v in exp["kept_hate"])
    r_over = sum(v >= 0.5 for v in exp["removed_hate"])
    assert hate[4].startswith(f"{k_over:,} (") and hate[5].startswith(f"{r_over:,} (")
    assert scores["language"][1] == "> 0.35"  # 1 - min_score
    assert scores["lang_score"][1] == "< 0.65"  # a minimum: removed below it, not above
    assert scores["lang_score"][4].startswith("0 (")  # every kept row has lang_score >= 0.65
    assert "keeps a document whose language is in its keep list with lang_score ≥ 0.65" in html
    # Bin tables of the hate histogram add up to every row read.
    hist_tables = [t for t in page.sections["scores"] if t and t[0] == ["bin", "kept", "removed"]]
    hate_bins = hist_tables[sorted(["hate", "language", "spam"]).index("hate")]
    assert sum(int(r[1].replace(",", "")) for r in hate_bins[1:]) == len(exp["kept_hate"])
    assert sum(int(r[2].replace(",", "")) for r in hate_bins[1:]) == len(exp["removed_hate"])
    assert page.thresholds == 4  # hate, spam, language (1 - min_score), lang_score (min_score); not quality
    assert {"chart-score-hate", "chart-score-quality", "chart-score-lang_score"} <= set(page.svgs)

    langs = page.rows("languages")
    for lang, n in {**exp["langs_kept"], **exp["langs_removed"]}.items():
        assert langs[lang][1] == f"{n:,}", lang

    exact_t, near_t = ({r[0]: r[1] for r in t[1:]} for t in page.sections["duplicates"])
    assert exact_t["2"] == "4" and exact_t["3"] == "0"
    assert near_t["2"] == "1" and near_t["3"] == "1" and near_t["100+"] == "0"
    assert "4 clusters holding 8 documents (exact: 4)" in html
    assert "2 clusters holding 5 documents (near: 2)" in html

    tokens = page.rows("tokens")
    assert tokens["train"][1] == f"{18 * (SEQ + 1):,}" and tokens["val"][3] == "1"
    assert "vocabulary 4,096; sequence length 256" in html

    q = page.sections["quarantine"][0]
    assert len(q) == 5 and q[1][:3] == ["ingest", "file:///data/broken.jsonl.gz", "17"]
    assert q[1][3] == "JSONDecodeError: Expecting value: line 1 column 1"
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html

    train = dict((r[0], r[1]) for r in page.sections["training"][-1][1:])
    assert train["best val loss"] == f"{min(exp['val']):.4f}"
    assert train["last train loss"] == f"{exp['train_last']:.4f}"
    assert "1 unreadable lines skipped" in html

    # funnel + 5 histograms (3 categories, quality, lang_score) + 2 language + 2 cluster + tokens + loss
    assert chart_count(html) == 1 + 5 + 2 + 2 + 1 + 1 == len(page.svgs)
    for cid in page.svgs:  # every chart is labelled for screen readers
        assert f'aria-labelledby="{cid}-t {cid}-d"' in html and f'<desc id="{cid}-d">' in html


def test_report_is_deterministic_and_atomic(full_run, tmp_path):
    run, _ = full_run
    a = write_report(str(run), str(tmp_path / "a.html"))
    b = write_report(str(run), str(tmp_path / "b.html"))
    assert Path(a).read_bytes() == Path(b).read_bytes()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_minimal_run_dir_still_reports(tmp_path):
    run = tmp_path / "bare"
    run.mkdir()
    st = StageStats("ingest", 10, 9, {"empty_text": 1}, 0)
    (run / "stats.json").write_text(json.dumps(ledger_dict([st])))
    (run / "config.yaml").write_text(
        yaml.safe_dump({"name": "bare", "filter": {"policy": "nowhere/policy.yaml"}})
    )
    html = Path(write_report(str(run))).read_text(encoding="utf-8")
    page = parse(html)
    assert page.rows("funnel")["ingest"][1:3] == ["10", "9"]
    assert "No tokenized dataset" in html and "No clusters recorded" in html
    assert "Nothing was quarantined" in html and "(no <code>score_*</code> columns)" in html
    assert 'id="training"' not in html
    assert chart_count(html) == 1


def test_missing_stats_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"stats\.json"):
        write_report(str(tmp_path))


def test_tokens_from_ledger_and_explicit_train_log(tmp_path, shared_data):
    run, _ = make_run(tmp_path, shared_data, policy=False, train=False)
    shutil.rmtree(run / "tokens")
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["filter"]["policy"] = "no-such-policy.yaml"
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    log = tmp_path / "elsewhere.jsonl"
    log.write_text('{"step": 1, "loss": 5.5}\n{"step": 2, "loss": 4.25, "lr": 0.001}\n[1, 2]\n')
    html = Path(write_report(str(run), train_log=str(log))).read_text(encoding="utf-8")
    page = parse(html)
    assert page.rows("tokens")["train"][1] == f"{18 * (SEQ + 1):,}"
    assert "From stats.json" in html
    train = dict((r[0], r[1]) for r in page.sections["training"][-1][1:])
    assert train["last train loss"] == "4.2500" and train["last learning rate"] == "0.001"
    assert train["best val loss"] == "–"
    assert "policy file not found" in html and page.thresholds == 0


def test_sampling_is_bounded_even_and_said(full_run, tmp_path):
    run, exp = full_run
    parts = sorted(str(p) for p in (run / "filter").glob("part-*.parquet"))
    s = read_sample(parts, ["id", "score_hate", "missing_column"], max_rows=20)
    assert s.total_rows == exp["filter_kept"] and s.sampled and s.table.num_rows == 20
    assert s.table.column_names == ["id", "score_hate"]
    all_ids = pa.concat_tables([pq.read_table(p, columns=["id"]) for p in parts])["id"].to_pylist()
    pos = [all_ids.index(i) for i in s.table["id"].to_pylist()]
    assert pos == sorted(pos) and pos[-1] > len(all_ids) // 2  # spread over both parts, in order
    assert read_sample(parts, ["id"], max_rows=20).table.equals(read_sample(parts, ["id"], max_rows=20).table)

    html = Path(write_report(str(run), str(tmp_path / "s.html"), max_rows=20)).read_text(encoding="utf-8")
    assert f"a sample of 20 of {exp['filter_kept']:,} kept rows" in html
    hist_tables = [t for t in parse(html).sections["scores"] if t and t[0] == ["bin", "kept", "removed"]]
    assert sum(int(r[1]) for r in hist_tables[0][1:]) == 20


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_report_renders_in_headless_chromium(full_run, tmp_path):
    exe = _chromium()
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    run, _ = full_run
    out = write_report(str(run))
    html = Path(out).read_text(encoding="utf-8")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
    ]
    url = Path(out).resolve().as_uri()
    res = subprocess.run(
        [exe, *flags, "--virtual-time-budget=3000", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    m = re.search(r'<body[^>]*data-charts="(\d+)"[^>]*data-rendered="(\d+)"', res.stdout)
    assert m, res.stdout[:500]
    assert int(m.group(1)) == int(m.group(2)) == chart_count(html) > 0
    console = [ln for ln in res.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not console, console
    assert "Content Security Policy" not in res.stderr

    png = tmp_path / "report.png"
    subprocess.run(
        [exe, *flags, "--window-size=1280,3000", "--hide-scrollbars", f"--screenshot={png}", url],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )
    assert png.stat().st_size > 20_000  # a drawn page, not a blank one
    if os.environ.get("WINNOW_REPORT_SCREENSHOT"):
        shutil.copy(png, os.environ["WINNOW_REPORT_SCREENSHOT"])


def test_report_of_an_fsspec_run_dir(full_run, tmp_path):
    """A run directory on object storage (here fsspec's memory://) reports the same numbers."""
    import fsspec

    run, exp = full_run
    fs = fsspec.filesystem("memory")
    base = f"/report-{os.getpid()}"
    try:
        for p in run.rglob("*"):
            if p.is_file():
                fs.pipe(f"{base}/{p.relative_to(run).as_posix()}", p.read_bytes())
        out = write_report(f"memory://{base}", str(tmp_path / "remote.html"))
        page = parse(Path(out).read_text(encoding="utf-8"))
        assert page.rows("funnel")["filter"][2] == f"{exp['filter_kept']:,}"
        assert page.rows("languages")["de"][1] == f"{exp['langs_kept']['de']:,}"
        assert len(page.sections["quarantine"][0]) == 5 and "training" in page.sections
    finally:
        fs.rm(base, recursive=True)


def test_ledger_numbers_are_right_aligned_grouped_and_never_wrap(tmp_path):
    """Issue 12: the funnel table broke long numbers across lines in a narrow window."""
    run = tmp_path / "big"
    run.mkdir()
    st = StageStats("ingest", 12_345_678, 12_000_000, {"empty_text": 345_678}, 0)
    (run / "stats.json").write_text(json.dumps(ledger_dict([st])))
    (run / "config.yaml").write_text(yaml.safe_dump({"name": "big"}))
    html = Path(write_report(str(run))).read_text(encoding="utf-8")
    num_rule = re.search(r"\.num\{([^}]*)\}", html)
    assert num_rule and "white-space:nowrap" in num_rule.group(1) and "text-align:right" in num_rule.group(1)
    assert "word-break:normal" in num_rule.group(1)  # overrides td{word-break:break-word}
    funnel = html[html.index('<section id="funnel">') : html.index('<section id="scores">')]
    for cell in ("12,345,678", "12,000,000", "345,678"):
        assert f'<td class="num">{cell}</td>' in funnel
