"""Run the study: `python scripts/study.py --preset demo` (same flags as `lineage study`)."""

import sys

from lineage.cli import main

if __name__ == "__main__":
    main(["study", *sys.argv[1:]])
