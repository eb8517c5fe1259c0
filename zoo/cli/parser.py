"""jsonargparse parsers with kebab-case flags.

jsonargparse names a flag after its field (``--latent_dim``); the house style and the README
use kebab case (``--latent-dim``). :class:`Parser` accepts both, prints kebab case in help and
usage, and turns jsonargparse's multi-line errors into one line.
"""
import json
import re
from typing import List, Optional, Sequence, Set

import jsonargparse

_FLAG = re.compile(r"--[a-z][a-z0-9_]*")


def kebab_flags(text: str) -> str:
    """``--print_config`` -> ``--print-config`` wherever a flag appears in ``text``."""
    return _FLAG.sub(lambda m: m.group(0).replace("_", "-"), text)


def snake_argv(argv: Sequence[str], booleans: Set[str] = frozenset(), sequences: Set[str] = frozenset(),
               appends: Set[str] = frozenset()) -> List[str]:
    """``argv`` as jsonargparse reads it: flags in snake case; a flag in ``booleans`` given alone
    means ``true`` (``--resume``); a flag in ``sequences`` takes every value that follows it
    (``--hidden 200 200`` -> ``--hidden [200, 200]``); a flag in ``appends`` is repeatable, its
    values gathered into one list (``--estimator-option a=1 --estimator-option b=2``). Anything
    after ``--`` is untouched."""
    argv = _gather(list(argv), appends)
    out, i = [], 0
    while i < len(argv):
        token = argv[i]
        i += 1
        if token == "--":
            out += argv[i - 1:]
            break
        if not (token.startswith("--") and token[2:3].isalpha()):
            out.append(token)
            continue
        flag, sep, value = token.partition("=")
        name = flag[2:].replace("-", "_")
        out.append(f"--{name}{sep}{value}")
        if sep:
            continue
        values = []
        while i < len(argv) and not argv[i].startswith("--") and (name in sequences or not values):
            values.append(argv[i])
            i += 1
        if name in booleans and (not values or values[0].lower() not in ("true", "false")):
            out.append("true")
            out += values
        elif name in sequences and values and not (len(values) == 1 and values[0].lstrip().startswith("[")):
            out.append("[" + ", ".join(values) + "]")
        else:
            out += values
    return out


def _gather(argv: List[str], appends: Set[str]) -> List[str]:
    """Every ``--NAME VALUE`` / ``--NAME=VALUE`` of a flag in ``appends`` as one ``--NAME <JSON list>``."""
    if not appends:
        return argv
    out, found, i = [], {}, 0
    while i < len(argv):
        flag, sep, value = argv[i].partition("=")
        name = flag[2:].replace("-", "_") if flag.startswith("--") else None
        if name in appends:
            if not sep and i + 1 < len(argv):
                value, i = argv[i + 1], i + 1
            if name not in found:
                found[name] = []
                out += [f"--{name}", name]  # a placeholder, filled in below
            found[name].append(value)
        else:
            out.append(argv[i])
        i += 1
    return [json.dumps(found[t]) if t in found and out[k - 1] == f"--{t}" else t for k, t in enumerate(out)]


class Parser(jsonargparse.ArgumentParser):
    """A jsonargparse ``ArgumentParser`` that raises instead of exiting on bad input, and speaks kebab case."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("exit_on_error", False)
        super().__init__(*args, **kwargs)

    def format_help(self) -> str:
        return kebab_flags(super().format_help())

    def format_usage(self) -> str:
        return kebab_flags(super().format_usage())

    booleans: Set[str] = frozenset()
    sequences: Set[str] = frozenset()
    appends: Set[str] = frozenset()

    def parse_args(self, args: Optional[Sequence[str]] = None, *more, **kwargs):
        argv = snake_argv(args or [], self.booleans, self.sequences, self.appends)
        return super().parse_args(argv, *more, **kwargs)


def one_line(error: BaseException) -> str:
    """jsonargparse's (often multi-line) error message as one line."""
    return kebab_flags(" ".join(str(error).split()))
