"""What chat role labels do to the harm verdicts: the same prompts judged as bare text and wrapped as the
transcript a chat model decodes ("user: <text>\\nassistant:").

    taskset -c 1 .venv/bin/python -m benchmarks.prompt_transcripts [--data ../shared/data]

Why: until 2026-12-05 the server's prompt check judged that transcript, and the harm classifier counted
the labels as content words (it abstains below three), so everyday two-word prompts were refused. The
server now checks the contents alone (`server.request.parse_request`); a completion client that writes
its own transcript still sends labels, and this says what they cost.

Texts: the 50 everyday and 16 harmful short messages of tests/fixtures/harm/short_messages.json (written
for the project), and the first held-out sample of `benchmarks.eval_harm` (`--per-source 300`): XSTest's
safe prompts and the harmful chat prompts (XSTest, SimpleSafetyTests, HarmBench, AdvBench). Every text
goes through the shipped policy in runtime mode; "fired" = some harm category fired. Writes
benchmarks/results/prompt_transcripts.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.eval_harm import PROMPT_SOURCES, sample  # noqa: E402
from benchmarks.machine import SHARED_DATA, machine_info, shared_data_missing, write_results  # noqa: E402
from filters.detectors.harm import CATEGORIES  # noqa: E402
from filters.engine import Filter  # noqa: E402
from filters.policy import Policy, default_policy_path  # noqa: E402
from scripts.harm_data import REQUIRED_FILES, load_all  # noqa: E402
from server.request import chat_transcript  # noqa: E402

SHORT = ROOT / "tests" / "fixtures" / "harm" / "short_messages.json"


def fired(judge: Filter, texts: list[str]) -> list[bool]:
    """Per text: whether some harm category fires (at runtime a fired profanity flags, the rest block)."""
    out: list[bool] = []
    for start in range(0, len(texts), 64):
        out += [bool(set(v.fired) & set(CATEGORIES)) for v in judge.check_batch(texts[start : start + 64])]
    return out


def measure(data: Path) -> dict:
    short = json.loads(SHORT.read_text(encoding="utf-8"))
    rows = sample([r for r in load_all(data) if r.split == "test"], 300, 0)
    sets = {
        "short_everyday": short["benign"],
        "short_harmful": short["harmful"],
        "xstest_safe": [r.text for r in rows if r.source == "xstest_prompts" and r.harmful == 0],
        "chat_harmful": [r.text for r in rows if r.source in PROMPT_SOURCES and r.harmful == 1],
    }
    judge = Filter(Policy.load(default_policy_path()), mode="runtime")
    out = {}
    for name, texts in sets.items():
        bare, wrapped = (
            fired(judge, texts),
            fired(judge, [chat_transcript([{"role": "user", "content": t}]) for t in texts]),
        )
        entry = {
            "n": len(texts),
            "fired_bare": round(sum(bare) / len(texts), 4),
            "fired_transcript": round(sum(wrapped) / len(texts), 4),
        }
        if name.startswith("short_"):  # the project's own texts: say which ones
            entry["texts_fired_bare"] = [t for t, f in zip(texts, bare, strict=True) if f]
            entry["texts_fired_transcript"] = [t for t, f in zip(texts, wrapped, strict=True) if f]
        out[name] = entry
        print(
            f"{name:15} n={len(texts):4}  fired bare {entry['fired_bare']:.3f}  "
            f"as transcript {entry['fired_transcript']:.3f}",
            flush=True,
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=SHARED_DATA, help="the shared data folder")
    args = ap.parse_args(argv)
    # Every file load_all reads (harm/SOURCES.md, the toxicity sets, the clean prose), before any work.
    if any(shared_data_missing(args.data, rel) for rel in REQUIRED_FILES):
        return 2
    if not SHORT.is_file():
        print(f"error: {SHORT} is missing: restore it from git", file=sys.stderr)
        return 2
    machine = machine_info()
    results = measure(args.data)
    method = (
        "one run, shipped policy in runtime mode, each text judged once bare and once as a transcript; "
        "held-out first sample of eval_harm (read by earlier variants) and the project's short messages"
    )
    write_results("prompt_transcripts", results, method=method, machine=machine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
