"""The run report: a read-only viewer of a run directory (`winnow report RUN_DIR`).

`report.page` writes the self-contained report.html, `report.data` reads what it shows (bounded,
selective) and `kit.svg` draws the charts (the loss curve with the trainer's own drawing of it). It
reads the run directory through `pipeline.storage` (reads) and `pipeline.layout` (where each file
lives) and imports nothing else of `pipeline`, so the orchestration never depends on how a run is
shown.
"""
