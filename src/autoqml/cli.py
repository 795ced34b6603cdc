"""The ``autoqml`` command: check a config, list its cells, train one cell, sample a stored model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autoqml import logs
from autoqml.errors import AutoQMLError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="autoqml", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check a config (YAML or the paper's JSON); exit 1 if invalid")
    validate.add_argument("config")
    validate.add_argument("--schema-only", action="store_true", help="skip loading the data files")
    grid = commands.add_parser("grid", help="print one JSON line per training cell (id, label, params)")
    grid.add_argument("config")
    cost = commands.add_parser("cost", help="estimated resources of a study: seconds, circuit executions, shots; "
                                            "what its budget skips")
    cost.add_argument("config")
    cost.add_argument("--config", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE",
                      help="override top-level keys as snakemake --config does (VALUE is YAML), e.g. "
                           "'backend={type: aer, shots: 1000}'")
    train = commands.add_parser("train-cell", help="train every run of one cell and store its result")
    train.add_argument("config")
    train.add_argument("cell", help="cell id from `autoqml grid` (an unambiguous prefix is enough)")
    train.add_argument("--out", type=Path, help="result folder (default results/<study>/cells)")
    sample = commands.add_parser("sample", help="draw values from a stored model (best/model.json)")
    sample.add_argument("model", type=Path, help="model.json (safe) or model.pkl (needs --trust-pickle)")
    sample.add_argument("-n", "--size", type=int, default=1000, help="number of values (default 1000)")
    sample.add_argument("--seed", type=int, help="seed of the Born sampling (default: fresh randomness)")
    sample.add_argument("--trust-pickle", action="store_true", help="allow loading a pickle: it runs code")
    args = parser.parse_args(argv)
    logs.configure()
    try:
        return _run(args)
    except AutoQMLError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.command == "sample":
        from autoqml.model import load

        machine = load(args.model, trust_pickle=args.trust_pickle)
        sys.stdout.write("".join(f"{float(value)!r}\n" for value in machine.sample(size=args.size, seed=args.seed)))
        return 0
    if args.command == "cost":
        return _cost(args.config, args.overrides)
    from autoqml.config import load_config
    from autoqml.grid import expand, find

    cfg = load_config(args.config)
    cells = expand(cfg)
    if args.command == "validate":
        if not args.schema_only:
            from autoqml.data import check_distributions

            check_distributions(distributions=cfg["distributions"], num_qubits=cfg["num_qubits"], seed=cfg["seed"],
                                batch_size=cfg["batch_size"])
        print(f"{args.config}: valid; study '{cfg['study']}', {len(cells)} cells x {cfg['num_training_runs']} runs")
    elif args.command == "grid":
        for cell in cells:
            print(cell.to_json())
    else:
        from autoqml.study import Study
        from autoqml.train import train_cell

        out = args.out or Path("results") / cfg["study"] / "cells"
        result = train_cell(cell=find(cells, args.cell), out=out, routing=Study(cfg).routing)
        print(out / f"{result['cell']['id']}.json")
    return 0


def _cost(config: str, overrides: list[str]) -> int:
    """Print what the study would use (admitted cells and the device evaluation), then what the budget skips."""
    import yaml

    from autoqml.errors import ConfigError
    from autoqml.study import Study

    if any("=" not in item for item in overrides):
        raise ConfigError(f"--config: expected KEY=VALUE items, got {overrides}")
    study = Study.from_files([config], overrides={key: yaml.safe_load(value) for key, value in
                                                  (item.split("=", 1) for item in overrides)})
    total = study.total_cost()
    print(f"{config}: study '{study.name}', {len(study.cells)} of {len(study.grid)} cells run "
          f"({len(study.skipped)} skipped by the budget)")
    print(f"  estimated training seconds: {total.seconds:.6g} (cost model of the shard balancer, one process)")
    print(f"  circuit executions: {total.circuit_executions:,}")
    print(f"  shots: {total.shots:,}")
    for record in study.skipped_records:
        print(f"  skipped {record['cell']} ({record['label']}): {record['reason']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
