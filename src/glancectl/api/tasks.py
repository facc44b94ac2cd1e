"""/v2/tasks: create (a worker process does the work), list and show."""

from __future__ import annotations

import falcon

from glancectl import records
from glancectl.api import parsing
from glancectl.operations import importing
from glancectl.operations import tasks as ops


class Tasks:
    def __init__(self, backend):
        self.backend = backend

    def on_get(self, req, resp):
        page_limit = parsing.limit(req)
        found = ops.list_tasks(self.backend.store(), self.backend.settings,
                               status=req.get_param("status"), task_type=req.get_param("type"),
                               sort=parsing.sort(req), marker=req.get_param("marker"),
                               limit=page_limit)
        resp.media = parsing.paged(req, "tasks", "tasks",
                                   [records.task_view(t, summary=True) for t in found], page_limit)

    def on_post(self, req, resp):
        body = parsing.json_object(req)
        store = self.backend.store()
        task, lease = importing.create_task(store, self.backend.settings,
                                            body.get("type"), body.get("input"))
        self.backend.start_worker(store, task, lease)
        resp.status = falcon.HTTP_201
        resp.location = f"{req.prefix}/v2/tasks/{task['id']}"
        resp.media = records.task_view(task)


class Task:
    def __init__(self, backend):
        self.backend = backend

    def on_get(self, req, resp, task_id):
        store = self.backend.store()
        task = ops.settle_if_dead(store, self.backend.settings, ops.find_task(store, task_id))
        resp.media = records.task_view(task)
