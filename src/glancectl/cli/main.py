"""The root command: global options, the Env, and the one place errors become exit codes."""

from __future__ import annotations

import gc
import math
import os
import sys

import click

from glancectl import __version__
from glancectl.cli.context import Env
from glancectl.cli.errors import CLIError
from glancectl.cli.lazy import LazyGroup
from glancectl.errors import GlancectlError, Terminated, describe_os_error, exit_code_for
from glancectl.exit_codes import EXIT_CODE_HELP, ExitCode


class GlancectlGroup(LazyGroup):
    """Maps every failure to a documented exit code, for CliRunner and the real process alike."""

    def _main_shell_completion(self, ctx_args, prog_name, complete_var=None):
        # Commands load lazily, but the completion module registers glancectl's fish
        # script with Click, so it must be in place before Click picks a script.
        # Click calls this on every run; only a shell asking pays for the import.
        var = complete_var or f"_{prog_name}_COMPLETE".replace("-", "_").upper()
        if os.environ.get(var):
            import glancectl.cli.completion  # noqa: F401

        return super()._main_shell_completion(ctx_args, prog_name, complete_var)

    def invoke(self, ctx: click.Context):
        try:
            result = super().invoke(ctx)
            env = ctx.find_object(Env)
            if env is not None:
                env.stdout.flush()  # a full or closed stdout fails here, not silently at exit
            return result
        except GlancectlError as exc:
            raise CLIError(str(exc), exc.exit_code) from exc
        except Terminated:
            raise CLIError("terminated; nothing was left half-done", ExitCode.TERMINATED) from None
        except (KeyboardInterrupt, click.exceptions.Abort):
            raise CLIError("interrupted; nothing was left half-done", ExitCode.INTERRUPTED) from None
        except BrokenPipeError:
            # The reader went away (e.g. `| head`); that is not our error.
            sys.stderr = None  # silence the interpreter's flush complaint at exit
            raise click.exceptions.Exit(0) from None
        except (click.ClickException, click.exceptions.Exit):
            raise
        except OSError as exc:
            raise CLIError(describe_os_error(exc), exit_code_for(exc)) from exc
        except Exception as exc:
            if _is_missing_dependency(exc):
                # Rich, oslo.utils and platformdirs load only on the paths that need them.
                from glancectl.install_hint import install_hint

                raise CLIError(f"missing dependency '{exc.name}'. {install_hint()}",
                               ExitCode.MISSING_DEPENDENCY) from exc
            env = ctx.find_object(Env)
            if env is not None and env.debug:
                import traceback

                traceback.print_exc()
            raise CLIError(
                f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
                ExitCode.INTERNAL_ERROR,
            ) from exc


def _is_missing_dependency(exc: Exception) -> bool:
    return (isinstance(exc, ModuleNotFoundError) and bool(exc.name)
            and exc.name.split(".")[0] != "glancectl")


def _a_number(value: float) -> float:
    if math.isnan(value):  # FloatRange lets nan through: no comparison refuses it
        raise click.BadParameter("nan is not a number of seconds")
    return value


CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(
    cls=GlancectlGroup,
    context_settings=CONTEXT_SETTINGS,
    epilog=EXIT_CODE_HELP,
    lazy={
        "image": "glancectl.cli.image:image",
        "task": "glancectl.cli.task:task",
        "config": "glancectl.cli.admin:config",
        "scrub": "glancectl.cli.admin:scrub",
        "purge": "glancectl.cli.admin:purge",
        "doctor": "glancectl.cli.doctor:doctor",
        "lifecycle": "glancectl.cli.lifecycle_cmd:lifecycle",
        "usage": "glancectl.cli.info:usage",
        "import": "glancectl.cli.info:import_group",
        "completion": "glancectl.cli.completion:completion",
        "serve": "glancectl.cli.serve:serve",
    },
)
@click.option("--home", metavar="DIR", type=click.Path(file_okay=False),
              help="Store home (default: $GLANCECTL_HOME, else the platform user data dir).")
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=30.0, show_default=True,
              metavar="SECONDS", callback=lambda ctx, param, value: _a_number(value),
              help="How long to wait for another glancectl holding the store.")
@click.option("--debug", is_flag=True, help="Show tracebacks for internal errors.")
@click.version_option(__version__, "--version", prog_name="glancectl")
@click.pass_context
def cli(ctx: click.Context, home: str | None, lock_timeout: float, debug: bool) -> None:
    """Glance's image and task lifecycle on one machine.

    \b
    Examples:
      glancectl image create cirros --disk-format qcow2 --container-format bare --file cirros.img
      glancectl image list --status active -f json
      glancectl image show cirros -f value -c status
    """
    ctx.obj = Env(home_option=home, lock_timeout=lock_timeout, debug=debug)


def _stop_on_sigterm() -> None:
    """Make SIGTERM stop the work as Ctrl-C does, so what it was doing is settled, not left."""
    import signal

    def terminated(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second TERM must not cut the cleanup short
        raise Terminated()

    signal.signal(signal.SIGTERM, terminated)


def main() -> None:
    _stop_on_sigterm()
    # What start-up has built (modules, classes, the root command) lives until the process
    # ends: no garbage collection need walk it again. Those walks, the one at interpreter
    # exit included, were ~7% of `image show ID`'s instructions (bench/startup.py).
    gc.freeze()
    cli.main(prog_name="glancectl")
