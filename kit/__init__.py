"""The shared kit: what every winnow room needs and none owns. It imports nothing else from winnow.

- `kit.files`: atomic writes, file digests, pinned files, which file names are documents (standard
  library only);
- `kit.jsonl`: one JSONL line as a document or a malformed line with its reason (ingest, dedup, tokenize,
  filter score);
- `kit.parquet`: open a Parquet file, or one line saying it is not one (dedup, tokenize);
- `kit.ray_local`: the one local Ray start (loopback, token auth on) and joining a cluster (its address
  probed first, so a wrong one is one line, not a hang);
- `kit.svg`: the hand-written SVG charts of the report and the trainer's loss curve;
- `kit.validation`: a pydantic validation error as one message per field, with `did you mean`.

Import the module you need (`from kit.files import atomic_write`); this package imports nothing on
its own, so `import kit.files` costs only the standard library.
"""
