"""The pretrained zoo: a small recipe built end to end (train, eval, export) into a temporary
root, its card, checksums and refusals; then every model of the repository's ``weights/``."""
import json
import re
import shutil

import pytest
import torch

import zoo
from tests.clitools import vaezoo, vaezoo_here
from tests.conftest import REPO
from zoo.cli.pretrained import build
from zoo.pretrained import DamagedWeights, Recipe, cards, store

TINY = Recipe("tiny", ("--model", "vae", "--dataset", "mnist5k", "--binarize", "static", "--train-size", "300",
                       "--test-size", "120", "--hidden", "32", "--latent-dim", "4", "--epochs", "2", "--seed", "3"),
              "a tiny test model")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """``(root, runs)``: TINY built with S = 100 for its test numbers and 40 for its check."""
    base = tmp_path_factory.mktemp("pretrained")
    root, runs = base / "weights", base / "runs"
    assert build(TINY, root, str(runs), progress=False, num_samples=100, check_samples=40) == 0
    return root, runs


def test_the_card_says_how_the_model_was_made_and_what_it_scores(built):
    root, runs = built
    card = zoo.pretrained.card("tiny", root)
    assert zoo.pretrained.names(root) == ["tiny"]
    assert card["model"]["model"] == "vae" and card["model"]["latent_dim"] == 4
    assert (card["data"]["dataset"], card["data"]["binarize"], card["data"]["test_size"]) == ("mnist5k", "static", 120)
    assert card["training"]["epochs"] == 2 and card["training"]["seed"] == 3 and card["training"]["estimator"] == "elbo"
    assert card["command"].startswith("vaezoo train --model vae") and "--seed 3" in card["command"]
    assert card["command"].endswith("--out runs/pretrained/tiny")  # the canonical folder, not the temporary one
    assert card["versions"]["torch"] == torch.__version__ and card["machine"]["cpus"] and card["date"]
    assert card["training_time_s"] > 0 and card["commit"] and card["dirty"] in (True, False)
    result = json.loads((runs / "tiny" / "eval.json").read_text())  # the card's test numbers are eval.json's
    assert card["test"]["num_datapoints"] == 120 and card["test"]["num_samples"] == 100
    assert card["test"]["neg_log_likelihood"] == pytest.approx(-result["log_likelihood"])
    assert card["test"]["neg_elbo"] == pytest.approx(-result["elbo"]) and card["test"]["kl"] == result["kl"]
    assert card["test"]["neg_elbo"] > card["test"]["neg_log_likelihood"]  # the ELBO is below log p(x)
    assert (card["check"]["num_samples"], card["check"]["num_datapoints"], card["check"]["seed"]) == (40, 120, 0)


def test_the_docs_table_has_a_row_per_card(built):
    root, _ = built
    card = zoo.pretrained.card("tiny", root)
    vamp = {**card, "name": "tiny-vamp", "model": {**card["model"], "prior": "vamp:5"}, "training_time_s": 600.0,
            "test": {**card["test"], "neg_log_likelihood_stderr": 0.001}}
    head, rule, *rows = cards.table([card, vamp], {"tiny": 10**6, "tiny-vamp": 5 * 10**5}).splitlines()
    assert len(rows) == 2 and head.count("|") == rule.count("|") == rows[0].count("|") == rows[1].count("|")
    cells = [c.strip() for c in rows[0].split("|")[1:-1]]
    assert cells[:5] == ["`tiny`", "vae (diagonal)", "mnist5k", "elbo", "2"]
    assert cells[5] == f"{card['test']['neg_log_likelihood']:.2f} ± {card['test']['neg_log_likelihood_stderr']:.2f}"
    assert cells[-2] == f"{card['training_time_s']:.0f} s" and cells[-1] == "1.00"
    cells = [c.strip() for c in rows[1].split("|")[1:-1]]
    assert cells[1] == "vae (diagonal, prior vamp:5)" and cells[5].endswith("± < 0.01")
    assert cells[-2] == "10 min" and cells[-1] == "0.50"


def test_a_standard_error_below_half_a_hundredth_is_written_as_such():
    written = [cards.format_stderr(se) for se in (0.0, 0.0049, 0.0051, 0.02, 1.234)]
    assert written == ["< 0.01", "< 0.01", "0.01", "0.02", "1.23"]


