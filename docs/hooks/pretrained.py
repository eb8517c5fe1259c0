"""MkDocs hook: ``<!-- pretrained-table -->`` in a page becomes the table of the cards in
``weights/manifest.json`` (``zoo.pretrained.cards.table``) and ``<!-- pretrained-recipes -->`` the
training command of every recipe, so the page cannot drift from the weights or the recipes."""
from pathlib import Path

MARKER = "<!-- pretrained-table -->"
RECIPES = "<!-- pretrained-recipes -->"
WEIGHTS = Path(__file__).resolve().parents[2] / "weights"


def _recipes() -> str:
    from zoo.pretrained import RECIPES

    return "\n".join(f"- `{r.name}`: {r.summary}.\n\n    ```\n    {r.command()}\n    ```" for r in RECIPES.values())


def on_page_markdown(markdown, page, config, files):
    if RECIPES in markdown:
        markdown = markdown.replace(RECIPES, _recipes())
    if MARKER not in markdown:
        return markdown
    from zoo.pretrained import RECIPES as recipes
    from zoo.pretrained import cards, store

    if not (WEIGHTS / store.MANIFEST).exists():
        return markdown.replace(MARKER, "*No model is built yet: `weights/manifest.json` does not exist.*")
    models = store.read_manifest(WEIGHTS)["models"]
    table = cards.table([e["card"] for e in models.values()], {name: e["size"] for name, e in models.items()})
    total = store.total_size(WEIGHTS) / store.MB
    missing = [f"`{name}`" for name in recipes if name not in models]
    todo = f" Not built yet: {', '.join(missing)} (`vaezoo pretrained build NAME`)." if missing else ""
    return markdown.replace(MARKER, f"{table}\n\n{len(models)} models, {total:.1f} MB of weights in all.{todo}")
