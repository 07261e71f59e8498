"""URL blocklist: FineWeb's URL word lists (datatrove ``URLFilter`` semantics) plus domain lists.

A URL is blocked when (checked in this order, the first reason wins):
- its host or any parent domain is in the domain blocklist (covers datatrove's
  ``registered_domain`` and ``fqdn`` checks without a public-suffix download),
- the exact URL is in the URL blocklist,
- one of its tokens (split on non-alphanumerics, as datatrove does) is a ``banned_words`` entry,
- at least ``soft_word_threshold`` (2) ``soft_banned_words`` entries are among its tokens,
- a ``banned_subwords`` entry is a substring of the URL with non-alphanumerics removed and lowercased
  (one Aho-Corasick pass).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from filters.automaton import Automaton
from filters.detectors.base import DetectorResult

__all__ = ["UrlBlocklist"]

URL_LISTS_DIR = Path(__file__).resolve().parent / "data" / "url_filter"
_NON_ALNUM = re.compile(r"[^a-zA-Z0-9]+")
_MAX_URL = 8192


def _normalize(word: str) -> str:
    return _NON_ALNUM.sub("", word).lower()


def _read_list(path: Path) -> set[str]:
    """datatrove's parse_list: skip lines starting with '#', normalize the rest."""
    out = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and line[0] != "#":
            norm = _normalize(line)
            if norm:
                out.add(norm)
    return out


class UrlBlocklist:
    """Checks document URLs; ``check_urls`` gives a ``DetectorResult`` with score ``urls`` (0 or 1)."""

    name = "urls"

    def __init__(
        self,
        domains: Iterable[str] = (),
        domain_files: Iterable[str] = (),
        urls: Iterable[str] = (),
        use_fineweb_lists: bool = True,
        soft_word_threshold: int = 2,
        lists_dir: Path = URL_LISTS_DIR,
    ):
        self.domains = {d.strip().lower().lstrip(".") for d in domains if d.strip()}
        for f in domain_files:
            for line in Path(f).read_text(encoding="utf-8").splitlines():
                if line.strip() and not line.startswith("#"):
                    self.domains.add(line.strip().lower().lstrip("."))
        self.urls = {u.strip() for u in urls if u.strip()}
        self.soft_word_threshold = soft_word_threshold
        if use_fineweb_lists:
            self.banned_words = _read_list(lists_dir / "banned_words.txt")
            self.soft_banned_words = _read_list(lists_dir / "soft_banned_words.txt")
            subwords = _read_list(lists_dir / "banned_subwords.txt")
        else:
            self.banned_words, self.soft_banned_words, subwords = set(), set(), set()
        self._subwords = Automaton(sorted(subwords)) if subwords else None

    def reason(self, url: str | None) -> str:
        """Why ``url`` is blocked ("" when it is not, or when there is no URL)."""
        if not url or not isinstance(url, str):
            return ""
        url = url[:_MAX_URL]
        if self.domains:
            try:
                host = (urlsplit(url if "//" in url else "//" + url).hostname or "").rstrip(".")
            except ValueError:
                host = ""
            parts = host.split(".")
            for i in range(len(parts) - 1):
                if ".".join(parts[i:]) in self.domains:
                    return "domain"
        if url in self.urls:
            return "url"
        words = set(_NON_ALNUM.split(url))
        if not words.isdisjoint(self.banned_words):
            return "hard_blacklisted"
        if len(words & self.soft_banned_words) >= self.soft_word_threshold:
            return "soft_blacklisted"
        if self._subwords is not None and self._subwords.find(_normalize(url)):
            return "blacklisted_subword"
        return ""

    def check_urls(self, urls: list[str | None]) -> list[DetectorResult]:
        out = []
        for u in urls:
            r = self.reason(u)
            out.append(DetectorResult(scores={"urls": 1.0 if r else 0.0}, labels={"url_reason": r}))
        return out
