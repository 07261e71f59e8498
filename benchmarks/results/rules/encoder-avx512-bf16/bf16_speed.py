"""fp32 vs bf16 (plain, packed) one window at a time on this CPU: median ms per window over real-ish windows."""
import json, time, statistics, sys
import torch
torch.set_num_threads(1)
from filters.detectors.encoder import TextEncoder, pack_linears
from filters.normalize import normalize
texts=[json.loads(l)["text"] for l in open("data/harm_hard_negatives/hard_negatives.jsonl")]
page=open("tests/fixtures/harm/clean_page.txt").read()
wins=[page[i:i+400] for i in range(0, len(page)-400, 400)]
sample=(texts[:150]+wins)[:200]
sample=[normalize(t).text for t in sample]
def run(enc, label):
    for t in sample[:20]: enc.embed([t])
    res=[]
    for rep in range(2):
        ts=[]
        for t in sample:
            t0=time.perf_counter(); enc.embed([t]); ts.append((time.perf_counter()-t0)*1000)
        res.append(statistics.median(ts)); 
    print(label, "median ms/window per pass", [round(r,2) for r in res], "mean last", round(statistics.mean(ts),2), flush=True)
    return enc
e32=run(TextEncoder(precision="fp32"), "fp32")
eb=run(TextEncoder(precision="bf16"), "bf16 plain")
eb.packed = pack_linears(eb._model.layers, eb.max_tokens)
print("packed:", eb.packed)
run(eb, "bf16 packed")
import numpy as np
a=e32.embed(sample[:100]); b=np.concatenate([eb.embed([t]) for t in sample[:100]])
a1=np.concatenate([e32.embed([t]) for t in sample[:100]])
cos=(a1*b).sum(1)/np.linalg.norm(a1,axis=1)/np.linalg.norm(b,axis=1)
print("cosine fp32 vs bf16 packed: min", cos.min())
