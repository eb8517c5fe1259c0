"""MkDocs hook: ``<!-- pretrained-table -->`` in a page becomes the table of the cards in
``weights/manifest.json`` (``zoo.pretrained.cards.table``) and ``<!-- pretrained-recipes -->`` the
training command of every recipe, so the page cannot drift from the weights or the recipes."""
from pathlib import Path

TABLE_MARKER = "<!-- pretrained-table -->"
RECIPES_MARKER = "<!-- pretrained-recipes -->"
WEIGHTS = Path(__file__).resolve().parents[2] / "weights"


def on_page_markdown(markdown, page, config, files):
    if TABLE_MARKER not in markdown and RECIPES_MARKER not in markdown:
        return markdown
    from zoo.pretrained import RECIPES, cards, store

    markdown = markdown.replace(RECIPES_MARKER, "\n".join(
        f"- `{r.name}`: {r.summary}.\n\n    ```\n    {r.command()}\n    ```" for r in RECIPES.values()))
    if TABLE_MARKER not in markdown:
        return markdown
    if not (WEIGHTS / store.MANIFEST).exists():
        return markdown.replace(TABLE_MARKER, "*No model is built yet: `weights/manifest.json` does not exist.*")
    models = store.read_manifest(WEIGHTS)["models"]
    table = cards.table([e["card"] for e in models.values()], {name: e["size"] for name, e in models.items()})
    total = store.total_size(WEIGHTS) / store.MB
    missing = [f"`{name}`" for name in RECIPES if name not in models]
    todo = f" Not built yet: {', '.join(missing)} (`vaezoo pretrained build NAME`)." if missing else ""
    return markdown.replace(TABLE_MARKER, f"{table}\n\n{len(models)} models, {total:.1f} MB of weights in all.{todo}")
