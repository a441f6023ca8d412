"""Write the sorted tidy rows of a finished test_tiny sweep to test_tiny_results.csv.

Usage: python tests/reference/regenerate.py RESULTS_DIR   (RESULTS_DIR holds runs/<experiment>/*.csv)
"""

import sys
from pathlib import Path

import pandas as pd

from mtrl_bench.results import read_results

SORT = ["experiment", "algorithm", "variants", "n_tasks", "task", "width", "seed", "step", "metric"]


def collect(results_dir: Path) -> pd.DataFrame:
    frames = [read_results(p)[0] for p in sorted(results_dir.glob("runs/**/*.csv"))]
    return pd.concat(frames).sort_values(SORT).reset_index(drop=True)


if __name__ == "__main__":
    frame = collect(Path(sys.argv[1]))
    frame.to_csv(Path(__file__).with_name("test_tiny_results.csv"), index=False, float_format="%.9g")
