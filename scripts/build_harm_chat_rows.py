"""Build `data/harm_chat_rows/rows.jsonl`: the chat messages, prompts and comments the project wrote as fresh data for
its ship rules (`benchmarks/results/rules/*/*.jsonl`), labelled from how each set was written, as training rows of the
harm classifier's encoder heads.

    PYTHONPATH=. .venv/bin/python scripts/build_harm_chat_rows.py [--data ../shared/data]

Why: each set was written to judge one variant and then lay unused; together they hold the chat and comment registers
the licensed sources barely cover (safe texts with harmful-sounding words, help-seeking, banter, calm chat, heated but
civil comments, and harmful messages in the same forms). Sets that became evaluation probes stay out, and so does any
text near a probe's or a test source's (word-set Jaccard >= 0.7), so no figure is measured on what was trained on
(`benchmarks/results/rules/SHIP_RULE-2026-12-07-project-chat-rows.md`). Deterministic: the same rule folders and data
give the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from filters.detectors.harm import CATEGORIES  # noqa: E402
from kit.files import write_text_atomic  # noqa: E402
from scripts.harm_data import load_all  # noqa: E402
from tests.project_data import DENY  # noqa: E402

RULES = ROOT / "benchmarks" / "results" / "rules"
OUT = ROOT / "data" / "harm_chat_rows" / "rows.jsonl"
# Rule sets that became evaluation probes (data/harm_*_probe) and document sets: never trained on.
EXCLUDED = (
    "emoji-names/",
    "hate-rows-heads/",
    "hate-rows-negatives/",
    "help-seeking-rows/",
    "all-dev-documents/fresh_A",
    "all-dev-documents/fresh_B",
    "hostile-not-violent/",
    "hostile-not-violent-balanced/",
    "clean-registers",
    "reporting-senses/",
)
SAFE_LABELS = frozenset({"safe", "benign", "non_toxic"})
HARMFUL_LABELS = frozenset({"harmful", "toxic"})
# Files whose rows carry no label field: harmful or safe by the file's name.
HARMFUL_FILES = ("harmful", "violent")
SELF_HARM_KINDS = frozenset(
    {
        "direct",
        "indirect",
        "plain",
        "euphemism",
        "understatement",
        "hopeless_intent",
        "self_injury",
        "goodbye",
        "relapse",
    }
)
# A harmful row's group or kind -> the categories it is a positive of (the others stay unknown).
CATEGORY_OF: dict[str, tuple[str, ...]] = {
    "hate": ("hate",),
    "harassment": ("harassment",),
    "insult": ("harassment",),
    "bully_request": ("harassment",),
    "stalk_expose": ("harassment",),
    "pileon_rumour": ("harassment",),
    "sexual_harassment": ("harassment",),
    "abuse_stalking": ("harassment",),
    "threat": ("violence", "harassment"),
    "violence": ("violence",),
    "incitement": ("violence",),
    "wish_harm": ("violence",),
    "glorification": ("violence",),
    "glorify": ("violence",),
    "incite": ("violence",),
    "hurt_request": ("violence",),
    "attack_plan": ("violence",),
    "hurt_child": ("violence",),
    "poisoning": ("violence",),
    "self_harm": ("self_harm",),
    "illicit": ("illicit",),
    "drugs": ("illicit",),
    "weapons": ("illicit",),
    "cyber": ("illicit",),
    "fraud": ("illicit",),
    "theft": ("illicit",),
    "evasion": ("illicit",),
    "weapons_drugs": ("illicit",),
    "cyber_fraud": ("illicit",),
    "sexual": ("sexual",),
    "grooming": ("sexual_minors",),
    "access": ("sexual_minors",),
    "exploitation": ("sexual_minors",),
    "child_exploitation": ("sexual_minors",),
    "obscene": ("profanity",),
}
# `request` means a request to hurt someone only in the casual-negatives rule's violent set.
FILE_KINDS = {"casual-negatives/fresh_violent.jsonl": {"request": ("violence",)}}
MAX_JACCARD = 0.7
# The project's evaluation sets besides the probes (data/harm_*_probe).
PROJECT_EVALUATION_FILES = (
    "harm_short_messages/messages.jsonl",
    "harm_hard_negatives/hard_negatives.jsonl",
    "harm_web_negatives/pages.jsonl",
)
_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def rule_sets() -> list[Path]:
    """The rule folders' text sets that may be trained on, in a fixed order."""
    paths = sorted(RULES.glob("*/*.jsonl"))
    return [p for p in paths if not str(p.relative_to(RULES)).startswith(EXCLUDED)]


