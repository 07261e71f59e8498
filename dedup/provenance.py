"""Near-duplicates by provenance: a seeded generator of edited copies and pair scoring from cluster labels.

A duplicate is defined the way users do: the same document with a few edits (<= 5% of words substituted,
inserted or deleted), boilerplate added (cookie banners, share bars, navigation lines, footers) or its
whitespace/formatting changed. A document with >= 50% of its words replaced is not a duplicate, and neither
is a different document. The truth of a pair comes from how its documents were made, never from a
similarity score, so the dedup's own Jaccard can't grade itself. Used by benchmarks/dedup_provenance.py
(real held-out text) and the tests; numpy only.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass

import numpy as np

DUP_KINDS = ("edit", "boilerplate", "format", "combo")

# ------------------------------------------------------------------ boilerplate (written for this benchmark)

SITES = [
    {
        "cookie": "We use cookies to improve your experience on our site, to analyse traffic and to show you "
        "personalised content. By clicking Accept all you agree to the storing of cookies on your device. "
        "You can change your choice at any time under Cookie settings. Accept all Reject all Manage preferences",
        "share": "Share this article: Facebook Twitter LinkedIn Email Print Copy link",
        "nav": "Home | News | World | Business | Technology | Science | Opinion | Sport | Culture | Newsletters",
        "footer": "© 2026 The Daily Ledger Media Group. All rights reserved. Terms of service | Privacy policy | "
        "Contact us | Advertise with us | Careers | Accessibility statement",
    },
    {
        "cookie": "This website stores cookies on your computer. These cookies are used to collect information "
        "about how you interact with our website and allow us to remember you. Got it",
        "share": "Tweet Share Pin it Reddit WhatsApp Send by email",
        "nav": "Skip to main content. Menu Search Sign in Subscribe Latest Popular Local Region Weather",
        "footer": "Follow us on social media. Sign up for our newsletter to get the top stories in your inbox "
        "every morning. Unsubscribe at any time. About us Editorial standards Corrections Sitemap",
    },
    {
        "cookie": "Your privacy matters. We and our partners process personal data such as IP addresses and "
        "cookie identifiers for measurement, ads and content. Consent OK Do not sell my information",
        "share": "Share on X Share on Facebook Share on Bluesky Share via email Save for later",
        "nav": "Documentation Tutorials API reference Examples Changelog GitHub Discussions Release notes",
        "footer": "Was this page helpful? Yes No. Edit this page on GitHub. Last updated on 3 December 2026. "
        "Built with a static site generator. Licensed under the terms of the project licence.",
    },
    {
        "cookie": "Cookies help us deliver our services. By using our services, you agree to our use of cookies. "
        "Learn more OK",
        "share": "Like Comment Share Repost Bookmark",
        "nav": "Products Solutions Pricing Docs Blog Community Support Log in Get started for free",
        "footer": "Related articles. Recommended for you. Most read. Trending now. Advertisement. Continue "
        "reading below. Read more stories like this one in our archive.",
    },
]


def site_of(key: str) -> dict[str, str]:
    """The boilerplate blocks of a site, picked by a stable hash of `key`."""
    return SITES[int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(SITES)]


# ------------------------------------------------------------------ documents and the edit generator


@dataclass(frozen=True)
class Base:
    """A real document the variants are made from; `key` names its source (it also seeds the generator)."""

    key: str  # e.g. "news:<sha256>" or "docs:<distribution>"
    source: str
    text: str


def edit_words(text: str, rate: float, vocab: list[str], rng: random.Random) -> str:
    """Substitute, insert or delete round(rate * words) words (at least one), keeping line structure."""
    lines = [ln.split(" ") for ln in text.split("\n")]
    slots = [(i, j) for i, ln in enumerate(lines) for j, w in enumerate(ln) if w]
    k = max(1, round(rate * len(slots)))
    for i, j in sorted(rng.sample(slots, min(k, len(slots))), reverse=True):
        op = rng.choice(("substitute", "insert", "delete"))
        if op == "substitute":
            lines[i][j] = rng.choice(vocab)
        elif op == "insert":
            lines[i].insert(j, rng.choice(vocab))
        else:
            del lines[i][j]
    return "\n".join(" ".join(ln) for ln in lines)


def replace_words(text: str, rate: float, vocab: list[str], rng: random.Random) -> str:
    """Replace `rate` of the words (the >= 50% negatives)."""
    words = text.split()
    for j in rng.sample(range(len(words)), round(rate * len(words))):
        words[j] = rng.choice(vocab)
    return " ".join(words)


def add_boilerplate(text: str, site: dict[str, str], rng: random.Random) -> str:
    """1-3 of the site's blocks: cookie banner/nav on top, share bar in between or below, footer at the end."""
    blocks = rng.sample(sorted(site), rng.randint(1, 3))
    top = [site[b] for b in blocks if b in ("cookie", "nav")]
    bottom = [site[b] for b in blocks if b in ("share", "footer")]
    return "\n\n".join([*top, text, *bottom])


def reformat(text: str, rng: random.Random) -> str:
    """Whitespace/formatting only: the words stay the same and in order."""
    words = text.split()
    width = rng.randint(50, 110)
    lines, cur = [], ""
    for w in words:
        if rng.random() < 0.03:
            w = f"**{w}**"
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    lines.append(cur)
    seps = ["\n", "\n\n", "\n  ", "\n\t", "  \n", "\r\n", "\n- "]
    out = lines[0]
    for ln in lines[1:]:
        out += rng.choice(seps) + ln.replace(" ", "\u00a0", 1 if rng.random() < 0.2 else 0)
    return out


