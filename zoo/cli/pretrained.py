r"""``vaezoo pretrained list | show NAME | eval NAME | build NAME``: the pretrained zoo (``zoo.pretrained``).

``build`` runs a model's recipe: ``vaezoo train`` (with ``--resume``: an interrupted build goes on
from its last checkpoint, a finished one is not retrained), ``vaezoo eval`` on the full test set
(S = 5000; skipped where the run's ``eval.json`` already is that), then adds the weights and the
card to the weights root. ``eval`` re-measures a card: the full test set by default (minutes),
``--quick`` the check numbers (seconds).
"""
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from zoo._utils.devices import THREADS_HELP
from zoo.cli.options import PositiveInt, option
from zoo.cli.parsing import add_command

RUNS = "runs/pretrained"


_ROOT = "the weights folder (default: $VAEZOO_WEIGHTS, else the repository's weights/)"
_NAME = "a pretrained model (`vaezoo pretrained list`)"


@dataclass(frozen=True)
class ListOptions:
    """The options of ``vaezoo pretrained list``."""

    root: Optional[str] = option(None, _ROOT)


@dataclass(frozen=True)
class ShowOptions:
    """The options of ``vaezoo pretrained show``."""

    name: str = option(help=_NAME, positional=True)
    root: Optional[str] = option(None, _ROOT)


@dataclass(frozen=True)
class EvalOptions:
    """The options of ``vaezoo pretrained eval``."""

    name: str = option(help=_NAME, positional=True)
    root: Optional[str] = option(None, _ROOT)
    quick: bool = option(False, "re-measure the card's check (-log p(x), a few hundred samples, ~500 test points)")
    num_samples: Optional[PositiveInt] = option(None, "S per datapoint (default: the card's)")
    seed: int = option(0, "seeds the draws (the card's test numbers and its check used 0)")
    data_root: Optional[str] = option(None, "the data root (default: $VAEZOO_DATA)")
    threads: Optional[PositiveInt] = option(None, THREADS_HELP)
    no_progress: bool = option(False, "no progress bars")


@dataclass(frozen=True)
class BuildOptions:
    """The options of ``vaezoo pretrained build``."""

    name: Optional[str] = option(None, "a recipe (`vaezoo pretrained list`)", positional=True)
    all: bool = option(False, "every recipe not built yet, one after the other")
    root: Optional[str] = option(None, _ROOT)
    runs: str = option(RUNS, "where the training runs go (RUNS/NAME; kept, with their checkpoints, to resume)")
    data_root: Optional[str] = option(None, "the data root (default: $VAEZOO_DATA)")
    threads: Optional[PositiveInt] = option(None, THREADS_HELP)
    overwrite: bool = option(False, "replace NAME in the weights folder if it is there")
    no_progress: bool = option(False, "no progress bars")


def add_parser(sub) -> None:
    parser = sub.add_parser("pretrained", help="trained models with cards: list, show, eval, build",
                            description="The pretrained zoo: trained weights with cards (zoo.pretrained).")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add_command(actions, "list", ListOptions, run_list, help="the pretrained models, built or not, with their scores")
    add_command(actions, "show", ShowOptions, run_show, help="a model's card (JSON)")
    add_command(actions, "eval", EvalOptions, run_eval, help="re-measure a card's test numbers, printed beside it")
    add_command(actions, "build", BuildOptions, run_build,
                help="train (resumable), evaluate and add a model to the weights folder")


def run_list(opts: ListOptions) -> int:
    from zoo import pretrained

    manifest = pretrained.store.read_manifest(opts.root, must_exist=False)["models"]
    rows = []
    for name in sorted(set(pretrained.RECIPES) | set(manifest)):
        if name in manifest:
            t, summary = manifest[name]["card"]["test"], manifest[name]["card"]["summary"]
            se = pretrained.cards.format_stderr(t["neg_log_likelihood_stderr"])
            rows.append((name, f"-log p(x) {t['neg_log_likelihood']:7.2f} +- {se:>6}", summary))
        else:
            rows.append((name, "not built", pretrained.RECIPES[name].summary))
    widths = [max(len(row[i]) for row in rows) for i in (0, 1)] if rows else [0, 0]
    for name, score, summary in rows:
        print(f"{name:{widths[0]}s}  {score:{widths[1]}s}  {summary}")
    print(f"weights: {pretrained.root(opts.root)} ({len(manifest)} built, "
          f"{pretrained.total_size(opts.root) / pretrained.store.MB:.1f} MB)")
    return 0


def run_show(opts: ShowOptions) -> int:
    from zoo import pretrained

    file = pretrained.store.verified_file(opts.name, opts.root)
    print(json.dumps(pretrained.card(opts.name, opts.root), indent=1))
    print(f"weights: {file} (checksum verified)")
    return 0


