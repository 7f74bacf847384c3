"""Write the rater's EPITOME split as ids, so others can score on the same test pairs: `assets/epitome-split.csv`.

One row per (post, response) pair: `sp_id, rp_id, split` (train / val / test). The split is derived
(80/10/10, stratified on the 4-level scale, seed 42; `epitome.split_pairs`); the ids are EPITOME's own,
and no text of the data is written. Sharma et al. (EMNLP 2020) never released theirs.

    python bench/epitome_split.py [--epitome ../shared/data/epitome]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from empathy_studio.epitome import SPLIT_IDS_PATH, epitome_pairs, split_pairs  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epitome", default=str(ROOT.parent / "shared" / "data" / "epitome"))
    args = ap.parse_args()
    splits = split_pairs(epitome_pairs(args.epitome))
    rows = sorted((*p.pair_id.split("/"), name) for name, pairs in splits.items() for p in pairs)
    with SPLIT_IDS_PATH.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sp_id", "rp_id", "split"])
        w.writerows(rows)
    print(f"{SPLIT_IDS_PATH.relative_to(ROOT)}: {len(rows)} pairs, " + ", ".join(f"{k} {len(v)}" for k, v in splits.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
