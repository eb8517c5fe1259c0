"""One option system for every command: flags, --config, --print-config and --help from the
options dataclasses, and one checker for the command line, config files and ``--set``."""
import argparse
import dataclasses
from typing import Any, Dict, Literal, Optional, Tuple

import pytest

from zoo.cli import help_text, main
from zoo.cli.options import OptionError, PositiveFloat, PositiveInt, convert, parse_assignment, parse_value
from zoo.cli.parsing import options_from
from zoo.cli.train import TrainOptions
from zoo.models import VAEConfig
from zoo.training import FitConfig

# every command and subcommand, with the positional arguments it needs to parse
COMMANDS = [("train",), ("eval", "RUN"), ("sample", "RUN"), ("plot", "RUN"), ("list",), ("bench", "guides"),
            ("experiment collapse-2d",), ("experiment conv-vae",), ("experiment pointwise", "RUN"), ("gmm",), ("seq",)]


def parse(argv):
    from zoo.cli import _parser

    options, printing, _ = options_from(_parser().parse_args(argv))
    return options


def test_defaults_come_from_the_config_dataclasses():
    from zoo.cli.train import _model_options
    from zoo.models import HVAEConfig

    opts, vae, fit = parse(["train"]), VAEConfig(), FitConfig()
    built = VAEConfig(**_model_options(opts, (1, 28, 28)))  # model flags not given: the model's defaults
    assert built == vae
    assert HVAEConfig(**_model_options(parse(["train", "--model", "hvae"]), (1, 28, 28))) == HVAEConfig()
    for name in ("estimator", "num_particles", "batch_size", "lr", "optimizer", "seed"):
        assert getattr(opts, name) == getattr(fit, name), name
    assert opts.epochs == 10 and opts.binarize == "auto"


@pytest.mark.parametrize("command,positional", [(c[0], c[1:]) for c in COMMANDS], ids=[" ".join(c) for c in COMMANDS])
def test_every_command_prints_a_config_that_reads_back(command, positional, tmp_path, capsys):
    """What --print-config prints, --config reads back to the same options (bench: the same settings)."""
    names = command.split()
    assert main([*names, *positional, "--print-config"]) == 0
    printed = capsys.readouterr().out
    path = tmp_path / "printed.yaml"
    path.write_text(printed)
    assert main([*names, "--config", str(path), "--print-config"]) == 0  # positionals too come from the file
    assert capsys.readouterr().out == printed
    if command == "bench":
        assert parse([*names, "--config", str(path)]).settings() == parse([*names, *positional]).settings()
    else:
        assert parse([*names, "--config", str(path)]) == parse([*names, *positional])
    text = help_text(command)
    assert "--config FILE" in text and "--print-config" in text


def test_help_shows_every_default_in_kebab_case():
    text = " ".join(help_text("train").split())  # argparse wraps lines
    for flag in ("--latent-dim", "--batch-size", "--num-particles", "--print-config", "--estimator-option"):
        assert flag in text
    assert "--latent_dim" not in text
    for default in ("default 50", "default: 100", "default: 0.001", "default: 10", "default 200 200", "default 100 50"):
        assert default in text, default


def test_kebab_flags_sequences_switches_and_repeated_options():
    opts = parse(["train", "--latent-dim", "4", "--hidden", "32", "16", "--resume", "--no-progress",
                  "--estimator-option", "alpha=0.5", "--estimator-option", "baseline=average"])
    assert (opts.latent_dim, opts.hidden, opts.resume, opts.no_progress) == (4, (32, 16), True, True)
    assert opts.estimator_option == {"alpha": 0.5, "baseline": "average"}
    assert parse(["train", "--hidden", "[8, 4]"]).hidden == (8, 4)
    assert type(parse(["train", "--lr", "1e-3"]).lr) is float  # YAML would read 1e-3 as a string


