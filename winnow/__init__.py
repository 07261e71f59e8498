"""The `winnow` command line: argument parsing, messages and exit codes over the packages that do the work.

`winnow.cli` holds `main` (the console script) and the pipeline's commands (run, validate, stats,
report); `winnow.commands` the commands that run one library on its own. No package imports `winnow`.
"""
