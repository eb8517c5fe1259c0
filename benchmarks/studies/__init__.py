"""``vaezoo experiment <study>``: studies that train models and report numbers and figures.

    collapse-2d  seed 003's 2-D posterior-collapse study (``benchmarks.studies.collapse2d``)
    conv-vae     the convolutional VAE on a fixed budget (``benchmarks.studies.conv``)

Each study module has ``add_parser(studies)`` adding its subcommand with ``set_defaults(run=...)``.
"""
from benchmarks.studies import collapse2d, conv

STUDIES = (collapse2d, conv)


def add_parser(sub) -> None:
    p = sub.add_parser("experiment", help="run a study: collapse-2d, conv-vae")
    studies = p.add_subparsers(dest="study", required=True, metavar="study")
    for study in STUDIES:
        study.add_parser(studies)
