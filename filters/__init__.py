"""winnow filters: one policy for disallowed and low-quality content, in the pipeline and at runtime.

from filters import Policy, Filter
f = Filter(Policy.load("configs/policy.yaml"), mode="runtime")  # PolicyError names a bad field
v = f.check(text)            # Verdict: action, categories, spans, text (redacted), lang, reasons
vs = f.check_batch(texts)    # the pipeline's vectorized path, same verdicts
g = StreamGuard(f)           # model output chunk by chunk: g.feed(chunk) -> safe text; g.close()
"""

from filters.engine import Filter, Verdict
from filters.policy import CATEGORIES, Policy, PolicyError
from filters.stream import StreamGuard

__all__ = ["CATEGORIES", "Filter", "Policy", "PolicyError", "StreamGuard", "Verdict"]