def labels_of(origin: str, row: dict) -> dict[str, int | None] | None:
    """The row's 8 labels from how its set was written; None for a kind with no single category."""
    label = row.get("label")
    harmful = label in HARMFUL_LABELS if label is not None else Path(origin).stem.endswith(HARMFUL_FILES)
    if label is not None and label not in SAFE_LABELS | HARMFUL_LABELS:
        raise ValueError(f"{origin}: unknown label {label!r}")
    if not harmful:
        return {c: (None if c == "profanity" else 0) for c in CATEGORIES}  # safe texts may still swear
    kind = row.get("group") or row.get("kind") or ""
    cats = FILE_KINDS.get(origin, {}).get(kind) or CATEGORY_OF.get(kind)
    if cats is None and kind in SELF_HARM_KINDS:
        cats = ("self_harm",)
    if cats is None:
        return None
    return {c: (1 if c in cats else None) for c in CATEGORIES}


def written_rows() -> Iterator[dict]:
    for path in rule_sets():
        origin = str(path.relative_to(RULES))
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            labels = labels_of(origin, row)
            if labels is not None:
                kind = row.get("group") or row.get("kind") or ""
                yield {"text": row["text"].strip(), "origin": origin, "kind": kind, "labels": labels}


def evaluation_texts(data: Path) -> Iterator[str]:
    """Every text an evaluation reads: the project's probes and fixtures, and the test sources of the shared data."""
    probes = sorted((ROOT / "data").glob("harm_*_probe/*.jsonl"))
    for path in [*probes, *(ROOT / "data" / f for f in PROJECT_EVALUATION_FILES)]:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                yield json.loads(line)["text"]
    fixture = json.loads(
        (ROOT / "tests" / "fixtures" / "harm" / "short_messages.json").read_text(encoding="utf-8")
    )
    yield from _strings(fixture)
    yield from (r.text for r in load_all(data) if r.split == "test")


def _strings(x: object) -> Iterator[str]:
    if isinstance(x, str):
        yield x
    elif isinstance(x, dict):
        for v in x.values():
            yield from _strings(v)
    elif isinstance(x, list):
        for v in x:
            yield from _strings(v)


def near_evaluation(rows: list[dict], others: Iterable[str]) -> set[int]:
    """Indexes of rows whose word set has Jaccard >= MAX_JACCARD with some evaluation text."""
    sets = [words(r["text"]) for r in rows]
    index: dict[str, list[int]] = {}
    for i, s in enumerate(sets):
        for w in s:
            index.setdefault(w, []).append(i)
    near: set[int] = set()
    for text in others:
        t = words(text[:2000])
        if not t or len(t) > 80:  # longer texts cannot reach the bar against a message of < 60 words
            continue
        candidates = {i for w in t for i in index.get(w, ())} - near
        for i in candidates:
            if len(sets[i] & t) >= MAX_JACCARD * len(sets[i] | t):
                near.add(i)
    return near


def build(data: Path) -> tuple[list[dict], dict[str, int]]:
    rows, seen = [], set()
    dropped = {"duplicate": 0, "denied word": 0, "near an evaluation text": 0}
    for r in written_rows():
        key = " ".join(sorted(words(r["text"])))
        if key in seen:
            dropped["duplicate"] += 1
            continue
        if words(r["text"]) & DENY:
            dropped["denied word"] += 1
            continue
        seen.add(key)
        rows.append(r)
    near = near_evaluation(rows, evaluation_texts(data))
    dropped["near an evaluation text"] = len(near)
    rows = [r for i, r in enumerate(rows) if i not in near]
    for r in rows:
        r["id"] = "chat-" + hashlib.sha256(r["text"].encode()).hexdigest()[:12]
    rows.sort(key=lambda r: r["id"])
    return [{k: r[k] for k in ("id", "text", "origin", "kind", "labels")} for r in rows], dropped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data", type=Path, default=ROOT.parent / "shared" / "data", help="the shared data folder"
    )
    args = ap.parse_args(argv)
    rows, dropped = build(args.data)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(OUT, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    print(f"wrote {OUT}: {len(rows)} rows; dropped {dropped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
