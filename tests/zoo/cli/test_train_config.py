"""``vaezoo train``'s parser: flags from the config dataclasses, --config YAML, one NAME=VALUE syntax."""
import dataclasses

import pytest

from zoo._utils.options import parse_assignment
from zoo.cli import main, train
from zoo.models import VAEConfig
from zoo.training import FitConfig


def test_defaults_come_from_the_config_dataclasses():
    args = train.parse([])
    vae, fit = VAEConfig(), FitConfig()
    for name in ("latent_dim", "hidden", "activation", "likelihood"):
        assert getattr(args, name) == getattr(vae, name), name
    for name in ("estimator", "num_particles", "batch_size", "lr", "optimizer", "seed"):
        assert getattr(args, name) == getattr(fit, name), name
    assert args.epochs == 10 and args.binarize == "auto"


def test_help_shows_every_default_in_kebab_case(capsys):
    with pytest.raises(SystemExit):
        train.parser().parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for flag in ("--latent-dim", "--batch-size", "--num-particles", "--print-config", "--estimator-option"):
        assert flag in text
    assert "--latent_dim" not in text
    for default in ("default: 50", "default: 100", "default: 0.001", "default: 10", "default: (200, 200)"):
        assert default in text, default


def test_kebab_flags_sequences_booleans_and_repeated_options():
    args = train.parse(["--latent-dim", "4", "--hidden", "32", "16", "--resume", "--no-progress",
                        "--estimator-option", "alpha=0.5", "--estimator-option", "baseline=average"])
    assert (args.latent_dim, args.hidden, args.resume, args.no_progress) == (4, (32, 16), True, True)
    assert args.estimator_option == ["alpha=0.5", "baseline=average"]
    assert train.parse(["--latent_dim=3", "--hidden", "[8]"]).latent_dim == 3


def test_parsed_values_are_plain_python_types():
    args = train.parse(["--latent-dim", "4", "--hidden", "8", "--lr", "0.5", "--channels", "4", "8"])
    assert type(args.latent_dim) is int and type(args.lr) is float
    assert all(type(h) is int for h in args.hidden + args.channels)


def test_config_file_and_flags_after_it_override_it(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("dataset: mnist5k\nlatent_dim: 4\nhidden: [32]\nepochs: 1\n")
    args = train.parse(["--config", str(path), "--epochs", "3"])
    assert (args.dataset, args.latent_dim, args.hidden, args.epochs) == ("mnist5k", 4, (32,), 3)


def test_print_config_round_trips(tmp_path, capsys):
    with pytest.raises(SystemExit):
        train.parser().parse_args(["--latent-dim", "7", "--hidden", "9", "--print-config"])
    path = tmp_path / "printed.yaml"
    path.write_text(capsys.readouterr().out)
    args = train.parse(["--config", str(path)])
    assert (args.latent_dim, args.hidden) == (7, (9,))
    assert dataclasses.asdict(args) == dataclasses.asdict(train.parse(["--latent-dim", "7", "--hidden", "9"]))


@pytest.mark.parametrize("text,words", [
    ("latnt_dim: 4\n", ["latnt_dim", "not accepted", "latent_dim"]),
    ("latent_dim: four\n", ["latent_dim", "four", "int"]),
    ("latent_dim: -3\n", ["latent_dim", "-3", "v>0"]),
    ("lr: 0\n", ["lr", "0", "v>0"]),
    ("dataset: nope\n", ["dataset", "nope", "choose from", "mnist5k"]),
])
def test_bad_config_files_are_refused_in_one_line(tmp_path, capsys, text, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    out = tmp_path / "run"
    assert main(["train", "--config", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err
    assert not out.exists()


def test_one_name_value_syntax():
    assert parse_assignment("alpha=0.5") == ("alpha", 0.5)
    assert parse_assignment("num_groups=8") == ("num_groups", 8)
    assert parse_assignment("baseline=average") == ("baseline", "average")
    assert parse_assignment("guides=[diagonal, planar:4]") == ("guides", ["diagonal", "planar:4"])
    assert parse_assignment('models=[["IWAE", 50]]') == ("models", [["IWAE", 50]])
    assert parse_assignment("binarize=null") == ("binarize", None)
    with pytest.raises(ValueError, match="expected NAME=VALUE, got 'alpha'"):
        parse_assignment("alpha")
