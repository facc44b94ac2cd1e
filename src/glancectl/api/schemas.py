"""/v2/schemas: Glance's JSON schemas, which glanceclient reads to build and check its requests.

Built from glancectl's own tables (formats, statuses, task types), so the
schema can never allow what the operations refuse, or the other way round.
"""

from __future__ import annotations

from glancectl import records
from glancectl.lifecycle import ImageStatus, TaskStatus
from glancectl.operations.tasks import TASK_TYPES

UUID_PATTERN = ("^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                "-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$")


def _field(kind, description: str, **extra) -> dict:
    return {"type": kind, "description": description, **extra}


def _read_only(kind, description: str, **extra) -> dict:
    return _field(kind, description, readOnly=True, **extra)


def image_schema() -> dict:
    nullable = ["null", "string"]
    properties = {
        "id": _field("string", "An identifier for the image", pattern=UUID_PATTERN),
        "name": _field(nullable, "Descriptive name for the image", maxLength=records.MAX_NAME_LEN),
        "status": _read_only("string", "Status of the image", enum=[s.value for s in ImageStatus]),
        "visibility": _field("string", "Scope of image accessibility",
                             enum=list(records.VISIBILITIES)),
        "protected": _field("boolean", "If true, image will not be deletable."),
        "os_hidden": _field("boolean",
                            "If true, image will not appear in default image list response."),
        "checksum": _read_only(nullable, "md5 hash of image contents.", maxLength=32),
        "os_hash_algo": _read_only(nullable, "Algorithm to calculate the os_hash_value",
                                   maxLength=64),
        "os_hash_value": _read_only(nullable, "Hexdigest of the image contents using the "
                                    "algorithm specified by the os_hash_algo", maxLength=128),
        "owner": _field(nullable, "Owner of the image", maxLength=255),
        "size": _read_only(["null", "integer"], "Size of image file in bytes"),
        "virtual_size": _read_only(["null", "integer"], "Virtual size of image in bytes"),
        "container_format": _field(nullable, "Format of the container",
                                   enum=[None, *records.CONTAINER_FORMATS]),
        "disk_format": _field(nullable, "Format of the disk", enum=[None, *records.DISK_FORMATS]),
        "created_at": _read_only("string", "Date and time of image registration"),
        "updated_at": _read_only("string", "Date and time of the last image modification"),
        "tags": _field("array", "List of strings related to the image",
                       items={"type": "string", "maxLength": records.MAX_NAME_LEN}),
        "direct_url": _read_only("string", "URL to access the image file kept in external store"),
        "min_ram": _field("integer", "Amount of ram (in MB) required to boot image."),
        "min_disk": _field("integer", "Amount of disk space (in GB) required to boot image."),
        "self": _read_only("string", "An image self url"),
        "file": _read_only("string", "An image file url"),
        "schema": _read_only("string", "An image schema url"),
        "locations": _field("array", "A set of URLs to access the image file kept in external store",
                            items={"type": "object", "required": ["url", "metadata"],
                                   "properties": {"url": {"type": "string", "maxLength": 255},
                                                  "metadata": {"type": "object"}}}),
    }
    return {
        "name": "image", "properties": properties,
        "additionalProperties": {"type": "string"},  # custom properties: strings
        "links": [{"rel": "self", "href": "{self}"}, {"rel": "enclosure", "href": "{file}"},
                  {"rel": "describedby", "href": "{schema}"}],
    }


def task_schema() -> dict:
    optional = ["null", "string"]
    properties = {
        "id": _field("string", "An identifier for the task", pattern=UUID_PATTERN),
        "type": _field("string", "The type of task represented by this content",
                       enum=list(TASK_TYPES)),
        "status": _field("string", "The current status of this task",
                         enum=[s.value for s in TaskStatus]),
        "input": _field(["null", "object"], "The parameters required by task, JSON blob"),
        "result": _field(["null", "object"], "The result of current task, JSON blob"),
        "owner": _field(optional, "An identifier for the owner of this task"),
        "message": _field("string", "Human-readable informative message only included when "
                          "appropriate (usually on failure)"),
        "image_id": _read_only("string", "Image associated with the task"),
        "expires_at": _field(optional, "Datetime when this resource would be subject to removal"),
        "created_at": _field("string", "Datetime when this resource was created"),
        "updated_at": _field("string", "Datetime when this resource was updated"),
        "self": {"type": "string"},
        "schema": {"type": "string"},
    }
    return {"name": "task", "properties": properties}


def collection_schema(name: str, member: dict) -> dict:
    return {
        "name": name,
        "properties": {name: {"type": "array", "items": member},
                       "schema": {"type": "string"}, "first": {"type": "string"},
                       "next": {"type": "string"}},
        "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                  {"rel": "describedby", "href": "{schema}"}],
    }


class Schemas:
    def on_get_image(self, req, resp):
        resp.media = image_schema()

    def on_get_images(self, req, resp):
        resp.media = collection_schema("images", image_schema())

    def on_get_task(self, req, resp):
        resp.media = task_schema()

    def on_get_tasks(self, req, resp):
        resp.media = collection_schema("tasks", task_schema())