def test_load_gives_the_trained_weights_in_eval_mode_as_float32(built):
    root, runs = built
    vae = zoo.pretrained.load("tiny", root)
    trained = zoo.load(runs / "tiny").state_dict()
    assert not vae.training and set(vae.state_dict()) == set(trained)
    for k, v in vae.state_dict().items():
        assert torch.equal(v, trained[k]), k
    state = torch.load(root / "tiny.pt", weights_only=True)  # a plain state dict: tensors only
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())
    manifest = json.loads((root / "manifest.json").read_text())["models"]["tiny"]
    assert manifest["size"] == (root / "tiny.pt").stat().st_size
    assert manifest["sha256"] == store.sha256(root / "tiny.pt")


def test_the_check_agrees_with_another_seed_and_catches_damaged_weights(built):
    root, _ = built
    card, vae = zoo.pretrained.card("tiny", root), zoo.pretrained.load("tiny", root)
    test = cards.fixed_test(zoo.data.spec.DataSpec.from_dict(card["data"]))
    again = cards.measure_check(vae, test, seed=1, num_samples=40)
    assert cards.measure_check(vae, test, seed=0, num_samples=40) == card["check"]  # the card's, reproduced
    assert again["neg_elbo"] != card["check"]["neg_elbo"]  # independent draws
    assert again["neg_elbo"] > again["neg_log_likelihood"]  # the ELBO is below the log-mean-exp
    assert cards.agrees(card["check"], again)
    with torch.no_grad():  # the control: a slightly damaged decoder must fail the same comparison
        vae.decoder.net[-1].weight.add_(0.3 * torch.randn_like(vae.decoder.net[-1].weight))
    assert not cards.agrees(card["check"], cards.measure_check(vae, test, seed=1, num_samples=40))


