"""``python -m lensnb.papers <paper> --out reports/``: run a reproduction, write its JSON and HTML report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lensnb.errors import LensError
from lensnb.papers import PAPERS, reproduce


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lensnb.papers", description=__doc__.split("\n")[0])
    parser.add_argument("paper", choices=PAPERS, help="which paper")
    parser.add_argument("--out", type=Path, default=Path("reports"), help="folder for <paper>.json and <paper>.html")
    parser.add_argument("--model", default="auto",
                        help="'auto' (the paper's model if it can be downloaded, else the embedded one), "
                             "'embedded', or a model name or folder")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="small data: a first look in a few minutes")
    parser.add_argument("--data", type=Path, default=None, help="folder of the datasets (default: LENSNB_DATA)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        report = reproduce(args.paper, model=args.model, quick=args.quick or None, data_dir=args.data,
                           seed=args.seed, progress=not args.no_progress)  # fmt: skip
    except LensError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    json_path, html_path = report.save(args.out)
    for claim in report.claims:
        print(f"[{claim.verdict}] {claim.text}: {claim.evidence}")
    print(f"wrote {json_path} and {html_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
