"""Parsers generated from the options dataclasses (:mod:`zoo.cli.options`): flags, ``--config``,
``--print-config`` and ``--help``, on :mod:`argparse`.

:func:`add_command` adds a command whose options are a frozen dataclass; :func:`options_from`
turns what argparse read (text) and the config file (YAML) into that dataclass, through the one
checker :func:`zoo.cli.options.convert`. Flags given on the command line override the file,
wherever they stand.
"""
import argparse
import dataclasses
import typing
from pathlib import Path
from typing import Any, Callable, Dict, Tuple

from zoo.cli.options import OptionError, convert, hints, parse_assignment

Run = Callable[[Any], int]


class Parser(argparse.ArgumentParser):
    """argparse, raising :class:`OptionError` (one line) where it would print usage and exit;
    no abbreviated flags (``--lat`` is not ``--latent-dim``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise OptionError(f"{' '.join(message.split())} (see {self.prog} --help)")

    def parse_args(self, args=None, namespace=None):
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:  # named after the command that was given, not the top-level parser
            prog = getattr(namespace, "_prog", self.prog)
            raise OptionError(f"unrecognized arguments: {' '.join(extras)} (see {prog} --help)")
        return namespace


def add_command(sub, name: str, options: type, run: Run, help: str, description: str = "") -> Parser:
    """The command ``name`` under ``sub`` (argparse subparsers): flags from the dataclass
    ``options``, ``run(options) -> exit status``."""
    parser = sub.add_parser(name, help=help, description=description or help)
    add_options(parser, options)
    parser.set_defaults(_options=options, _run=run, _prog=parser.prog)
    return parser


def add_options(parser: argparse.ArgumentParser, options: type) -> None:
    """One flag (or positional argument) per field of ``options``, then ``--config`` and ``--print-config``."""
    types = hints(options)
    for field in dataclasses.fields(options):
        tp, meta = types[field.name], field.metadata
        kwargs = {"default": argparse.SUPPRESS, "help": _help(field).replace("%", "%%")}
        if meta.get("positional"):
            parser.add_argument(field.name, nargs="?", metavar=field.name.upper(), **kwargs)
            continue
        flag = "--" + field.name.replace("_", "-")
        if meta.get("repeat"):
            parser.add_argument(flag, dest=field.name, action="append", metavar="NAME=VALUE", **kwargs)
        elif _base(tp) is bool:
            if field.default is not False:
                raise TypeError(f"{options.__name__}.{field.name}: a switch must default to False")
            parser.add_argument(flag, dest=field.name, action="store_const", const=True, **kwargs)
        elif _sequence(tp):
            parser.add_argument(flag, dest=field.name, nargs="+", metavar="N", **kwargs)
        else:
            parser.add_argument(flag, dest=field.name, metavar=_metavar(tp), **kwargs)
    parser.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                        help="a YAML file of these options, keys as --print-config writes them; flags given "
                             "on the command line override it")
    parser.add_argument("--print-config", action="store_true", default=argparse.SUPPRESS,
                        help="print the resolved options as a YAML config file and stop")


def options_from(namespace: argparse.Namespace) -> Tuple[Any, bool, Run]:
    """``(options, print_config, run)`` from what argparse read: the config file's values, then
    the flags', each converted by its field's type; a missing required option is refused."""
    values = vars(namespace)
    cls, run = values["_options"], values["_run"]
    given: Dict[str, Any] = read_config(values["config"], cls) if "config" in values else {}
    types = hints(cls)
    for field in dataclasses.fields(cls):
        if field.name in values:
            given[field.name] = _from_command_line(field, values[field.name], types[field.name])
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in given
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise OptionError(f"missing {', '.join(m.upper() for m in missing)} (on the command line or in --config)")
    return cls(**given), bool(values.get("print_config")), run


def _from_command_line(field: dataclasses.Field, raw: Any, tp: Any) -> Any:
    flag = field.name.upper() if field.metadata.get("positional") else "--" + field.name.replace("_", "-")
    if field.metadata.get("repeat"):
        pairs = [parse_assignment(text) for text in raw]
        names = [name for name, _ in pairs]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise OptionError(f"{flag}: {', '.join(twice)} given more than once")
        return convert(flag, dict(pairs), tp)
    if isinstance(raw, list) and len(raw) == 1 and raw[0].lstrip().startswith("["):
        raw = raw[0]  # --hidden [200, 200]: one YAML list
    return convert(flag, raw, tp)


def read_config(path, cls) -> Dict[str, Any]:
    """The options in the YAML file ``path``, keys with ``_`` or ``-``, each converted by its type."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise OptionError(f"--config {path}: no such file") from None
    except yaml.YAMLError as e:
        raise OptionError(f"--config {path} is not valid YAML: {' '.join(str(e).split())}") from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise OptionError(f"--config {path} must hold a mapping of options, got {type(data).__name__}")
    types, out = hints(cls), {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name not in types:
            raise OptionError(f"{key}: unknown key in {path}; the keys are {', '.join(types)}")
        out[name] = convert(f"{name} (in {path})", value, types[name])
    return out


def plain(value: Any) -> Any:
    """Options as plain YAML/JSON data: tuples as lists."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def to_yaml(options: Any) -> str:
    """The options as the YAML config ``--config`` reads (an options class may resolve more of
    them first, with a method ``printed_config() -> dict``)."""
    import yaml

    class Dumper(yaml.SafeDumper):  # a mapping a line, each list on its line: hidden: [200, 200]
        pass

    Dumper.add_representer(list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))
    data = options.printed_config() if hasattr(options, "printed_config") else \
        {f.name: plain(getattr(options, f.name)) for f in dataclasses.fields(options)}
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, default_flow_style=False)


def _help(field: dataclasses.Field) -> str:
    text = field.metadata.get("help", "")
    if field.default is dataclasses.MISSING or "default" in text or field.default is False:
        return text
    default = "none" if field.default is None else \
        " ".join(map(str, field.default)) if isinstance(field.default, tuple) else field.default
    return f"{text} (default: {default})".strip()


def _base(tp):
    while typing.get_origin(tp) in (typing.Annotated, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = args[0]
    return tp


def _sequence(tp) -> bool:
    base = _base(tp)
    return typing.get_origin(base) in (list, tuple) or base in (list, tuple)


def _metavar(tp) -> str:
    base = _base(tp)
    if typing.get_origin(base) is typing.Literal:
        return "{" + ",".join(map(str, typing.get_args(base))) + "}"
    return {int: "N", float: "X", str: "TEXT"}.get(base, "VALUE")
