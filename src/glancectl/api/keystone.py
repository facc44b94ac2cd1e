"""A stand-in for Keystone's Identity v3, for clients that insist on password authentication.

It accepts ANY credentials and hands back a token and a service catalog
that points at this image endpoint. It is a convenience for local
development, not security: the image API never checks the token.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

import falcon

V3 = "v3.14"
DOMAIN = {"id": "default", "name": "Default"}
TOKEN_LIFETIME = timedelta(hours=24)


def _time(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _version(req: falcon.Request) -> dict:
    return {"id": V3, "status": "stable", "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{req.prefix}/identity/v3/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.identity-v3+json"}]}


def _catalog(req: falcon.Request) -> list[dict]:
    def service(kind: str, name: str, url: str) -> dict:
        return {"id": name, "type": kind, "name": name, "endpoints": [
            {"id": f"{name}-{interface}", "interface": interface, "region": "RegionOne",
             "region_id": "RegionOne", "url": url}
            for interface in ("public", "internal", "admin")]}

    return [service("image", "glance", req.prefix),
            service("identity", "keystone", f"{req.prefix}/identity/v3")]


def _named(given, fallback: str) -> dict:
    """A user or project as the request named it (any name is accepted), in a domain."""
    given = given if isinstance(given, dict) else {}
    name = given.get("name") or given.get("id") or fallback
    return {"id": given.get("id") or name, "name": name, "domain": DOMAIN}


class Identity:
    def on_get(self, req, resp):
        resp.status = falcon.HTTP_300
        resp.media = {"versions": {"values": [_version(req)]}}

    def on_get_v3(self, req, resp):
        resp.media = {"version": _version(req)}

    def on_post_tokens(self, req, resp):
        auth = (req.get_media(default_when_empty={}) or {}).get("auth") or {}
        identity = auth.get("identity") or {}
        methods = identity.get("methods") or ["password"]
        user = (identity.get("password") or {}).get("user")
        scope = auth.get("scope") or {}
        now = datetime.now(timezone.utc)
        resp.status = falcon.HTTP_201
        resp.set_header("X-Subject-Token", secrets.token_hex(16))
        resp.media = {"token": {
            "methods": methods, "user": {**_named(user, "local"), "password_expires_at": None},
            "project": _named(scope.get("project"), "local"), "is_domain": False,
            "roles": [{"id": "admin", "name": "admin"}, {"id": "member", "name": "member"}],
            "issued_at": _time(now), "expires_at": _time(now + TOKEN_LIFETIME),
            "audit_ids": [secrets.token_urlsafe(16)], "catalog": _catalog(req),
        }}

    def on_get_tokens(self, req, resp):
        """Token validation: every token is valid."""
        self.on_post_tokens(req, resp)
        resp.status = falcon.HTTP_200