def run_eval(opts: EvalOptions) -> int:
    from zoo import pretrained
    from zoo._utils.devices import set_threads
    from zoo.data.spec import DataSpec
    from zoo.evaluation.report import evaluate

    set_threads(opts.threads)
    card, model = pretrained.card(opts.name, opts.root), pretrained.load(opts.name, opts.root)
    test = pretrained.cards.fixed_test(DataSpec.from_dict(card["data"]), opts.data_root)
    if opts.quick:
        want = card["check"]
        now = pretrained.measure_check(model, test, opts.seed, opts.num_samples or want["num_samples"])
        every = f", one in {now['stride']}" if now["stride"] > 1 else ""  # as vaezoo eval prints it
        print(f"{opts.name}: {now['num_datapoints']} test points{every}, S = {now['num_samples']}")
        for who, c in (("card", want), ("now ", now)):
            print(f"  {who} -ELBO {c['neg_elbo']:.3f} +- {c['stderr']:.3f}, -log p(x) {c['neg_log_likelihood']:.3f} "
                  f"(seed {c['seed']})")
        same, agree = now["num_samples"] == want["num_samples"], pretrained.agrees(want, now)
        verdict = "the ELBOs agree within their Monte Carlo errors" if agree else "DIFFER"
        print(f"  {verdict}" if same else "  (another S: the -log p(x) differ by the bias of S too)")
        return 0 if not same or agree else 1
    result = evaluate(model, test, num_samples=opts.num_samples or card["test"]["num_samples"], seed=opts.seed,
                      progress=not opts.no_progress)
    now = pretrained.cards.eval_numbers(result)
    print(f"{opts.name}: {now['num_datapoints']} test points, S = {now['num_samples']}, seed {opts.seed}")
    print(f"  {'':26s}{'card':>10s}{'now':>10s}")
    for key in ("neg_log_likelihood", "neg_log_likelihood_stderr", "neg_elbo", "kl", "active_units", "khat_median",
                "khat_frac_above_0.7"):
        a, b = card["test"].get(key), now.get(key)
        print(f"  {key:26s}{_fmt(a):>10s}{_fmt(b):>10s}")
    return 0


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def run_build(opts: BuildOptions) -> int:
    from zoo import pretrained

    built = pretrained.store.read_manifest(opts.root, must_exist=False)["models"]
    if (opts.name is None) == (not opts.all):
        raise ValueError("give a recipe NAME or --all (every recipe not built yet), not both")
    if opts.all:
        names = [name for name in pretrained.RECIPES if name not in built]
        print(f"{len(names)} to build: {', '.join(names) or 'none'}")
    else:
        if opts.name not in pretrained.RECIPES:
            raise ValueError(f"no recipe named {opts.name!r}; choose from {', '.join(pretrained.RECIPES)}")
        if opts.name in built and not opts.overwrite:
            raise FileExistsError(f"{opts.name} is already in {pretrained.root(opts.root)}; pass --overwrite to "
                                  "rebuild it")
        names = [opts.name]
    for name in names:
        status = build(pretrained.RECIPES[name], opts.root, opts.runs, opts.data_root, opts.threads, opts.overwrite,
                       not opts.no_progress)
        if status:
            return status
    return 0


def build(recipe, root=None, runs: str = RUNS, data_root=None, threads=None, overwrite: bool = False,
          progress: bool = True, num_samples: int = 5000, check_samples: Optional[int] = None) -> int:
    """Train, evaluate and export ``recipe``: ``vaezoo pretrained build``'s work (tests pass a
    small recipe, fewer samples and a temporary root)."""
    from zoo import pretrained
    from zoo.pretrained.export import export

    out = Path(runs) / recipe.name
    common = [*(["--data-root", data_root] if data_root else []), *(["--threads", str(threads)] if threads else []),
              *([] if progress else ["--no-progress"])]
    status = _command(["train", *recipe.args, "--out", str(out), "--resume", *common])
    if status:
        return status
    if not _evaluated(out, num_samples):
        status = _command(["eval", str(out), "--num-samples", str(num_samples), *common])
        if status:
            return status
    card = export(recipe, out, root, data_root, overwrite=overwrite,
                  check_samples=check_samples or pretrained.cards.CHECK_SAMPLES)
    t = card["test"]
    se = pretrained.cards.format_stderr(t["neg_log_likelihood_stderr"])
    print(f"added {recipe.name} to {pretrained.root(root)}: -log p(x) {t['neg_log_likelihood']:.2f} +- {se} "
          f"(S = {t['num_samples']}, {t['num_datapoints']} test points)")
    return 0


def _command(argv) -> int:
    """``vaezoo train`` or ``vaezoo eval`` with the arguments ``argv``, in this process."""
    from zoo.cli import evaluation, train
    from zoo.cli.parsing import Parser, options_from

    parser = Parser(prog="vaezoo")
    sub = parser.add_subparsers(dest="command", required=True)
    train.add_parser(sub)
    evaluation.add_parser(sub)
    options, _, run = options_from(parser.parse_args(argv))
    return run(options)


def _evaluated(out: Path, num_samples: int) -> bool:
    """Whether ``out/eval.json`` is of the whole test split at ``num_samples`` and newer than the checkpoint."""
    from zoo._utils.io import read_json
    from zoo.training import CHECKPOINT, EVAL

    path = out / EVAL
    if not path.is_file() or path.stat().st_mtime < (out / CHECKPOINT).stat().st_mtime:
        return False
    r = read_json(path)
    return r.get("num_samples") == num_samples and r.get("stride", 1) == 1
