"""``vaezoo list``: the names of models, guides, likelihoods, estimators and datasets."""
from dataclasses import dataclass

from zoo.cli.parsing import add_command


@dataclass(frozen=True)
class ListOptions:
    """``vaezoo list`` has no options of its own."""


def add_parser(sub) -> None:
    add_command(sub, "list", ListOptions, run, help="list models, guides, likelihoods, estimators and datasets")


def run(opts: ListOptions = ListOptions()) -> int:
    import zoo
    from zoo.likelihoods import LIKELIHOODS

    for kind, names in [("models", zoo.list_models()), ("guides", zoo.list_guides()),
                        ("likelihoods", LIKELIHOODS.names()), ("estimators", zoo.list_estimators()),
                        ("datasets", zoo.list_datasets())]:
        print(f"{kind + ':':13s}{', '.join(names)}")
    return 0