def variants(base: Base, vocab: list[str], seed: int) -> list[tuple[str, str]]:
    """(kind, text) of the base and its variants, from a generator seeded by (seed, key)."""
    rng = random.Random(f"{seed}:{base.key}")
    site = site_of(
        f"{base.source}:{rng.randrange(2)}"
    )  # two sites per source: distinct docs share boilerplate
    t = base.text
    edited = edit_words(t, rng.uniform(0.01, 0.05), vocab, rng)
    return [
        ("original", t),
        ("edit", edited),
        ("boilerplate", add_boilerplate(t, site, rng)),
        ("format", reformat(t, rng)),
        (
            "combo",
            reformat(add_boilerplate(edit_words(t, rng.uniform(0.01, 0.05), vocab, rng), site, rng), rng),
        ),
        ("rewrite", replace_words(t, rng.uniform(0.5, 0.9), vocab, rng)),
    ]


@dataclass
class Corpus:
    """Documents with their provenance: the truth of every pair follows from `group`."""

    ids: list[str]
    texts: list[str]
    group: np.ndarray  # truth: same group = duplicates (a rewrite is a group of its own)
    base: np.ndarray  # index of the base each document came from
    kind: list[str]


# Each replica is deduped on its own: one duplicate kind per base (most real clusters are pairs, so a
# missed pair can't be rescued by a chain through other copies), then all four together.
REPLICAS: list[tuple[str, ...]] = [(k,) for k in DUP_KINDS] + [DUP_KINDS]


def build_corpora(bases: list[Base], seed: int) -> list[Corpus]:
    """One corpus per replica: every base's original, the replica's duplicate kinds, and its rewrite."""
    vocab = sorted({w for b in bases for w in b.text.split() if w.isalpha()})
    made = [dict(variants(b, vocab, seed)) for b in bases]
    out = []
    for kinds in REPLICAS:
        ids, texts, group, base, kind = [], [], [], [], []
        for i, (b, v) in enumerate(zip(bases, made, strict=True)):
            for k in ("original", *kinds, "rewrite"):
                ids.append(f"{b.key}#{k}")
                texts.append(v[k])
                group.append(len(bases) + i if k == "rewrite" else i)
                base.append(i)
                kind.append(k)
        out.append(Corpus(ids, texts, np.array(group), np.array(base), kind))
    return out


# ------------------------------------------------------------------ scoring (pair counts from cluster labels)


def _pairs(sizes: np.ndarray) -> int:
    return int((sizes * (sizes - 1) // 2).sum())


def counts(c: Corpus, label: np.ndarray) -> Counter:
    """Pair counts over all pairs of one corpus: tp/fp/fn, the rewrite (>= 50% replaced) pairs, per-kind hits."""
    _, inv = np.unique(label, return_inverse=True)
    together = _pairs(np.bincount(inv))
    truth = _pairs(np.bincount(c.group))
    both = _pairs(np.unique(np.stack([inv, c.group]), axis=1, return_counts=True)[1])
    out: Counter = Counter(tp=both, fp=together - both, fn=truth - both)
    members: dict[int, list[int]] = {}
    for i, k in enumerate(c.kind):
        if k != "rewrite":
            members.setdefault(int(c.base[i]), []).append(i)
    orig = {int(c.base[i]): i for i, k in enumerate(c.kind) if k == "original"}
    for i, k in enumerate(c.kind):
        b = int(c.base[i])
        if k == "rewrite":
            out["rewrite_pairs"] += len(members[b])
            out["rewrite_fp"] += int((inv[members[b]] == inv[i]).sum())
        elif k != "original":
            out[f"{k}_pairs"] += 1
            out[f"{k}_found"] += int(inv[i] == inv[orig[b]])
    out["cross_document_fp"] = out["fp"] - out["rewrite_fp"]
    return out


def summarize(total: Counter) -> dict:
    """Precision/recall/F1 over all pairs, precision against the rewrites only, recall per duplicate kind."""
    tp, fp, fn = total["tp"], total["fp"], total["fn"]
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    prw = tp / (tp + total["rewrite_fp"]) if tp + total["rewrite_fp"] else 1.0
    return {
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision_vs_rewrites": round(prw, 4),
        "rewrite_pairs": total["rewrite_pairs"],
        "rewrite_fp": total["rewrite_fp"],
        "cross_document_fp": total["cross_document_fp"],
        "recall_by_kind": {
            k: round(total[f"{k}_found"] / total[f"{k}_pairs"], 4) for k in DUP_KINDS if total[f"{k}_pairs"]
        },
    }


def labels_from_clusters(ids: list[str], members: list[list[str]]) -> np.ndarray:
    """Per-document cluster label (union of all clusters sharing a member; singletons label themselves)."""
    pos = {x: i for i, x in enumerate(ids)}
    parent = np.arange(len(ids))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    for ms in members:
        root = find(pos[ms[0]])
        for m in ms[1:]:
            r = find(pos[m])
            if r != root:
                parent[max(r, root)] = min(r, root)
                root = min(r, root)
    return np.array([find(i) for i in range(len(ids))])
