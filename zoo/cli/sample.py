"""``vaezoo sample RUN_DIR``: samples.png and reconstructions.png for a run."""
from dataclasses import dataclass

from zoo.cli.options import PositiveInt, option
from zoo.cli.parsing import add_command
from zoo.cli.runs import RunOptions, figure_inputs, write_figures


@dataclass(frozen=True)
class SampleOptions(RunOptions):
    """The options of ``vaezoo sample``."""

    num_samples: PositiveInt = option(100, "samples from the prior")
    num_reconstructions: PositiveInt = option(9, "reconstructions of each input")
    num_inputs: PositiveInt = option(8, "test inputs reconstructed")


def add_parser(sub) -> None:
    add_command(sub, "sample", SampleOptions, run, help="write samples.png and reconstructions.png for a run")


def run(opts: SampleOptions) -> int:
    from zoo.training import Run, load

    with Run(opts.run_dir).reading() as run:
        vae = load(run.path)
        spec = run.read_data()
        inputs = figure_inputs(spec.load(opts.data_root).test, spec, opts.num_inputs)
        write_figures(run.path, vae, inputs, run.history(), opts.seed, opts.num_samples, opts.num_reconstructions)
    return 0
