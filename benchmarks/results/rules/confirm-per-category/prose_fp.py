"""Which windows of clean prose / news / xstest-safe fire, with fast and final scores."""
import sys, numpy as np
from benchmarks.eval_harm import load_all, load_news, sample, Judge, CATEGORIES, SHARED_DATA
from filters.normalize import normalize
off = int(sys.argv[1]); kinds = sys.argv[2].split(",")
rows = sample([r for r in load_all(SHARED_DATA) if r.split == "test"] + load_news(SHARED_DATA), 300, off)
rows = [r for r in rows if any(r.source.startswith(k) for k in kinds) and r.harmful == 0]
j = Judge("auto", "confirm")
h = j.harm
for r in rows:
    v = j.filter.check_batch([r.text])[0]
    harm_fired = [c for c in v.fired if c in CATEGORIES]
    if not harm_fired: continue
    view = normalize(r.text)
    text = view.text
    ws = h.window_scores([view])[0]
    from filters.detectors.harm import window_bounds
    bounds = window_bounds(text[:20000], h.model.spec.window_chars)
    m, cw = h.model.window_margins(text[:20000], bounds); fast = h.model.calibrate(m)
    print("=====", r.source, harm_fired, {c: round(v.categories.get(c,0),3) for c in harm_fired})
    for c in harm_fired:
        k = CATEGORIES.index(c)
        w = int(ws.probs[:, k].argmax())
        print(f"  [{c}] final {ws.probs[w,k]:.3f} fast {fast[w,k]:.3f} thr {h.model.thresholds[c]:.3f} :: {text[slice(*ws.bounds[w])]!r}"[:700])
    print("  terms spans:", [s for s in v.spans if s[0] in harm_fired])
