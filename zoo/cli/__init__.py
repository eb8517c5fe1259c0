"""The ``vaezoo`` command line: one module per command.

``train`` (:mod:`zoo.cli.train`) is generated from the config dataclasses by jsonargparse and
reads ``--config run.yaml``; ``list``, ``sample``, ``eval`` and ``plot`` are here too. Packages
above ``zoo`` (``benchmarks``: ``bench``, ``experiment``, ``gmm``, ``seq``) add their commands
through the ``vaezoo.commands`` entry points, each a function ``add_parser(subparsers)`` that
sets ``run``, so that ``zoo`` never imports them.
"""
import argparse
import sys
from importlib.metadata import entry_points
from typing import List, Optional

COMMANDS = "vaezoo.commands"
ERRORS = (ValueError, TypeError, FileNotFoundError, FileExistsError)


def _parser() -> argparse.ArgumentParser:
    from zoo.cli import evaluation, listing, plot, sample

    parser = argparse.ArgumentParser(prog="vaezoo", description="Variational autoencoders as Pyro model/guide pairs.")
    sub = parser.add_subparsers(dest="command", required=True)
    listing.add_parser(sub)
    # parsed by zoo.cli.train (jsonargparse); listed here for the overview
    sub.add_parser("train", help="train a model (vaezoo train --help)", add_help=False)
    sample.add_parser(sub)
    evaluation.add_parser(sub)
    plot.add_parser(sub)
    for command in entry_points(group=COMMANDS):
        command.load()(sub)
    return parser


def help_text(command: Optional[str] = None) -> str:
    """``vaezoo --help`` (or ``vaezoo COMMAND --help``) as text: the CLI pages of the docs are
    generated from it."""
    if command == "train":
        from zoo.cli import train

        return train.parser().format_help()
    parser = _parser()
    if command is None:
        return parser.format_help()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if command not in sub.choices:
        raise ValueError(f"unknown command {command!r}; choose from {', '.join(sub.choices)}")
    return sub.choices[command].format_help()


def commands() -> List[str]:
    """The commands of ``vaezoo``, in the order its help lists them."""
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def main(argv: Optional[List[str]] = None) -> int:
    from zoo.training import TrainingDiverged

    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv else None
    try:
        if command == "train":
            from zoo.cli import train

            return train.main(argv[1:])
        args = _parser().parse_args(argv)
        return args.run(args)
    except ERRORS as e:
        print(f"vaezoo {command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # e.g. a full disk: the files written before are intact (atomic writes)
        print(f"vaezoo {command}: error: {e.strerror or e}{f': {e.filename}' if e.filename else ''}; the files "
              "written before are intact", file=sys.stderr)
        return 2
    except TrainingDiverged as e:
        print(f"vaezoo {command}: error: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("\ninterrupted: finished work is saved; run the same command (train: with --resume) to go on",
              file=sys.stderr)
        return 130
