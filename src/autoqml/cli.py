"""The ``autoqml`` command: check a config, list its cells, train one cell."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from autoqml.errors import AutoQMLError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="autoqml", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check a config (YAML or the paper's JSON); exit 1 if invalid")
    validate.add_argument("config")
    validate.add_argument("--schema-only", action="store_true", help="skip loading the data files")
    grid = commands.add_parser("grid", help="print one JSON line per training cell (id, label, params)")
    grid.add_argument("config")
    train = commands.add_parser("train-cell", help="train every run of one cell and store its result")
    train.add_argument("config")
    train.add_argument("cell", help="cell id from `autoqml grid` (an unambiguous prefix is enough)")
    train.add_argument("--out", type=Path, help="result folder (default results/<study>/cells)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return _run(args)
    except AutoQMLError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    from autoqml.config import load_config
    from autoqml.grid import expand, find

    cfg = load_config(args.config)
    cells = expand(cfg)
    if args.command == "validate":
        if not args.schema_only:
            from autoqml.data import check_distributions

            check_distributions(distributions=cfg["distributions"], num_qubits=cfg["num_qubits"], seed=cfg["seed"])
        print(f"{args.config}: valid; study '{cfg['study']}', {len(cells)} cells x {cfg['num_training_runs']} runs")
    elif args.command == "grid":
        for cell in cells:
            print(cell.to_json())
    else:
        from autoqml.train import train_cell

        out = args.out or Path("results") / cfg["study"] / "cells"
        result = train_cell(cell=find(cells, args.cell), out=out)
        print(out / f"{result['cell']['id']}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
