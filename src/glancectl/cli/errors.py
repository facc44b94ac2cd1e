"""The Click exception that carries our exit codes."""

import sys

import click


class CLIError(click.ClickException):
    """A one-line error on stderr with our exit code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = int(exit_code)

    def show(self, file=None) -> None:
        click.echo(f"Error: {self.format_message()}", file=file or sys.stderr, err=True)
