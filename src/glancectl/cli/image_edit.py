"""`glancectl image create/set/unset/delete`: an image's record and metadata."""

from __future__ import annotations

import click

from glancectl.cli.context import Env
from glancectl.cli.errors import CLIError
from glancectl.cli.helptext import option
from glancectl.cli.image import image
from glancectl.cli.output import output_options, render_image
from glancectl.cli.params import (
    expectation_options,
    file_option,
    image_argument,
    image_metadata_options,
    json_object,
    pass_env,
    properties_option_value,
    tag_option,
)
from glancectl.errors import InvalidValue
from glancectl.operations import images as ops


@image.command("create")
@click.argument("name", required=False)
@image_metadata_options
@click.option("--id", "image_id", metavar="UUID", help="Use this ID instead of a new one.")
@file_option("Upload data from PATH ('-' for stdin) right after creating; with --import, "
             "stage it (stdin when it is a pipe or a file, if --file is not given).")
@option("--location", metavar="URL", section="Data",
        help="Register data at a file:// or http(s):// URL; the image is active at once.")
@option("--location-metadata", metavar="JSON", section="Data", help="Metadata for --location.")
@expectation_options
@option("--import", "via_import", is_flag=True, section="Data",
        help="Import the data with a task: glance-direct from --file or stdin, "
             "web-download from --uri.")
@option("--uri", metavar="URL", section="Data", help="With --import: the http(s):// URL to fetch.")
@option("--wait", is_flag=True, section="Data", help="With --import: block until the import ends.")
@output_options(quiet=True, images=True)
@pass_env
def create(env: Env, name, disk_format, container_format, visibility, protected, os_hidden,
           min_disk, min_ram, properties, tags, image_id, path, location, location_metadata,
           expect_size, expect_checksum, expect_hash, no_progress, via_import, uri, wait,
           output) -> None:
    """Create an image; --file, --location, --import or --size 0 give it data.

    With --file it is all or nothing: if the data cannot be stored whole
    and verified, no image is left behind. --location reads the data once
    to record its size and hashes.

    \b
    Examples:
      glancectl image create cirros --disk-format qcow2 --container-format bare --file cirros.img
      glancectl image create empty --disk-format raw --container-format bare --size 0
      glancectl image create web --disk-format raw --container-format bare \\
          --location http://127.0.0.1:8000/web.img
      glancectl image create web --disk-format raw --container-format bare --import \\
          --uri http://127.0.0.1:8000/web.img --wait
      glancectl image create --id 3c1d... --property os_distro=cirros --tag test -q
    """
    from glancectl.cli.image_data import open_input, with_progress
    from glancectl.cli.progress import byte_progress
    from glancectl.operations import data as data_ops
    from glancectl.operations import locations as location_ops

    spec = ops.ImageSpec(
        name=name, disk_format=disk_format, container_format=container_format,
        visibility=visibility or "shared", protected=bool(protected), os_hidden=bool(os_hidden),
        min_disk=min_disk or 0, min_ram=min_ram or 0,
        properties=properties_option_value(properties), tags=list(tags), image_id=image_id,
    )
    expect = data_ops.Expectations(expect_size, expect_checksum, expect_hash)
    if path is not None and location is not None:
        raise InvalidValue("give --file or --location, not both")
    if (uri is not None or wait) and not via_import:
        raise InvalidValue("--uri and --wait go with --import")
    if via_import:
        from glancectl.cli import image_import

        if location is not None or expect != data_ops.Expectations():
            raise InvalidValue("--import takes its data from --file, stdin or --uri; "
                               "--location, --size, --checksum and --hash do not go with it")
        record, task = image_import.create_and_import(env, spec, path=path, uri=uri, wait=wait,
                                                      no_progress=no_progress)
        image_import.finish(env, output, record, task)
        return
    if location is not None:
        metadata = json_object(location_metadata, "--location-metadata")
        with byte_progress(env, "Reading location", None, enabled=not no_progress) as progress:
            record = location_ops.create_with_location(env.store, env.settings, spec, location,
                                                       metadata, expect=expect, progress=progress)
    elif path is not None:
        source = open_input(env, path)
        record = with_progress(env, "Uploading", source, no_progress, lambda progress: (
            data_ops.create_with_data(env.store, env.settings, spec, source, expect=expect,
                                      progress=progress)))
    elif expect_size == 0 and not (expect_checksum or expect_hash):
        record = location_ops.create_empty(env.store, env.settings, spec)
    elif expect != data_ops.Expectations():
        raise InvalidValue("--size (other than 0), --checksum and --hash need --file or --location")
    else:
        record = ops.create_image(env.store, env.settings, spec)
    render_image(env, output, record)


@image.command("set")
@image_argument()
@click.option("--name", help="New name.")
@image_metadata_options
@option("--deactivate", "activation", flag_value="deactivate", hidden=True, section="Metadata")
@option("--activate", "activation", flag_value="reactivate", hidden=True, section="Metadata")
@output_options(images=True)
@pass_env
def set_(env: Env, image_ref, name, disk_format, container_format, visibility, protected,
         os_hidden, min_disk, min_ram, properties, tags, activation, output) -> None:
    """Change an image's metadata.

    Formats can only change while the image is queued or importing.

    \b
    Examples:
      glancectl image set cirros --name cirros-0.6 --tag gold --property os_distro=cirros
      glancectl image set cirros --protected
    """
    wanted = ops.ImageChanges(
        name=name, disk_format=disk_format, container_format=container_format,
        visibility=visibility, protected=protected, os_hidden=os_hidden,
        min_disk=min_disk, min_ram=min_ram,
        set_properties=properties_option_value(properties), add_tags=list(tags),
        activation=activation,
    )
    if wanted.is_empty():
        raise InvalidValue("nothing to change; give at least one option (see --help)")
    record = ops.update_image(env.store, env.settings, image_ref, wanted)
    render_image(env, output, record)


@image.command("unset")
@image_argument()
@click.option("--property", "properties", multiple=True, metavar="KEY",
              help="Remove this property (repeatable).")
@tag_option(None, "Remove this tag (repeatable).")
@output_options(images=True)
@pass_env
def unset(env: Env, image_ref, properties, tags, output) -> None:
    """Remove properties and tags from an image.

    \b
    Example:
      glancectl image unset cirros --property os_distro --tag gold
    """
    if not properties and not tags:
        raise InvalidValue("nothing to unset; give --property or --tag")
    wanted = ops.ImageChanges(unset_properties=list(properties), remove_tags=list(tags))
    record = ops.update_image(env.store, env.settings, image_ref, wanted)
    render_image(env, output, record)


@image.command("delete")
@image_argument("image_refs", metavar="IMAGE...", nargs=-1, required=True)
@pass_env
def delete(env: Env, image_refs) -> None:
    """Delete images; carries on past failures and reports how many failed.

    Data is removed at once; with delayed_delete on, an image that has data
    goes to pending_delete and keeps it until `glancectl scrub` (a
    deactivated one is refused: reactivate it first). The record stays,
    deleted, until purged; deleting it again is refused (exit 4).

    \b
    Example:
      glancectl image delete cirros 3c1d...
    """
    outcomes = ops.delete_images(env.store, env.settings, image_refs)
    failures = [(ref, err) for ref, err in outcomes if isinstance(err, Exception)]
    for ref, err in failures:
        env.message(f"Failed to delete image with name or ID '{ref}': {err}")
    if failures:
        total = len(outcomes)
        # The worst failure decides the code, so a script can still tell "not found" apart.
        code = max(err.exit_code for _, err in failures)
        raise CLIError(f"{len(failures)} of {total} images failed to delete.", code)
