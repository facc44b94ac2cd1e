"""`glancectl image ...`: parsing and rendering only; the work is in operations."""

from __future__ import annotations

import click

from glancectl import records
from glancectl.cli.context import Env
from glancectl.cli.errors import CLIError
from glancectl.cli.helptext import option
from glancectl.cli.lazy import LazyGroup
from glancectl.cli.output import ListOutput, output_options, render_image
from glancectl.cli.params import (
    complete_from,
    expectation_options,
    file_option,
    image_argument,
    image_metadata_options,
    json_object,
    pass_env,
    properties_option_value,
    tag_option,
    visibility_option,
)
from glancectl.errors import InvalidValue
from glancectl.lifecycle import ImageStatus
from glancectl.operations import images as ops

LIST_COLUMNS = ("id", "name", "status")
IMAGE_STATUSES = tuple(s.value for s in ImageStatus)
# openstack image list --long's columns, with the hash Glance verifies downloads against.
LONG_COLUMNS = ("id", "name", "disk_format", "container_format", "size", "checksum",
                "os_hash_algo", "os_hash_value", "status", "visibility", "protected", "owner", "tags")


@click.group(cls=LazyGroup, lazy={
    # These modules add their commands to this group when imported.
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
    render_image(env, output, ops.find_image(env.store, image_ref))


@image.command("list")
@option("--name", section="Filters", help="Exact name, or in:a,b.")
@option("--id", "ids", section="Filters", help="Exact ID, or in:a,b.")
@option("--status", section="Filters", shell_complete=complete_from(IMAGE_STATUSES, any_of=True),
        help="Exact status, or in:a,b (also lists deleted/killed when asked).")
@visibility_option("Filters", "Only images with this visibility.")
@option("--owner", section="Filters", help="Only images of this owner.")
@tag_option("Filters", "Must have this tag (repeatable; all must match).")
@option("--property", "properties", multiple=True, metavar="KEY=VALUE", section="Filters",
        help="Custom property with exactly this value (repeatable).")
@option("--property-filter", "property_filters", multiple=True, hidden=True, section="Filters")
@option("--disk-format", section="Filters", help="Exact disk format, or in:a,b.",
        shell_complete=complete_from(records.DISK_FORMATS, any_of=True))
@option("--container-format", section="Filters", help="Exact container format, or in:a,b.",
        shell_complete=complete_from(records.CONTAINER_FORMATS, any_of=True))
@option("--checksum", metavar="MD5", section="Filters", help="Exact checksum (md5).")
@option("--hash", "os_hash_value", metavar="SHA512", section="Filters", help="Exact os_hash_value.")
@option("--size-min", type=click.IntRange(min=0), metavar="BYTES", section="Filters",
        help="At least this size.")
@option("--size-max", type=click.IntRange(min=0), metavar="BYTES", section="Filters",
        help="At most this size.")
@option("--created-at", metavar="OP:TIME", section="Filters",
        help="OP is gt, gte, lt, lte, eq or neq.")
@option("--updated-at", metavar="OP:TIME", section="Filters", help="As --created-at, on updated_at.")
@option("--protected/--unprotected", default=None, section="Filters",
        help="Only protected (or only unprotected) images.")
@option("--hidden", "os_hidden", is_flag=True, section="Filters", help="List hidden images instead.")
@option("--deleted", "include_deleted", is_flag=True, section="Filters",
        help="Include deleted, pending_delete and killed images.")
@option("--sort", metavar="KEY[:DIR],...", section="Sorting and paging",
        shell_complete=complete_from(records.IMAGE_SORT_KEYS, sort_keys=True),
        help=f"Sort keys: {', '.join(records.IMAGE_SORT_KEYS)} (default created_at:desc).")
@option("--sort-key", "sort_keys", multiple=True, hidden=True, section="Sorting and paging")
@option("--sort-dir", "sort_dirs", multiple=True, hidden=True, section="Sorting and paging")
@option("--limit", type=click.IntRange(min=0), section="Sorting and paging",
        help="List at most this many.")
@option("--marker", metavar="ID", section="Sorting and paging", help="Start after this image ID.")
@output_options(quiet=True, many=True, images=True)
@pass_env
def list_(env: Env, name, ids, status, visibility, owner, tags, properties, property_filters,
          disk_format, container_format, checksum, os_hash_value, size_min, size_max, created_at,
          updated_at, protected, os_hidden, include_deleted, sort, sort_keys, sort_dirs, limit,
          marker, output) -> None:
    """List images, with Glance's filters, sorting and paging.

    Images come in the Glance API's order, newest first (created_at:desc),
    not by name as 'openstack image list' and 'glance image-list' sort them;
    --sort name:asc gives their order.

    \b
    Examples:
      glancectl image list
      glancectl image list --status active --tag gold --sort name:asc -f json
      glancectl image list --created-at gte:2026-01-01T00:00:00Z -q
      glancectl image list --long --human-readable
    """
    # Imported here: only a listing filters and sorts (start-up of the other commands).
    from glancectl.listing import ImageFilter, TimeFilter, glance_sort

    image_filter = ImageFilter.build(
        exact={"name": name, "id": ids, "status": status, "disk_format": disk_format,
               "container_format": container_format, "checksum": checksum,
               "os_hash_value": os_hash_value},
        visibility=visibility, owner=owner, tags=tuple(tags),
        properties=dict(records.split_key_value(p) for p in (*properties, *property_filters)),
        size_min=size_min, size_max=size_max,
        created_at=TimeFilter.parse(created_at, "--created-at") if created_at else None,
        updated_at=TimeFilter.parse(updated_at, "--updated-at") if updated_at else None,
        protected=protected, os_hidden=os_hidden, include_deleted=include_deleted,
    )
    if sort_keys or sort_dirs:
        sort = glance_sort(sort, sort_keys, sort_dirs)
    listed = ListOutput(env, output, LONG_COLUMNS if output.long else LIST_COLUMNS,
                        view=records.image_view, plain_fields=records.IMAGE_PLAIN_FIELDS)
    listed.emit(lambda keep: ops.list_images(env.store, image_filter, sort=sort, marker=marker,
                                             limit=limit, keep=keep))


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

