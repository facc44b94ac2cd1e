"""`glancectl image list`: Glance's filters, sorting and paging."""

from __future__ import annotations

import click

from glancectl import records
from glancectl.cli.context import Env
from glancectl.cli.helptext import option
from glancectl.cli.image import image
from glancectl.cli.output import ListOutput, output_options
from glancectl.cli.params import complete_from, pass_env, tag_option, visibility_option
from glancectl.lifecycle import ImageStatus
from glancectl.listing import ImageFilter, TimeFilter, glance_sort
from glancectl.operations import images as ops
from glancectl.renderings import ImageItems

LIST_COLUMNS = ("id", "name", "status")
IMAGE_STATUSES = tuple(s.value for s in ImageStatus)
# openstack image list --long's columns, with the hash Glance verifies downloads against.
LONG_COLUMNS = ("id", "name", "disk_format", "container_format", "size", "checksum",
                "os_hash_algo", "os_hash_value", "status", "visibility", "protected", "owner", "tags")


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
                        view=records.image_view, plain_fields=records.IMAGE_PLAIN_FIELDS,
                        json_items=ImageItems())
    listed.emit(lambda keep: ops.list_images(env.store, image_filter, sort=sort, marker=marker,
                                             limit=limit, keep=keep))
