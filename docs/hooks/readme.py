"""MkDocs hook: ``<!-- README -->`` in a page becomes the repository's README.md, its links into
``docs/`` made relative to the site and its other links (files outside the docs) plain text, so
that the home page cannot drift from the README."""
import re
from pathlib import Path

MARKER = "<!-- README -->"
README = Path(__file__).resolve().parents[2] / "README.md"


def site_links(markdown: str) -> str:
    markdown = markdown.replace("](docs/)", "](index.md)").replace("](docs/", "](")
    return re.sub(r"\[([^\]]+)\]\((?!https?:|#|[\w./-]+\.md)([^)]+)\)", r"\1", markdown)


def on_page_markdown(markdown, page, config, files):
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, site_links(README.read_text()))
