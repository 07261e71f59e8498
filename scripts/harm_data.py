"""The labelled data the harm classifiers learn from and are judged on, and its split.

`load_all(data)` reads every source of the shared data folder (`../shared/data`: the harm pack, the
toxicity sets, clean prose, the PII folder's synthetic texts), and the rows the project wrote itself
(`data/harm_self_harm`, `data/harm_violence`, `data/harm_illicit` in this repository, read whatever `data` is), into
`Row`s with labels in `filters.detectors.harm.CATEGORIES` order (1 / 0 / `NULL`: null is masked, never read as 0) and a
split. The split is the constant `SOURCE_SPLIT`, decided before any training or tuning: whole sources
are held out for test (the figures then measure generalization to sources never seen), the rest is
split train / dev by a salted hash of a group key (pairs and conversations stay together). Nothing
share-alike (CC BY-SA, CDLA-Sharing) or unlicensed is trained on; such sources are test-only.

Used by the trainers (`scripts/train_harm.py`, `scripts/train_harm_encoder.py`,
`scripts/tune_encoder_gate.py`) and the evaluations (`benchmarks.eval_harm`, ...), so all read the
same rows, but for the fast tier, which skips `HEADS_ONLY_SOURCES`.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

from filters.detectors.harm import CATEGORIES

SEED = 13
DEV_PERCENT = 20
DOC_CHARS = 4000
NULL = -1

# Per source: "train" (split train/dev by group hash), "test" (held out whole) or "unused"; and why.
SOURCE_SPLIT: dict[str, tuple[str, str]] = {
    "hatemojibuild": ("train", "CC BY 4.0; hate, violence (threats)"),
    "edos_sexism": ("train", "CC0; hate, violence positives; not-sexist rows hate 0 (violence null)"),
    "convabuse": ("train", "CC BY 4.0; hate, harassment, sexual + explicit negatives"),
    "catqa_en": ("train", "Apache-2.0; prompts for every category but profanity"),
    "ailuminate_demo_en": ("train", "CC BY 4.0; WEAK labels: hazard topic -> category 1, others null"),
    "selfinstruct_seed_benign": ("train", "Apache-2.0; benign instructions, all categories 0"),
    "medquad_benign_medical": ("by collection", "CC BY 4.0; medical hard negatives, see MEDQUAD_SPLIT"),
    "davidson": ("train", "MIT (../toxicity); tweets: hate, profanity (offensive) + negatives"),
    "xstest_prompts": ("test", "CC BY 4.0; safe prompts with harmful-sounding words + unsafe prompts"),
    "simplesafetytests": ("test", "CC BY 4.0; benchmark prompts (self_harm, violence, illicit, minors)"),
    "harmbench_behaviors": ("test", "MIT; benchmark prompts (harassment, illicit)"),
    "advbench": ("test", "MIT; benchmark prompts/strings, harmful only (any-harm recall)"),
    "harmfulqa_questions": ("test", "Apache-2.0; mild harmful questions (any-harm recall)"),
    "stormfront_hate_sentences": ("test", "CC BY-SA 3.0 ES: share-alike, evaluation only; hate"),
    "surge_toxicity": ("test", "MIT; comments toxic / not toxic (any-harm)"),
    "civil_comments_toxic_spans": ("test", "CC0; toxic comments with spans (any-harm recall)"),
    "toxigen": ("test", "MIT (../toxicity); implicit hate statements vs neutral (hate)"),
    "jigsaw_ibm": ("test", "text CC BY-SA: evaluation only; obscene/insult/threat/identity_hate"),
    "wiki_toxicity": ("test", "text CC BY-SA: evaluation only; toxic comments (any-harm)"),
    "presidio_synth": ("train", "MIT (../pii); synthetic everyday text, all categories 0"),
    "project_self_harm": (
        "train",
        "Apache-2.0, written for the project; self_harm 1 / 0, other categories null",
    ),
    "project_violence": (
        "train",
        "Apache-2.0, written for the project; violence 1 / 0, other categories null",
    ),
    "project_illicit": (
        "train",
        "Apache-2.0, written for the project; illicit 1 / 0, other categories null",
    ),
    "hh_rlhf_harmless_base_test": ("unused", "MIT; no labels of any kind"),
}
MEDQUAD_SPLIT = {
    "8_NHLBI_QA_XML": "dev",
    "1_CancerGov_QA": "dev",
    "7_SeniorHealth_QA": "test",
    "9_CDC_QA": "test",
}
# Clean prose: public-domain books train/dev/test; share-alike WikiText and TinyStories test only.
PROSE_SPLIT = {
    "tinyshakespeare_input.txt": "train",
    "gutenberg/pg2701.txt": "train",
    "gutenberg/43429-0.txt": "train",
    "gutenberg/pg12388.txt": "train",
    "gutenberg/jnglb10.txt": "train",
    "gutenberg/43790-0.txt": "dev",
    "gutenberg/nqpmr10.txt": "dev",
    "gutenberg/31251-0.txt": "test",
    "wikitext2_test.txt": "test",
    "wikitext2_valid.txt": "test",
    "tinystories_head.txt": "test",
}
AILUMINATE_WEAK = ("hate", "sexual", "sexual_minors", "violence", "self_harm", "illicit")


@dataclass(frozen=True)
class Row:
    """A labelled text: labels in CATEGORIES order, 1 / 0 / NULL; `windowed` texts are benign
    documents cut into the detector's windows, one training row per window."""

    text: str
    labels: tuple[int, ...]
    source: str
    split: str
    kind: str = "text"
    harmful: int = NULL
    windowed: bool = False


