"""The routes, and the backend every handler shares: where the store is and how to start workers.

Each request gets its own ``Store``, as each CLI command does: the store's
lock is re-entrant per Store object, so sharing one between threads would
let a second thread walk through a lock the first one holds.
"""

from __future__ import annotations

import os
import threading
import uuid
from dataclasses import dataclass, field
from typing import Mapping

import falcon

from glancectl.api import errors, images, info, keystone, schemas, tasks
from glancectl.config import Settings
from glancectl.store import Store


@dataclass
class Backend:
    home: str | os.PathLike
    settings: Settings
    environ: Mapping[str, str]
    lock_timeout: float
    stopping: threading.Event = field(default_factory=threading.Event)

    def store(self) -> Store:
        from glancectl.operations.recovery import sweep

        return Store(self.home, lock_timeout=self.lock_timeout, after_lock=sweep)

    def start_worker(self, store: Store, task: dict, lease) -> None:
        """Hand the task and its lease to a detached worker, exactly as ``task create`` does."""
        from glancectl.operations.tasks import spawn_worker

        worker = spawn_worker(store, task["id"], lease, environ=self.environ)
        # Reap it when it ends, so a long-running server collects no zombies.
        threading.Thread(target=worker.wait, daemon=True, name="glancectl-reaper").start()


class RequestId:
    """Glance's ``x-openstack-request-id`` on every response, errors included (oslo.middleware's
    request_id): openstacksdk and openstackclient log it with each call."""

    def process_response(self, req, resp, resource, req_succeeded) -> None:
        resp.set_header("x-openstack-request-id", f"req-{uuid.uuid4()}")


def create_app(backend: Backend) -> falcon.App:
    app = falcon.App(cors_enable=False, middleware=[RequestId()])
    app.req_options.strip_url_path_trailing_slash = True
    errors.register(app)

    versions = info.Versions()
    app.add_route("/", versions)
    app.add_route("/versions", versions, suffix="explicit")
    app.add_route("/v2", versions, suffix="explicit")

    image = images.Image(backend)
    app.add_route("/v2/images", images.Images(backend))
    app.add_route("/v2/images/{image_id}", image)
    for suffix in ("file", "stage", "import", "locations", "tasks"):
        app.add_route(f"/v2/images/{{image_id}}/{suffix}", image, suffix=suffix)
    for action in ("deactivate", "reactivate"):
        app.add_route(f"/v2/images/{{image_id}}/actions/{action}", image, suffix=action)
    app.add_route("/v2/images/{image_id}/tags/{tag}", images.Tag(backend))

    app.add_route("/v2/tasks", tasks.Tasks(backend))
    app.add_route("/v2/tasks/{task_id}", tasks.Task(backend))

    about = info.Info(backend)
    for topic in ("import", "stores", "usage"):
        app.add_route(f"/v2/info/{topic}", about, suffix=topic)

    described = schemas.Schemas()
    for name in ("image", "images", "task", "tasks"):
        app.add_route(f"/v2/schemas/{name}", described, suffix=name)

    identity = keystone.Identity()  # a local stand-in that accepts any credentials
    app.add_route("/identity", identity)
    app.add_route("/identity/v3", identity, suffix="v3")
    app.add_route("/identity/v3/auth/tokens", identity, suffix="tokens")
    return app
