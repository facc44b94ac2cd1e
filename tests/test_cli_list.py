"""`image list`: Glance's filters, sorting and paging."""

from __future__ import annotations

import time

import pytest

from tests.conftest import FORMATS


@pytest.fixture
def catalogue(gctl):
    made = {
        "alpha": gctl.create("alpha", *FORMATS, "--tag", "gold", "--tag", "x", "--property", "os=linux"),
        "beta": gctl.create("beta", "--disk-format", "qcow2", "--container-format", "bare",
                            "--tag", "gold", "--visibility", "public", "--protected"),
        "gamma": gctl.create("gamma", *FORMATS, "--size", "0", "--property", "os=bsd"),
        "hidden": gctl.create("hidden", "--hidden"),
    }
    return made


def ids(result) -> list[str]:
    return result.stdout.split()


def test_default_list_hides_hidden_and_sorts_newest_first(gctl, catalogue):
    listed = gctl.ok("image", "list", "-f", "json").json()
    names = [i["name"] for i in listed]
    assert names == ["gamma", "beta", "alpha"], "newest first, in creation order within a second"


def test_filters(gctl, catalogue):
    c = catalogue
    assert ids(gctl.ok("image", "list", "--tag", "gold", "-q")) != []
    assert set(ids(gctl.ok("image", "list", "--tag", "gold", "--tag", "x", "-q"))) == {c["alpha"]["id"]}
    assert set(ids(gctl.ok("image", "list", "--status", "active", "-q"))) == {c["gamma"]["id"]}
    assert set(ids(gctl.ok("image", "list", "--disk-format", "in:qcow2,vmdk", "-q"))) == {c["beta"]["id"]}
    assert set(ids(gctl.ok("image", "list", "--visibility", "public", "-q"))) == {c["beta"]["id"]}
    assert set(ids(gctl.ok("image", "list", "--protected", "-q"))) == {c["beta"]["id"]}
    assert set(ids(gctl.ok("image", "list", "--property", "os=bsd", "-q"))) == {c["gamma"]["id"]}
    assert set(ids(gctl.ok("image", "list", "--hidden", "-q"))) == {c["hidden"]["id"]}
    assert set(ids(gctl.ok("image", "list", "--name", "in:alpha,beta", "-q"))) == {
        c["alpha"]["id"], c["beta"]["id"]}
    assert set(ids(gctl.ok("image", "list", "--size-max", "0", "-q"))) == {c["gamma"]["id"]}
    assert ids(gctl.ok("image", "list", "--size-min", "1", "-q")) == []


def test_time_filters(gctl, catalogue):
    stamp = catalogue["alpha"]["created_at"]
    assert len(ids(gctl.ok("image", "list", "--created-at", f"gte:{stamp}", "-q"))) == 3
    assert ids(gctl.ok("image", "list", "--created-at", "lt:2000-01-01T00:00:00Z", "-q")) == []
    bad = gctl("image", "list", "--created-at", "soon:2020-01-01")
    assert bad.exit_code == 2 and "OP:TIME" in bad.stderr
    bad = gctl("image", "list", "--updated-at", "gt:yesterday")
    assert bad.exit_code == 2 and "not an ISO 8601 time" in bad.stderr
    for out_of_range in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        bad = gctl("image", "list", "--created-at", f"gt:{out_of_range}")
        assert (bad.exit_code, bad.stdout) == (2, "")
        assert bad.stderr == (f"Error: '{out_of_range}' is not a time between the years 1 "
                              "and 9999 in UTC\n")


def test_sort_and_paging(gctl, catalogue):
    by_name = gctl.ok("image", "list", "--sort", "name:asc", "-f", "value", "-c", "name").stdout.split()
    assert by_name == ["alpha", "beta", "gamma"]
    desc = gctl.ok("image", "list", "--sort", "name", "-f", "value", "-c", "name").stdout.split()
    assert desc == ["gamma", "beta", "alpha"]
    first = ids(gctl.ok("image", "list", "--sort", "name:asc", "--limit", "1", "-q"))
    assert first == [catalogue["alpha"]["id"]]
    rest = ids(gctl.ok("image", "list", "--sort", "name:asc", "--marker", first[0], "-q"))
    assert rest == [catalogue["beta"]["id"], catalogue["gamma"]["id"]]


def test_bad_sort_key_and_marker(gctl, catalogue):
    result = gctl("image", "list", "--sort", "colour")
    assert result.exit_code == 2 and "Invalid sort key: 'colour'" in result.stderr
    result = gctl("image", "list", "--marker", "0d9f4c7e-8a3b-4c1e-9f00-000000000000")
    assert result.exit_code == 3 and "marker" in result.stderr


def test_empty_list_is_success(gctl):
    result = gctl.ok("image", "list", "-f", "json")
    assert result.json() == []
    assert gctl.ok("image", "list", "-q").stdout == ""


def test_long_table_and_csv(gctl, catalogue):
    table = gctl.ok("image", "list", "--long").stdout
    for heading in ("Disk Format", "Container Format", "Visibility", "Protected", "Tags"):
        assert heading in table
    csv_out = gctl.ok("image", "list", "-f", "csv", "--sort", "name:asc").stdout.splitlines()
    assert csv_out[0] == "ID,Name,Status"
    assert csv_out[1].endswith(",alpha,queued")
