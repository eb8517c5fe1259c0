"""``vaezoo sample RUN_DIR``: samples.png and reconstructions.png for a run."""
from pathlib import Path

from zoo._utils.io import read_json
from zoo.cli.runs import DATA_FILE, figure_inputs, load_data, write_figures


def add_parser(sub) -> None:
    p = sub.add_parser("sample", help="write samples.png and reconstructions.png for a run")
    p.add_argument("run_dir")
    p.add_argument("--num-samples", type=int, default=100, help="(default: 100)")
    p.add_argument("--num-reconstructions", type=int, default=9, help="(default: 9)")
    p.add_argument("--num-inputs", type=int, default=8, help="(default: 8)")
    p.add_argument("--seed", type=int, default=0, help="(default: 0)")
    p.add_argument("--data-root", default=None)
    p.set_defaults(run=run)


def run(args) -> int:
    import zoo

    run_dir = Path(args.run_dir)
    vae = zoo.load(run_dir)
    if not (run_dir / DATA_FILE).exists():
        raise FileNotFoundError(f"{run_dir / DATA_FILE} is missing: cannot tell which data the run used")
    spec = read_json(run_dir / DATA_FILE)
    if args.data_root:
        spec["data_root"] = args.data_root
    _, test = load_data(spec)
    history = read_json(run_dir / "history.json") if (run_dir / "history.json").exists() else []
    write_figures(run_dir, vae, figure_inputs(test, spec, args.num_inputs), history, args.seed,
                  args.num_samples, args.num_reconstructions)
    return 0