def test_config_file_and_flags_override_it_wherever_they_stand(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("dataset: mnist5k\nlatent-dim: 4\nhidden: [32]\nepochs: 1\n")
    for argv in (["--config", str(path), "--epochs", "3"], ["--epochs", "3", "--config", str(path)]):
        opts = parse(["train", *argv])
        assert (opts.dataset, opts.latent_dim, opts.hidden, opts.epochs) == ("mnist5k", 4, (32,), 3)


@pytest.mark.parametrize("text,words", [
    ("latnt_dim: 4\n", ["latnt_dim", "unknown key", "latent_dim"]),
    ("latent_dim: four\n", ["latent_dim", "four", "an integer > 0"]),
    ("latent_dim: -3\n", ["latent_dim", "-3", "an integer > 0"]),
    ("lr: 0\n", ["lr", "0", "a number > 0"]),
    ("dataset: nope\n", ["dataset", "nope", "one of", "mnist5k"]),
    ("hidden: 200\n", ["hidden", "200", "a list of integers > 0"]),
    ("- 1\n", ["must hold a mapping"]),
])
def test_bad_config_files_are_refused_in_one_line(tmp_path, capsys, text, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    out = tmp_path / "run"
    assert main(["train", "--config", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err
    assert not out.exists()


@pytest.mark.parametrize("argv,words", [
    (["eval"], ["missing RUN_DIR"]),
    (["eval", "RUN", "--stride", "0"], ["--stride", "an integer > 0", "'0'"]),
    (["train", "--latent"], ["unrecognized arguments: --latent"]),  # no abbreviations
    (["train", "--optimizer", "adm"], ["--optimizer", "one of adam, adamw, rmsprop, sgd", "'adm'"]),
    (["train", "--estimator-option", "a=1", "--estimator-option", "a=2"], ["--estimator-option", "a given more"]),
    (["bench", "guides", "--set", "epochs=ten", "--dry-run"], ["epochs", "an integer", "'ten'"]),
    (["bench", "guides", "--set", "epoch=10", "--dry-run"], ["unknown setting 'epoch'", "epochs"]),
    (["nope"], ["invalid choice: 'nope'"]),
])
def test_bad_flags_are_refused_in_one_line(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err


def test_the_checker_parses_text_and_checks_values():
    assert convert("k", "4", PositiveInt) == 4 and convert("k", 4, PositiveInt) == 4
    assert convert("k", "0.5", PositiveFloat) == 0.5 and convert("k", 2, float) == 2.0
    assert convert("k", "null", Optional[int]) is None and convert("k", None, Optional[str]) is None
    assert convert("k", ["1", "2"], Tuple[PositiveInt, ...]) == (1, 2)
    assert convert("k", [1, 2], Tuple[int, ...]) == (1, 2)
    assert convert("k", "[a, 'b:2']", Tuple[str, ...]) == ("a", "b:2")
    assert convert("k", "tanh", Optional[Literal["linear", "tanh"]]) == "tanh"
    assert convert("k", {"a": "1"}, Dict[str, Any]) == {"a": 1}
    assert convert("k", ["1", "2"], Tuple[int, int]) == (1, 2)
    for value, tp, expected in [("x", int, "an integer"), (True, int, "an integer"), (1.5, int, "an integer"),
                                ("0", PositiveInt, "an integer > 0"), (3, str, "a string"), ("maybe", bool, "true"),
                                ("inf", float, "a number"), ([1, 2, 3], Tuple[int, int], "2 values"),
                                ("c", Literal["a", "b"], "one of a, b"),
                                ([0], Tuple[PositiveInt, ...], "a list of integers > 0")]:
        with pytest.raises(OptionError) as error:
            convert("k", value, tp)
        assert str(error.value).startswith(f"k: expected {expected}") and repr(value) in str(error.value), error.value


def test_one_assignment_syntax():
    assert parse_assignment("alpha=0.5") == ("alpha", "0.5")
    assert parse_assignment("guides=[diagonal, planar:4]") == ("guides", "[diagonal, planar:4]")
    assert [parse_value(t) for t in ("8", "1e-3", "average", "[1, 5]", '[["IWAE", 50]]', "null", "true")] == \
        [8, 0.001, "average", [1, 5], [["IWAE", 50]], None, True]
    with pytest.raises(OptionError, match="expected NAME=VALUE, got 'alpha'"):
        parse_assignment("alpha")


def test_a_switch_cannot_default_to_true():
    from zoo.cli.parsing import add_options

    @dataclasses.dataclass(frozen=True)
    class Bad:
        progress: bool = True

    with pytest.raises(TypeError, match="must default to False"):
        add_options(argparse.ArgumentParser(), Bad)


def test_train_options_hold_plain_values():
    opts = parse(["train", "--latent-dim", "4", "--hidden", "8", "--lr", "0.5", "--channels", "4", "8"])
    assert isinstance(opts, TrainOptions) and type(opts.latent_dim) is int and type(opts.lr) is float
    assert all(type(h) is int for h in opts.hidden + opts.channels)
