"""`glancectl image ...`: parsing and rendering only; the work is in operations.

The group's commands live in modules of their own, each imported only when
its command runs (``LazyGroup``), so `image show` does not build the options
of `image list` or `image create` on every call (bench/startup.py).
"""

from __future__ import annotations

import click

from glancectl.cli.context import Env
from glancectl.cli.lazy import LazyGroup
from glancectl.cli.output import output_options, render_image
from glancectl.cli.params import image_argument, pass_env
from glancectl.operations.lookup import find_image


@click.group(cls=LazyGroup, lazy={
    # These modules add their commands to this group when imported.
    **dict.fromkeys(("create", "set", "unset", "delete"), "glancectl.cli.image_edit"),
    "list": "glancectl.cli.image_list",
    **dict.fromkeys(("upload", "download", "save", "deactivate", "reactivate", "location"),
                    "glancectl.cli.image_data"),
    **dict.fromkeys(("stage", "import", "tasks"), "glancectl.cli.image_import"),
    **dict.fromkeys(("push", "pull"), "glancectl.cli.image_remote"),
})
def image() -> None:
    """Create, inspect, change and delete images.

    IMAGE arguments take an ID or a name that only one image has.

    \b
    Examples:
      glancectl image create cirros --disk-format qcow2 --container-format bare --file cirros.img
      glancectl image list
      glancectl image show cirros
    """


@image.command("show")
@image_argument()
@output_options(images=True)
@pass_env
def show(env: Env, image_ref: str, output) -> None:
    """Show one image by ID or name, whatever its status.

    \b
    Examples:
      glancectl image show cirros
      glancectl image show 3c1d... -f value -c status
    """
    render_image(env, output, find_image(env.store, image_ref))
