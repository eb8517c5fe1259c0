"""``vaezoo list``: the names of models, guides, likelihoods, estimators and datasets."""


def add_parser(sub) -> None:
    p = sub.add_parser("list", help="list models, guides, likelihoods, estimators and datasets")
    p.set_defaults(run=run)


def run(args=None) -> int:
    import zoo
    from zoo.likelihoods import LIKELIHOODS

    for kind, names in [("models", zoo.list_models()), ("guides", zoo.list_guides()),
                        ("likelihoods", LIKELIHOODS.names()), ("estimators", zoo.list_estimators()),
                        ("datasets", zoo.list_datasets())]:
        print(f"{kind + ':':13s}{', '.join(names)}")
    return 0
