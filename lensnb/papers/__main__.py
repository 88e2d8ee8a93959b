"""``python -m lensnb.papers <paper> --out reports/``: run a reproduction, write its JSON and HTML report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lensnb.errors import LensError
from lensnb.papers import PAPERS, download_models, reproduce


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lensnb.papers", description=__doc__.split("\n")[0])
    parser.add_argument("paper", nargs="?", choices=PAPERS, help="which paper")
    parser.add_argument("--download-models", action="store_true",
                        help="fetch the papers' models (all, or this paper's) into the Hugging Face cache, check that each "
                             "holds safetensors weights, and stop (exit status 1 if one failed)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("reports"), help="folder for <paper>.json and <paper>.html")
    parser.add_argument("--model", default="auto",
                        help="'auto' (the paper's model if it can be downloaded, else the embedded one), "
                             "'embedded', or a model name or folder")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="small data: a first look in a few minutes")
    parser.add_argument("--data", type=Path, default=None, help="folder of the datasets (default: LENSNB_DATA)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.download_models:
        return 1 if download_models([args.paper] if args.paper else None) else 0
    if args.paper is None:
        parser.error("name a paper (or pass --download-models)")
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
