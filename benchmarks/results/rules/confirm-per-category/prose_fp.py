"""Which windows of the held-out clean prose / news fire a harm category, with their fast and final scores.

    PYTHONPATH=. .venv/bin/python benchmarks/results/rules/confirm-per-category/prose_fp.py OFFSET prose,news

A one-off reading of false positives (the rows are eval_harm's sample at OFFSET); evidence for the
confirm-per-category rule, not project code."""

import sys

from benchmarks.eval_harm import CATEGORIES, SHARED_DATA, Judge, load_all, load_news, sample
from filters.detectors.harm import window_bounds
from filters.normalize import normalize


def main() -> None:
    offset, kinds = int(sys.argv[1]), sys.argv[2].split(",")
    rows = sample(
        [r for r in load_all(SHARED_DATA) if r.split == "test"] + load_news(SHARED_DATA), 300, offset
    )
    rows = [r for r in rows if any(r.source.startswith(k) for k in kinds) and r.harmful == 0]
    judge = Judge("auto", "confirm")
    harm = judge.harm
    for r in rows:
        verdict = judge.filter.check_batch([r.text])[0]
        fired = [c for c in verdict.fired if c in CATEGORIES]
        if not fired:
            continue
        view = normalize(r.text)
        text = view.text[:20000]
        scored = harm.window_scores([view])[0]
        margins, _ = harm.model.window_margins(text, window_bounds(text, harm.model.spec.window_chars))
        fast = harm.model.calibrate(margins)
        print("=====", r.source, fired, {c: round(verdict.categories.get(c, 0), 3) for c in fired})
        for c in fired:
            k = CATEGORIES.index(c)
            w = int(scored.probs[:, k].argmax())
            window = text[slice(*scored.bounds[w])]
            line = f"  [{c}] final {scored.probs[w, k]:.3f} fast {fast[w, k]:.3f} thr {harm.model.thresholds[c]:.3f}"
            print(f"{line} :: {window!r}"[:700])
        print("  terms spans:", [s for s in verdict.spans if s[0] in fired])


if __name__ == "__main__":
    main()
