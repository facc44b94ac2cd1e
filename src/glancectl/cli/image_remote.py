"""`glancectl image push/pull`: a local image to and from a real Glance (openstacksdk)."""

from __future__ import annotations

import click

from glancectl.cli.context import Env
from glancectl.cli.errors import CLIError
from glancectl.cli.helptext import option
from glancectl.cli.image import image
from glancectl.cli.output import output_options, render_one
from glancectl.cli.params import image_argument, no_progress_option, pass_env
from glancectl.cli.progress import byte_progress
from glancectl.exit_codes import ExitCode


def cloud_option(func):
    return option("--os-cloud", "cloud", metavar="NAME", section="Cloud",
                  help="The clouds.yaml entry to use (default: $OS_CLOUD, else the OS_* "
                       "variables).")(func)


def connect(cloud: str | None):
    """openstacksdk loads only here, so no other command pays for it."""
    try:
        import openstack  # noqa: F401
    except ModuleNotFoundError:
        raise CLIError("image push and image pull need openstacksdk. Install it with: "
                       "python3 -m pip install 'glancectl[cloud]' (in a checkout: "
                       ".venv/bin/python -m pip install -e '.[cloud]')", ExitCode.MISSING_DEPENDENCY) from None
    from glancectl.operations import remote

    return remote.connect(cloud)


@image.command("push")
@image_argument()
@cloud_option
@option("--method", type=click.Choice(("upload", "glance-direct")), section="Cloud",
        help="How to send the data (default: glance-direct import when the cloud advertises "
             "it in /v2/info/import, else a plain upload).")
@option("--keep-on-failure", is_flag=True, section="Cloud",
        help="Keep the remote image if the push fails after creating it (default: delete it).")
@no_progress_option
@output_options()
@pass_env
def push(env: Env, image_ref, cloud, method, keep_on_failure, no_progress, output) -> None:
    """Publish a local active image to a Glance, verified.

    Name, formats, visibility, min_disk, min_ram, os_hidden, custom properties
    and tags are carried; protected is set last. The push waits for the remote
    image to become active and checks its os_hash_value and checksum against
    the local ones. Pushing an image that is already there sends nothing and
    says it is up to date. Prints the remote image. Credentials come from
    clouds.yaml (--os-cloud or $OS_CLOUD) or the OS_* variables, as for
    openstackclient.

    \b
    Examples:
      glancectl image push cirros --os-cloud mycloud
      OS_CLOUD=mycloud glancectl image push cirros --method upload -f json
    """
    from glancectl.operations import images as image_ops
    from glancectl.operations import remote as remote_ops

    remote = connect(cloud)
    size = image_ops.find_live_image(env.store, image_ref).get("size")
    with byte_progress(env, "Pushing", size, enabled=not no_progress) as progress:
        outcome = remote_ops.push(env.store, remote, image_ref, method=method,
                                  keep_on_failure=keep_on_failure, progress=progress,
                                  warn=env.message)
    if outcome.up_to_date:
        env.message(f"Image {outcome.view['id']} in cloud {remote.cloud} is up to date; "
                    "no data was sent.")
    render_one(env, output, outcome.view)


@image.command("pull")
@click.argument("remote_ref", metavar="REMOTE")
@cloud_option
@no_progress_option
@output_options()
@pass_env
def pull(env: Env, remote_ref, cloud, no_progress, output) -> None:
    """Bring an active image from a Glance into the store, verified.

    REMOTE is the remote image's ID or a name only one remote image has. The
    local image keeps the remote ID when no local image has it, and gets the
    remote metadata. The data goes through the same checks as an upload
    (size, hashes, disk format, limits) and must match the remote
    os_hash_value. A failed pull leaves the local image queued (interrupted)
    or killed (bad data), as an upload does. Pulling an image already pulled
    sends nothing and says it is up to date. Prints the local image.

    \b
    Examples:
      glancectl image pull cirros --os-cloud mycloud
      glancectl image pull 3c1d... --os-cloud mycloud -f value -c status
    """
    from glancectl.operations import remote as remote_ops

    remote = connect(cloud)
    image = remote.find(remote_ref)
    with byte_progress(env, "Pulling", image.size, enabled=not no_progress) as progress:
        outcome = remote_ops.pull(env.store, env.settings, remote, image.id, progress=progress)
    if outcome.up_to_date:
        env.message(f"Image {outcome.view['id']} is up to date with image {image.id} in cloud "
                    f"{remote.cloud}; no data was sent.")
    render_one(env, output, outcome.view)
