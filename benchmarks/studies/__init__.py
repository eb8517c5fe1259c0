"""``vaezoo experiment <study>``: studies that train or measure models and report numbers and figures.

    collapse-2d  seed 003's 2-D posterior-collapse study (``benchmarks.studies.collapse2d``)
    conv-vae     the convolutional VAE on a fixed budget (``benchmarks.studies.conv``)
    pointwise    pythae's point-by-point log p(x) loop against the vectorized one (``benchmarks.studies.pointwise``)

Each study module has ``add_parser(studies)`` adding its subcommand (``zoo.cli.parsing.add_command``).
"""
from benchmarks.studies import collapse2d, conv, pointwise

STUDIES = (collapse2d, conv, pointwise)


def add_parser(sub) -> None:
    p = sub.add_parser("experiment", help="run a study: collapse-2d, conv-vae, pointwise")
    studies = p.add_subparsers(dest="study", required=True, metavar="STUDY")
    for study in STUDIES:
        study.add_parser(studies)
