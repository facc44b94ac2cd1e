"""Refusals users hit most: Glance's wording first, then the image (ID and name), its status,
and what to do next, all on stderr."""

from __future__ import annotations

import pytest

from tests.conftest import FORMATS


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "data.raw"
    path.write_bytes(b"\0" * 4096)
    return path


def make(gctl, state: str, data_file) -> dict:
    if state == "bare":
        return gctl.create("cirros")
    if state == "queued":
        return gctl.create("cirros", *FORMATS)
    image = gctl.create("cirros", *FORMATS, "--file", str(data_file))
    if state == "deactivated":
        gctl.ok("image", "deactivate", image["id"])
    if state == "protected":
        gctl.ok("image", "set", image["id"], "--protected")
    return image


CASES = [
    # (image state, command after "image", Glance's wording, status named, next step, exit code)
    ("active", ["upload", "{id}", "--file", "{file}"],
     "Image status transition from active to saving is not allowed", "active",
     "Create a new image, or delete this one first.", 4),
    ("bare", ["upload", "{id}", "--file", "{file}"],
     "Properties disk_format, container_format must be set prior to saving data.", "queued",
     "glancectl image set {id} --disk-format FORMAT --container-format FORMAT", 4),
    ("deactivated", ["upload", "{id}", "--file", "{file}"],
     "Image status transition from deactivated to saving is not allowed", "deactivated",
     "Reactivate it first", 4),
    ("queued", ["download", "{id}", "--file", "{out}"],
     "Image {id} (cirros) has no data", "queued", "glancectl image upload {id} --file PATH", 4),
    ("deactivated", ["download", "{id}", "--file", "{out}"],
     "The requested image has been deactivated. Image data download is forbidden.", "deactivated",
     "glancectl image reactivate {id}", 4),
    ("queued", ["deactivate", "{id}"],
     "Not allowed to deactivate image in status 'queued'", "queued",
     "Only an active image can be deactivated.", 4),
    ("queued", ["reactivate", "{id}"],
     "Not allowed to reactivate image in status 'queued'", "queued",
     "Only a deactivated image can be reactivated.", 4),
    ("deactivated", ["location", "add", "{id}", "file://{file}"],
     "It's not allowed to add locations if image status is deactivated.", "deactivated",
     "Reactivate it first", 4),
    ("active", ["location", "remove", "{id}", "file:///nowhere.img"],
     "Location file:///nowhere.img is not on image {id} (cirros).", "",
     "glancectl image location list {id}", 3),
    ("active", ["set", "{id}", "--disk-format", "qcow2"],
     "disk_format and container_format can only be changed while the image is queued or importing",
     "active", "create a new image", 4),
]


@pytest.mark.parametrize("state, command, glance, status, next_step, code", CASES,
                         ids=[f"{c[1][0]}-{c[0]}" if c[1][0] != "location" else f"location-{c[1][1]}"
                              for c in CASES])
def test_refusal_names_image_status_and_next_step(gctl, data_file, tmp_path, state, command,
                                                  glance, status, next_step, code):
    image = make(gctl, state, data_file)
    before = gctl.show(image["id"])
    fill = {"id": image["id"], "file": str(data_file), "out": str(tmp_path / "out.img")}
    result = gctl("image", *[part.format(**fill) for part in command])
    assert result.exit_code == code, result.stderr
    message = result.stderr.strip()
    assert message.count("\n") == 0, "one line"
    assert message.startswith("Error: " + glance.format(**fill)), message
    assert f"{image['id']} (cirros)" in message
    if status:
        assert f" is {status}" in message
    assert next_step.format(**fill) in message
    assert "Traceback" not in message
    assert gctl.show(image["id"]) == before  # a refusal changes nothing


def test_protected_delete_says_how_to_unprotect(gctl, data_file):
    image = make(gctl, "protected", data_file)
    result = gctl("image", "delete", "cirros")
    assert result.exit_code == 4
    first, last = result.stderr.strip().splitlines()
    assert first == (f"Failed to delete image with name or ID 'cirros': Image {image['id']} (cirros) "
                     f"is protected and cannot be deleted. Unprotect it first: "
                     f"glancectl image set {image['id']} --unprotected")
    assert last == "Error: 1 of 1 images failed to delete."
    assert gctl.show(image["id"])["status"] == "active"