def test_a_tampered_file_is_refused_before_it_is_unpickled(built, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(built[0], root)
    data = bytearray((root / "tiny.pt").read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit
    (root / "tiny.pt").write_bytes(bytes(data))
    with pytest.raises(DamagedWeights, match="tiny.pt does not match the manifest"):
        zoo.pretrained.load("tiny", root)
    proc = vaezoo_here("pretrained", "show", "tiny", "--root", root)
    assert proc.returncode == 2 and "damaged or replaced, refused" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_a_missing_file_says_how_to_get_it_back(built, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(built[0], root)
    (root / "tiny.pt").unlink()
    with pytest.raises(FileNotFoundError, match=r"tiny.pt is missing.*vaezoo pretrained build tiny.*vaezoo train"):
        zoo.pretrained.load("tiny", root)


def test_a_wrong_root_and_unknown_names_are_refused(built, tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="no pretrained weights at .*VAEZOO_WEIGHTS"):
        zoo.pretrained.load("tiny", tmp_path / "nowhere")
    monkeypatch.setenv(zoo.pretrained.WEIGHTS_ENV, str(built[0]))  # the environment names the root
    assert zoo.pretrained.root() == built[0] and zoo.pretrained.names() == ["tiny"]
    with pytest.raises(ValueError, match="unknown pretrained model 'nope'; choose from .*tiny"):
        zoo.pretrained.card("nope")
    with pytest.raises(FileNotFoundError, match="vae-diagonal is not built in .*vaezoo pretrained build vae-diagonal"):
        zoo.pretrained.load("vae-diagonal")
    with pytest.raises(FileExistsError, match="already in"):  # no silent replacement
        store.add("tiny", zoo.pretrained.load("tiny"), zoo.pretrained.card("tiny"))


def test_the_commands(built):
    root, runs = built
    out = vaezoo("pretrained", "list", "--root", root).stdout
    assert "tiny" in out and "vae-diagonal" in out and "not built" in out and "1 built" in out
    se = zoo.pretrained.card("tiny", root)["test"]["neg_log_likelihood_stderr"]
    assert f"+- {cards.format_stderr(se):>6}  " in out  # the standard error as the docs table writes it
    card = json.loads(vaezoo("pretrained", "show", "tiny", "--root", root).stdout.split("\nweights:")[0])
    assert card["name"] == "tiny"
    out = vaezoo("pretrained", "eval", "tiny", "--root", root, "--quick", "--seed", "1").stdout
    assert re.search(r"tiny: 120 test points, S = 40\n", out), out
    assert "the ELBOs agree within their Monte Carlo errors" in out
    out = vaezoo("pretrained", "eval", "tiny", "--root", root, "--no-progress").stdout  # the card's numbers again
    row = next(line.split() for line in out.splitlines() if line.strip().startswith("neg_log_likelihood "))
    assert float(row[1]) == pytest.approx(float(row[2]), abs=1e-3)  # same data, S and seed: the same value
    proc = vaezoo_here("pretrained", "build", "tiny", "--root", root)
    assert proc.returncode == 2 and "no recipe named 'tiny'" in proc.stderr


def test_a_rebuild_resumes_the_finished_run_instead_of_retraining(built, tmp_path):
    root, runs = built
    history = (runs / "tiny" / "history.json").read_text()
    other = tmp_path / "other"
    assert build(TINY, other, str(runs), progress=False, num_samples=100, check_samples=40) == 0
    assert (runs / "tiny" / "history.json").read_text() == history
    assert zoo.pretrained.card("tiny", other)["test"] == zoo.pretrained.card("tiny", root)["test"]


@pytest.mark.parametrize("name", sorted(zoo.pretrained.RECIPES))
def test_every_recipe_is_a_vaezoo_train_command(name):
    from zoo.cli import _parser
    from zoo.cli.parsing import options_from

    recipe = zoo.pretrained.RECIPES[name]
    options, _, _ = options_from(_parser().parse_args(["train", *recipe.args]))  # unknown flags would fail here
    assert "--out" not in recipe.args and "--resume" not in recipe.args  # build adds them
    assert options.seed == 0 and recipe.command().endswith(f"--out runs/pretrained/{name}")


def test_build_takes_a_name_or_all():
    proc = vaezoo_here("pretrained", "build")
    assert proc.returncode == 2 and "give a recipe NAME or --all" in proc.stderr


# The repository's weights: every entry loads, and the folder stays small.
REPO_ROOT = REPO / "weights"
REPO_NAMES = zoo.pretrained.names(REPO_ROOT) if (REPO_ROOT / store.MANIFEST).exists() else []


@pytest.mark.parametrize("name", REPO_NAMES)
def test_every_shipped_model_loads(name):
    vae = zoo.pretrained.load(name, REPO_ROOT)
    card = zoo.pretrained.card(name, REPO_ROOT)
    assert vae.config == zoo.models.from_config(card["model"]).config
    assert card["test"]["num_samples"] == 5000 and card["data"]["test_size"] is None  # the full test set


def test_the_shipped_weights_stay_under_40_mb():
    if not REPO_NAMES:
        pytest.skip("no weights/manifest.json yet")
    folder = sum(f.stat().st_size for f in REPO_ROOT.rglob("*") if f.is_file())  # the manifest too
    assert zoo.pretrained.total_size(REPO_ROOT) < folder < 40 * store.MB  # MB = 10^6 bytes, the stricter reading


@pytest.mark.parametrize("name", REPO_NAMES)
def test_every_shipped_card_was_made_by_its_recipe(name):
    card = zoo.pretrained.card(name, REPO_ROOT)
    assert name in zoo.pretrained.RECIPES, f"{name} is shipped but has no recipe"
    assert card["command"] == zoo.pretrained.RECIPES[name].command(), "the recipe changed: rebuild with --overwrite"
    assert not card["dirty"]


@pytest.mark.slow
@pytest.mark.parametrize("name", REPO_NAMES)
def test_every_shipped_card_is_reproduced(name, shared_data):
    card = zoo.pretrained.card(name, REPO_ROOT)
    test = cards.fixed_test(zoo.data.spec.DataSpec.from_dict(card["data"]), str(shared_data))
    again = cards.measure_check(zoo.pretrained.load(name, REPO_ROOT), test, seed=1,
                                num_samples=card["check"]["num_samples"])
    assert cards.agrees(card["check"], again), (card["check"], again)


def test_the_docs_page_lists_every_shipped_model_and_every_recipe_not_built_yet():
    import importlib.util

    spec = importlib.util.spec_from_file_location("pretrained_hook", REPO / "docs" / "hooks" / "pretrained.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    page = hook.on_page_markdown(f"{hook.TABLE_MARKER}\n{hook.RECIPES_MARKER}", None, None, None)
    shipped = zoo.pretrained.names()
    for name in shipped:
        assert f"| `{name}` |" in page
    missing = [n for n in zoo.pretrained.RECIPES if n not in shipped]
    assert ("Not built yet" in page) == bool(missing) and all(f"`{n}`" in page.split("Not built yet")[-1]
                                                             for n in missing)
    for recipe in zoo.pretrained.RECIPES.values():
        assert recipe.command() in page
