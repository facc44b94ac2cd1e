"""--help that reads well: options in named sections (Filters, Output, ...).

Commands made with ``Group.command()`` (``image`` and the root) get this
automatically; an option joins a section with ``option(..., section="Output")``.
Options given no section are listed last, under "Options".
"""

from __future__ import annotations

import click

OTHER = "Options"
COLUMN_MAX = 30  # Click's default: longer option terms get a line of their own
SUMMARY_MAX = 100  # a command's one-line summary, as listed by its group


class Option(click.Option):
    """A click.Option that knows which --help section it belongs in."""

    def __init__(self, *args, section: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.section = section


def option(*param_decls: str, section: str, **attrs):
    return click.option(*param_decls, cls=Option, section=section, **attrs)


def _write_sections(command: click.Command, ctx: click.Context, formatter) -> None:
    sections: dict[str, list[tuple[str, str]]] = {}
    for param in command.get_params(ctx):
        # Arguments are named in the usage line and described in the text. Click 8.5.1
        # gives every one a help row, an empty one when it has no help of its own.
        if isinstance(param, click.Argument) and not getattr(param, "help", None):
            continue
        record = param.get_help_record(ctx)
        if record is not None:
            sections.setdefault(getattr(param, "section", None) or OTHER, []).append(record)
    # One column for the help text across every section, as if it were one list.
    width = min(max((len(term) for rows in sections.values() for term, _ in rows), default=0),
                COLUMN_MAX)
    named = [name for name in sections if name != OTHER]
    for name in [*named, OTHER]:
        if name in sections:
            with formatter.section(name):
                formatter.write_dl([(term.ljust(width), text) for term, text in sections[name]],
                                   col_max=COLUMN_MAX)


class Command(click.Command):
    def format_options(self, ctx: click.Context, formatter) -> None:
        _write_sections(self, ctx, formatter)


class Group(click.Group):
    command_class = Command
    group_class = type  # subgroups are Groups too

    def format_options(self, ctx: click.Context, formatter) -> None:
        _write_sections(self, ctx, formatter)
        self.format_commands(ctx, formatter)

    def format_commands(self, ctx: click.Context, formatter) -> None:
        """Whole one-line summaries, wrapped rather than cut off with "..."."""
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=SUMMARY_MAX)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
