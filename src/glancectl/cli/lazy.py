"""Command groups that import a command's module only when that command is used.

Start-up time is part of the product: `glancectl image show` should not pay
for importing the task runner, the doctor or the data path. This is Click's
documented lazy-loading pattern.
"""

from __future__ import annotations

import importlib

import click

from glancectl.cli.helptext import Group


class LazyGroup(Group):
    """``lazy`` maps a command name to ``"module:attribute"``, or to ``"module"`` for
    a module that adds its commands to this group itself when imported."""

    def __init__(self, *args, lazy: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def _load(self, name: str) -> None:
        module_name, _, attribute = self.lazy[name].partition(":")
        module = importlib.import_module(module_name)
        if attribute:
            self.add_command(getattr(module, attribute), name)

    def get_command(self, ctx: click.Context, name: str):
        if name not in self.commands and name in self.lazy:
            self._load(name)
        return super().get_command(ctx, name)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        # A name this group does not have is an error, and Click draws its "Did you mean"
        # from the commands loaded so far: load them all first, as if they were eager.
        if args and args[0] not in self.commands and args[0] not in self.lazy:
            self.list_commands(ctx)
        return super().resolve_command(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        for name in self.lazy:
            if name not in self.commands:
                self._load(name)
        return super().list_commands(ctx)
