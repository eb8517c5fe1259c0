"""MkDocs hook: ``<!-- vaezoo-help: COMMAND -->`` (or ``all``) becomes that command's ``--help``,
generated from the parsers when the site is built, so the CLI page cannot drift from the CLI."""
import os
import re

MARKER = re.compile(r"<!-- vaezoo-help: ([\w-]+) -->")


def _help(command):
    from zoo.cli import help_text

    return help_text(None if command == "vaezoo" else command)


def _block(command):
    title = "vaezoo" if command == "vaezoo" else f"vaezoo {command}"
    return f"### `{title}`\n\n```text\n{_help(command).rstrip()}\n```\n"


def on_page_markdown(markdown, page, config, files):
    if "vaezoo-help" not in markdown:
        return markdown
    os.environ.setdefault("COLUMNS", "100")  # argparse's width, for a stable page

    def expand(match):
        from zoo.cli import commands

        command = match.group(1)
        names = ["vaezoo", *commands()] if command == "all" else [command]
        return "\n".join(_block(name) for name in names)

    return MARKER.sub(expand, markdown)
