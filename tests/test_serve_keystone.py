"""`glancectl serve`'s Identity v3 stand-in: password auth from a clouds.yaml works."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.glanceserver import glance_server  # noqa: F401  (fixture)
from tests.test_serve_clients import run

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")


@pytest.fixture
def clouds_yaml(glance_server, tmp_path):
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {"glancectl": {
        "auth": {"auth_url": f"{glance_server.url}/identity", "username": "demo",
                 "password": "any password at all", "project_name": "demo",
                 "user_domain_name": "Default", "project_domain_name": "Default"},
        "region_name": "RegionOne", "identity_api_version": 3,
    }}}))
    return path


def test_openstackclient_with_password_auth(glance_server, clouds_yaml):
    made = glance_server.create(name="via-keystone")
    code, out, err = run(glance_server, "openstack", "--os-cloud", "glancectl", "image", "list",
                         "-f", "json", extra_env={"OS_CLIENT_CONFIG_FILE": str(clouds_yaml)})
    assert code == 0, err
    assert made["id"] in [row["ID"] for row in json.loads(out)]


def test_openstacksdk_with_password_auth(glance_server, clouds_yaml, monkeypatch):
    import openstack

    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds_yaml))
    conn = openstack.connect(cloud="glancectl")
    try:
        made = glance_server.create(name="sdk-keystone")
        assert conn.image.get_image(made["id"]).name == "sdk-keystone"
        assert conn.current_project.name == "demo"
    finally:
        conn.close()


def test_token_endpoint_accepts_any_credentials(glance_server):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "anyone", "domain": {"name": "Default"}, "password": "wrong"}}},
        "scope": {"project": {"name": "p", "domain": {"name": "Default"}}}}}
    response = glance_server.request("POST", "/identity/v3/auth/tokens", json=body)
    assert response.status_code == 201 and response.headers["X-Subject-Token"]
    token = response.json()["token"]
    assert (token["user"]["name"], token["project"]["name"]) == ("anyone", "p")
    image = [s for s in token["catalog"] if s["type"] == "image"][0]
    assert {e["url"] for e in image["endpoints"]} == {glance_server.url}


def test_clouds_yaml_without_authentication(glance_server, tmp_path):
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {"glancectl": {
        "auth_type": "none", "auth": {"endpoint": glance_server.url}}}}))
    made = glance_server.create(name="noauth-cloud")
    code, out, err = run(glance_server, "openstack", "--os-cloud", "glancectl", "image", "show",
                         made["id"], "-f", "json", extra_env={"OS_CLIENT_CONFIG_FILE": str(path)})
    assert code == 0, err
    assert json.loads(out)["name"] == "noauth-cloud"
