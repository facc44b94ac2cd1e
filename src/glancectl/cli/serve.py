"""`glancectl serve`: the Glance Image API v2 over this store. Parsing only; the server is in api/."""

from __future__ import annotations

import click

from glancectl.cli.context import Env
from glancectl.cli.params import pass_env


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs --allow-remote.")
@click.option("--port", type=click.IntRange(0, 65535), default=9292, show_default=True,
              help="Port to listen on (0 picks a free one).")
@click.option("--allow-remote", is_flag=True,
              help="Allow a non-loopback --host. There is no access control.")
@click.option("--threads", type=click.IntRange(min=1), default=16, show_default=True,
              help="Requests served at once.")
@pass_env
def serve(env: Env, host: str, port: int, allow_remote: bool, threads: int) -> None:
    """Serve Glance's Image API v2 over this store, for openstacksdk and the clients.

    The endpoint URL goes to stdout once it listens. The CLI and the server
    share the store: a change through one is seen by the other at once.
    Ctrl-C or SIGTERM stops it; uploads cut off go back to queued. There is
    no authentication and no access control, so it listens on loopback
    unless told otherwise. For clients that insist on Keystone, /identity
    is a stand-in that accepts any credentials (not security).

    \b
    Examples:
      glancectl serve
      openstack --os-auth-type none --os-endpoint http://127.0.0.1:9292 image list
      glancectl serve --port 0 --home /tmp/sandbox
    """
    from glancectl.api.server import NO_ACCESS_CONTROL, Backend, check_bind, is_loopback, run

    check_bind(host, allow_remote)
    backend = Backend(home=env.home, settings=env.settings, environ=env.environ,
                      lock_timeout=env.lock_timeout)

    def ready(bound_host: str, bound_port: int) -> None:
        if not is_loopback(host):
            env.message("Warning: " + NO_ACCESS_CONTROL.format(host=bound_host, port=bound_port,
                                                              home=env.home))
        url = f"http://{bound_host if ':' not in bound_host else f'[{bound_host}]'}:{bound_port}"
        print(url, file=env.stdout, flush=True)
        env.message(f"Serving the Glance Image API v2 for {env.home} on {url} "
                    "(Ctrl-C to stop).")

    run(backend, host, port, threads=threads, on_ready=ready)
    env.message("Stopped.")
