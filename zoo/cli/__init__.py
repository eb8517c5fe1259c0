"""The ``vaezoo`` command line: one module per command, every command's options a frozen dataclass.

``list``, ``train``, ``sample``, ``eval``, ``plot`` and ``pretrained`` are here; packages above ``zoo``
(``benchmarks``: ``bench``, ``experiment``, ``gmm``, ``seq``) add their commands through the
``vaezoo.commands`` entry points, each a function ``add_parser(subparsers)``, so that ``zoo``
never imports them. Every command's flags, ``--config FILE``, ``--print-config`` and ``--help``
come from its options dataclass (:mod:`zoo.cli.options`, :mod:`zoo.cli.parsing`): the command is
parse -> run.
"""
import argparse
import sys
from importlib.metadata import entry_points
from typing import List, Optional

COMMANDS = "vaezoo.commands"


def _errors() -> tuple:
    from zoo.training import RunInUse

    return ValueError, TypeError, FileNotFoundError, FileExistsError, RunInUse


def _parser() -> argparse.ArgumentParser:
    from zoo.cli import evaluation, listing, plot, pretrained, sample, train
    from zoo.cli.parsing import Parser

    parser = Parser(prog="vaezoo", description="Variational autoencoders as Pyro model/guide pairs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (listing, train, sample, evaluation, plot, pretrained):
        module.add_parser(sub)
    for command in entry_points(group=COMMANDS):
        command.load()(sub)
    return parser


def _subcommand(parser: argparse.ArgumentParser, path: List[str]) -> argparse.ArgumentParser:
    for name in path:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if name not in sub.choices:
            raise ValueError(f"unknown command {name!r}; choose from {', '.join(sub.choices)}")
        parser = sub.choices[name]
    return parser


def help_text(command: Optional[str] = None) -> str:
    """``vaezoo --help`` (or ``vaezoo COMMAND [SUBCOMMAND] --help``) as text: the CLI pages of the
    docs are generated from it."""
    return _subcommand(_parser(), command.split() if command else []).format_help()


def commands() -> List[str]:
    """The commands of ``vaezoo``, in the order its help lists them, each followed by its
    subcommands (``pretrained list``, ...)."""
    def subparsers(parser):
        return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)

    out = []
    for name, parser in subparsers(_parser()).choices.items():
        nested = subparsers(parser)
        out += [name, *(f"{name} {sub}" for sub in (nested.choices if nested else ()))]
    return out


def main(argv: Optional[List[str]] = None) -> int:
    from zoo.cli.parsing import options_from, to_yaml
    from zoo.training import TrainingDiverged

    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and not argv[0].startswith("-") else None
    name = f"vaezoo {command}" if command else "vaezoo"
    try:
        options, print_config, run = options_from(_parser().parse_args(argv))
        if print_config:
            print(to_yaml(options), end="")
            return 0
        return run(options)
    except _errors() as e:
        print(f"{name}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # e.g. a full disk: the files written before are intact (atomic writes)
        print(f"{name}: error: {e.strerror or e}{f': {e.filename}' if e.filename else ''}; the files "
              "written before are intact", file=sys.stderr)
        return 2
    except TrainingDiverged as e:
        print(f"{name}: error: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("\ninterrupted: finished work is saved; run the same command (train: with --resume) to go on",
              file=sys.stderr)
        return 130
