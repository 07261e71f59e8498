"""`python -m winnow`: the same entry point as the `winnow` console script (pyproject's [project.scripts])."""

import sys

from winnow.cli import main

sys.exit(main())
