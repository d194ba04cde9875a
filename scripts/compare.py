"""Run the comparison: `python scripts/compare.py --preset demo` (same flags as `lineage compare`)."""

import sys

from lineage.cli import main

if __name__ == "__main__":
    main(["compare", *sys.argv[1:]])
