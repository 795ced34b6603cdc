"""Rule evaluate_device: sample the best model (or every cell's best run) on the evaluation backend and score it."""

from autoqml import logs
from autoqml.aggregate import read_statistics
from autoqml.data import located
from autoqml.device import device_table, evaluate_machines, samples_json, table_markdown
from autoqml.model import cell_best_machine, load
from autoqml.store import atomic_write, read_shards


def main(*, model: str, statistics: str, shards: list[str], evaluation: dict, routing: dict, seed: int, metric: str,
         data: dict, out: dict, log: str) -> None:
    logs.configure(log)
    if evaluation["all_cells"]:
        with located(data):  # each cell's circuit is rebuilt; a normal initial state loads the data
            machines = [cell_best_machine(result=result, metric=metric) for result in read_shards(shards)]
    else:
        machines = [load(model)]
    spec = evaluation["backend"]
    evaluations = evaluate_machines(machines=machines, spec=spec, shots=evaluation["shots"], seed=seed,
                                    routing=routing.get(spec.get("device")))
    table = device_table(read_statistics(statistics), evaluations)
    atomic_write(out["samples"], samples_json(evaluations))
    atomic_write(out["csv"], table.to_csv(index=False).encode())
    atomic_write(out["markdown"], table_markdown(table).encode())


if __name__ == "__main__":
    main(model=snakemake.input.model, statistics=snakemake.input.statistics,
         shards=list(snakemake.input.get("shards", [])), evaluation=dict(snakemake.params.evaluation),
         routing=dict(snakemake.params.routing), seed=snakemake.params.seed, metric=snakemake.params.metric,
         data=dict(zip(snakemake.params.data_paths, snakemake.input.data)), out=dict(snakemake.output.items()),
         log=snakemake.log[0])