def hashed_split(group: str) -> str:
    """'dev' for DEV_PERCENT of groups, else 'train'; stable across runs and machines."""
    h = int.from_bytes(hashlib.sha256(f"{SEED}\x00{group}".encode()).digest()[:8], "big") % 100
    return "dev" if h < DEV_PERCENT else "train"


def _labels(d: dict[str, int | None]) -> tuple[int, ...]:
    return tuple(NULL if d.get(c) is None else int(d[c]) for c in CATEGORIES)


def _group(name: str, rec: dict) -> str:
    meta = rec.get("meta") or {}
    key = {"hatemojibuild": "matched_id", "convabuse": "conv_id", "stormfront_hate_sentences": "comment_id"}
    val = meta.get(key.get(name, ""))
    return f"{name}:{val}" if val not in (None, "") else rec["id"]


def _pack_split(name: str, rec: dict) -> str:
    split = SOURCE_SPLIT[name][0]
    if split == "by collection":
        return MEDQUAD_SPLIT.get(rec["meta"]["collection"], "train")
    return hashed_split(_group(name, rec)) if split == "train" else split


def load_pack(data: Path, name: str) -> list[Row]:
    """Rows of one harm-pack file, with its split; AILuminate topics become weak labels."""
    rows = []
    with gzip.open(data / "harm" / f"{name}.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if not rec.get("text"):
                continue
            labels = dict(rec["labels"])
            if name == "edos_sexism" and rec.get("orig_label") == "not sexist":
                labels["hate"] = 0  # EDOS's own contrast: posts about women that are not sexist
            if name == "ailuminate_demo_en":
                topic = rec["meta"].get("topic_category")
                labels = {c: (1 if c == topic else None) for c in CATEGORIES}
                if topic not in AILUMINATE_WEAK:
                    continue
            harmful = NULL if rec.get("harmful") is None else int(rec["harmful"])
            rows.append(
                Row(
                    text=rec["text"],
                    labels=_labels(labels),
                    source=name,
                    split=_pack_split(name, rec),
                    kind=rec.get("kind", "text"),
                    harmful=harmful,
                    windowed=name == "medquad_benign_medical",
                )
            )
            if name == "medquad_benign_medical":
                rows.append(medquad_question(rows[-1]))
    return rows


def medquad_question(doc: Row) -> Row:
    """The question of a MedQuAD pair as a benign short prompt: the prompt sets give many harmful
    questions, and without benign ones a head would learn 'a question is harmful'."""
    question = doc.text.split("\n\n", 1)[0]
    return Row(question, doc.labels, "medquad_questions", doc.split, "prompt", 0)


def load_presidio(data: Path) -> list[Row]:
    """Presidio synthetic texts (MIT, ../pii): everyday benign sentences, all categories 0."""
    path = data / "pii" / "presidio_synth_dataset_v2.json"
    if not path.is_file():
        return []
    recs = json.loads(path.read_text(encoding="utf-8"))
    return [
        Row(
            r["full_text"], (0,) * len(CATEGORIES), "presidio_synth", hashed_split(f"presidio:{i}"), "text", 0
        )
        for i, r in enumerate(recs)
        if r.get("full_text")
    ]


# Rows written for the project, each file labelling one category only (its README says why): the licensed sources hold
# 110 self_harm positives (100 of them topic labels), no safe uses of violent words labelled as not violence, and few
# safe requests in the form of illicit ones. The other heads mask these rows (null), so only the named category's heads
# learn from them.
PROJECT_DATA = Path(__file__).resolve().parents[1] / "data"
PROJECT_ROWS = {
    "project_self_harm": ("self_harm", PROJECT_DATA / "harm_self_harm" / "rows.jsonl"),
    "project_violence": ("violence", PROJECT_DATA / "harm_violence" / "rows.jsonl"),
    "project_illicit": ("illicit", PROJECT_DATA / "harm_illicit" / "rows.jsonl"),
}

# Sources only the encoder heads learn from; the fast tier skips them. Trained into the n-gram tier, the violence rows
# cost it spaced-out text, which it carries at run time (a window the encoder cannot read keeps its fast score), and
# moved the heads that read its scores (benchmarks/results/rules/SHIP_RULE-2026-12-06-violence-rows.md); the illicit
# rows were written for the heads only (SHIP_RULE-2026-12-06-illicit-rows-heads.md).
HEADS_ONLY_SOURCES = frozenset({"project_violence", "project_illicit"})


def load_project_rows(source: str) -> list[Row]:
    """One project source's rows: its category = the row's label, the others null, split by the hash of the id."""
    category, path = PROJECT_ROWS[source]
    k = CATEGORIES.index(category)
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        labels = tuple(int(r["label"]) if i == k else NULL for i in range(len(CATEGORIES)))
        out.append(
            Row(r["text"], labels, source, _pack_split(source, {"id": r["id"]}), "prompt", int(r["label"]))
        )
    return out


_TWEET_JUNK = re.compile(r"https?://\S{1,2000}|@\w{1,50}|(?<!\w)RT(?!\w)|&#?\w{1,32};?")


def clean_tweet(text: str) -> str:
    """Tweet artefacts out (mentions, URLs, RT, HTML entities), so no head learns 'tweet = harm'."""
    return " ".join(_TWEET_JUNK.sub(" ", html.unescape(text)).split())


def load_davidson(data: Path) -> list[Row]:
    """Davidson tweets: class 0 hate speech -> hate 1 (profanity null); 1 offensive -> profanity 1,
    hate 0; 2 neither -> hate 0, profanity 0. Other categories null."""
    rows = []
    with (data / "toxicity" / "davidson_labeled_data.csv").open(newline="", encoding="utf-8") as f:
        for i, rec in enumerate(csv.DictReader(f)):
            cls = int(rec["class"])
            lab = {0: {"hate": 1}, 1: {"hate": 0, "profanity": 1}, 2: {"hate": 0, "profanity": 0}}[cls]
            text = clean_tweet(rec["tweet"])
            if text:
                rows.append(
                    Row(
                        text, _labels(lab), "davidson", hashed_split(f"davidson:{i}"), "comment", int(cls < 2)
                    )
                )
    return rows


def load_toxigen(data: Path) -> list[Row]:
    """ToxiGen seed sentences (test): hate -> hate 1, neutral -> hate 0."""
    with (data / "toxicity" / "toxigen_seed_sentences.csv").open(newline="", encoding="utf-8") as f:
        return [
            Row(
                r["text"],
                _labels({"hate": int(r["label"] == "hate")}),
                "toxigen",
                "test",
                "sentence",
                int(r["label"] == "hate"),
            )
            for r in csv.DictReader(f)
        ]


def load_jigsaw(data: Path) -> list[Row]:
    """Jigsaw sample (test only, CC BY-SA text): obscene -> profanity, identity_hate -> hate,
    insult -> harassment, threat -> violence; toxic -> harmful."""
    cols = {"profanity": "obscene", "hate": "identity_hate", "harassment": "insult", "violence": "threat"}
    with (data / "toxicity" / "jigsaw_toxic_test_examples_ibm.csv").open(newline="", encoding="utf-8") as f:
        return [
            Row(
                r["comment_text"],
                _labels({c: int(r[k]) for c, k in cols.items()}),
                "jigsaw_ibm",
                "test",
                "comment",
                int(r["toxic"]),
            )
            for r in csv.DictReader(f)
        ]


def load_wiki(data: Path) -> list[Row]:
    """Wikipedia Talk identity-term set (test only, CC BY-SA text): toxic -> harmful; no categories."""
    with (data / "toxicity" / "wiki_toxicity_nonfuzzed_testset.csv").open(newline="", encoding="utf-8") as f:
        return [
            Row(
                " ".join(r["comment"].split()),
                _labels({}),
                "wiki_toxicity",
                "test",
                "comment",
                int(r["toxic"] == "True"),
            )
            for r in csv.DictReader(f)
        ]


_GUTENBERG_BODY = re.compile(r"\*\*\* ?START OF TH[^\n]{0,200}\n(.*?)\n\*\*\* ?END OF TH", re.S)
_WIKI_MARKUP = re.compile(r" @(.)@ ")


def prose_text(path: Path) -> str:
    """A clean-text file as prose: Gutenberg licence header/footer cut, WikiText de-tokenized."""
    text = path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    if "gutenberg" in path.parts:
        m = _GUTENBERG_BODY.search(text)
        text = m.group(1) if m else text
    if path.name.startswith("wikitext"):
        text = _WIKI_MARKUP.sub(r"\1", text).replace(" <unk>", "")
    return text


def prose_documents(text: str, size: int = DOC_CHARS) -> list[str]:
    """Consecutive lines packed into documents of about `size` characters (last partial one dropped)."""
    docs, buf, n = [], [], 0
    for line in text.split("\n"):
        buf.append(line)
        n += len(line) + 1
        if n >= size:
            doc = "\n".join(buf).strip()
            if doc:
                docs.append(doc)
            buf, n = [], 0
    return docs


def pack_documents(texts: list[str], size: int = DOC_CHARS) -> list[str]:
    """Short benign texts joined into documents of about `size` characters (for the clean-doc FPR)."""
    return prose_documents("\n".join(texts), size)


def load_prose(data: Path) -> list[Row]:
    """~4 KB clean documents, all categories 0, split per file (PROSE_SPLIT)."""
    rows = []
    for rel, split in PROSE_SPLIT.items():
        for doc in prose_documents(prose_text(data / "clean_text" / rel)):
            rows.append(Row(doc, (0,) * len(CATEGORIES), f"prose:{rel}", split, "document", 0, windowed=True))
    return rows


REQUIRED_FILES = (
    "harm/SOURCES.md",
    "toxicity/davidson_labeled_data.csv",
    "toxicity/toxigen_seed_sentences.csv",
    "toxicity/jigsaw_toxic_test_examples_ibm.csv",
    "toxicity/wiki_toxicity_nonfuzzed_testset.csv",
    *(f"clean_text/{rel}" for rel in PROSE_SPLIT),
)


def missing_files(data: Path) -> list[str]:
    """Required data files that are absent (harm-pack files are optional: absent ones are skipped)."""
    return [rel for rel in REQUIRED_FILES if not (data / rel).is_file()]


def load_all(data: Path) -> list[Row]:
    """Every labelled row of every source of `data` and of the project's own rows (`PROJECT_ROWS`), with its split
    (the test rows are for the evaluation)."""
    rows: list[Row] = []
    for name, (split, _why) in SOURCE_SPLIT.items():
        if split == "unused" or not (data / "harm" / f"{name}.jsonl.gz").exists():
            continue
        rows += load_pack(data, name)
    rows += load_davidson(data) + load_toxigen(data) + load_jigsaw(data) + load_wiki(data) + load_prose(data)
    rows += load_presidio(data)
    for source in PROJECT_ROWS:
        rows += load_project_rows(source)
    return rows
