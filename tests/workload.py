"""A random mix of glancectl commands on one store, and a model of what must survive.

Used by test_concurrency.py (8 worker processes racing) and test_kill.py (a
writer SIGKILLed at random moments). A worker owns the images it creates:
only it renames, uploads to and deletes them, so their final state is
exact. Any worker may tag any image; tags only grow, so an image's final
tags are exactly the acknowledged ones.

Each command is reported as two JSON lines: an intent before it runs and
its exit code after. Whoever reads the lines knows what was acknowledged
and, when a process died, which command was in flight.

Run as ``python -m tests.workload HOME WORKER SEED SECONDS`` for one load
worker that prints its lines on stdout.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

FORMATS = ("--disk-format", "raw", "--container-format", "bare")
DOCUMENTED_EXIT_CODES = frozenset({0, 2, 3, 4, 5, 6, 7})
OWN_OPS = ("create", "set", "upload", "delete")  # on the worker's own images: must succeed
UPLOAD_SIZES = (1_000, 64_000, 1 << 20, 5 << 20)  # 5 MiB crosses datafiles.CHUNK_SIZE


@dataclass(frozen=True)
class ImageState:
    name: str
    status: str  # queued, active or deleted
    sha512: str | None = None


def after(state: ImageState | None, event: dict) -> ImageState | None:
    """The image's state once ``event`` (an own-image command) has taken effect."""
    op = event["op"]
    if op == "create":
        return ImageState(event["name"], "queued")
    if op == "set":
        return replace(state, name=event["name"])
    if op == "upload":
        return replace(state, status="active", sha512=event["sha512"])
    if op == "delete":
        return replace(state, status="deleted")
    return state


class Model:
    """What the acknowledged commands say the store must hold."""

    def __init__(self):
        self.images: dict[str, ImageState] = {}
        self.tags: dict[str, set[str]] = {}
        self.in_flight: dict | None = None  # the intent with no result yet
        self.uncertain: dict[str, dict] = {}  # image id -> the command in flight when its writer died
        self.results: list[dict] = []

    def feed(self, event: dict) -> None:
        if event["phase"] == "intent":
            self.in_flight = event
            return
        self.in_flight = None
        self.results.append(event)
        if event["exit"] != 0:
            return
        image_id = event.get("image")
        if event["op"] in OWN_OPS:
            self.images[image_id] = after(self.images.get(image_id), event)
            if event["op"] == "create":
                self.tags.setdefault(image_id, set()).add(event["tag"])
        elif event["op"] == "tag":
            self.tags.setdefault(image_id, set()).add(event["tag"])

    def writer_died(self) -> dict | None:
        """The command in flight, if any, may or may not have taken effect."""
        event, self.in_flight = self.in_flight, None
        if event is not None and event.get("image"):
            self.uncertain[event["image"]] = event
        return event

    def usable(self, image_id: str) -> bool:
        return image_id not in self.uncertain


# -- observing the store ------------------------------------------------------
def observe(home: Path) -> dict[str, dict]:
    from glancectl.store import Store

    return {r["id"]: r for r in Store(home).images.all()}


def problems(home: Path, model: Model) -> list[str]:
    """Every way the store differs from what was acknowledged; [] when it holds all of it."""
    records = observe(home)
    found = []
    for image_id in set(model.images) | set(model.uncertain):
        expected = model.images.get(image_id)
        tags = model.tags.get(image_id, set())
        choices = [(expected, tags)]
        if image_id in model.uncertain:  # the dead writer's command: landed or not
            event = model.uncertain[image_id]
            landed_tags = tags | {event["tag"]} if event.get("tag") else tags
            choices.append((after(expected, event), landed_tags))
        record = records.get(image_id)
        seen = (None, set()) if record is None else (_state_of(record), set(record.get("tags") or []))
        if seen not in choices:
            found.append(f"{image_id}: store has {seen}, acknowledged {choices}")
        if record is not None and record["status"] == "active":
            data = home / "data" / image_id
            if not data.is_file() or _sha512(data) != record["os_hash_value"]:
                found.append(f"{image_id}: active but its data file is missing or wrong")
    return found


def _state_of(record: dict) -> ImageState:
    return ImageState(record["name"], record["status"], record.get("os_hash_value"))


def _sha512(path: Path) -> str:
    return hashlib.sha512(path.read_bytes()).hexdigest()


def leftovers(home: Path) -> list[str]:
    """Temp files, lease files and images in flight: all a dead writer may leave."""
    found = [str(p) for p in home.rglob("*") if ".tmp-" in p.name]
    leases = home / "leases"
    found += [str(p) for p in leases.iterdir()] if leases.is_dir() else []
    found += [f"{i} is {r['status']}" for i, r in observe(home).items()
              if r["status"] in ("saving", "uploading", "importing")]
    return found


# -- a worker -----------------------------------------------------------------
class Worker:
    """Runs random commands in-process (through the real CLI) and reports each one."""

    def __init__(self, number: int, home: Path, model: Model, rng: random.Random,
                 emit: Callable[[dict], None], weights: dict[str, int]):
        from click.testing import CliRunner

        self.number = number
        self.home = home
        self.model = model
        self.rng = rng
        self.emit = emit
        self.weights = weights
        self.runner = CliRunner()
        self.known: list[str] = []  # any worker's image ids, from the last list
        self.pool = rng.randbytes(max(UPLOAD_SIZES) + 4096)
        self.count = 0

    def run(self, until: float) -> None:
        while time.monotonic() < until:
            self.step()

    def step(self) -> None:
        self.count += 1
        op = self.rng.choices(list(self.weights), list(self.weights.values()))[0]
        mine = [i for i, s in self.model.images.items()
                if s.status != "deleted" and self.model.usable(i) and self._owns(i)]
        queued = [i for i in mine if self.model.images[i].status == "queued"]
        if op == "set" and mine:
            self.command({"op": "set", "image": self.rng.choice(mine), "name": self._name()},
                         "image", "set", "{image}", "--name", "{name}")
        elif op == "tag" and (self.known or mine):
            image_id = self.rng.choice(self.known or mine)
            # `known` comes from the last list; this worker may have deleted one since.
            if self.model.usable(image_id) and not self._deleted(image_id):
                self.command({"op": "tag", "image": image_id, "tag": f"t{self.number}-{self.count}"},
                             "image", "set", "{image}", "--tag", "{tag}")
        elif op == "upload" and queued:
            size = self.rng.choice(UPLOAD_SIZES)
            offset = self.rng.randrange(4096)
            data = self.count.to_bytes(8, "big") + self.pool[offset:offset + size]
            self.command({"op": "upload", "image": self.rng.choice(queued),
                          "sha512": hashlib.sha512(data).hexdigest()},
                         "image", "upload", "{image}", input=data)
        elif op == "delete" and mine:
            self.command({"op": "delete", "image": self.rng.choice(mine)}, "image", "delete", "{image}")
        elif op == "list":
            self.list()
        else:
            self.command({"op": "create", "image": str(uuid.uuid4()), "name": self._name(),
                          "tag": f"w{self.number}"},
                         "image", "create", "{name}", "--id", "{image}", "--tag", "{tag}", *FORMATS)

    def _deleted(self, image_id: str) -> bool:
        state = self.model.images.get(image_id)
        return state is not None and state.status == "deleted"

    def _owns(self, image_id: str) -> bool:
        return image_id in self.model.tags and f"w{self.number}" in self.model.tags[image_id]

    def _name(self) -> str:
        return f"w{self.number}-{self.count}"

    def command(self, event: dict, *args: str, input: bytes | None = None) -> dict:
        event = {"worker": self.number, **event}
        self.emit({**event, "phase": "intent"})
        result = self.runner.invoke(
            _cli(), [a.format(**event) for a in args], input=input,
            env={"GLANCECTL_HOME": str(self.home)})
        done = {**event, "phase": "done", "exit": result.exit_code,
                "error": (result.stderr or repr(result.exception))[-300:] if result.exit_code else ""}
        self.emit(done)
        self.model.feed(done)
        return {**done, "stdout": result.stdout}

    def list(self) -> None:
        done = self.command({"op": "list"}, "image", "list", "-f", "json", "--limit", "200")
        if done["exit"] == 0:
            try:
                self.known = [image["id"] for image in json.loads(done["stdout"])]
            except json.JSONDecodeError:
                self.emit({**done, "phase": "done", "op": "list-unreadable", "exit": -1})


def _cli():
    from glancectl.cli.main import cli

    return cli


def line_emitter(fd: int) -> Callable[[dict], None]:
    """Whole lines, each in one write: a pipe never tears a line under PIPE_BUF."""

    def emit(event: dict) -> None:
        data = (json.dumps(event) + "\n").encode()
        assert len(data) < 4096
        os.write(fd, data)

    return emit


def read_events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


LOAD_WEIGHTS = {"create": 25, "set": 15, "tag": 20, "upload": 12, "delete": 8, "list": 20}


def main(argv: list[str]) -> None:
    home, number, seed, seconds = Path(argv[0]), int(argv[1]), int(argv[2]), float(argv[3])
    worker = Worker(number, home, Model(), random.Random(seed), line_emitter(1), LOAD_WEIGHTS)
    start = float(argv[4]) if len(argv) > 4 else time.time()
    time.sleep(max(0.0, start - time.time()))  # all workers begin together
    worker.run(time.monotonic() + seconds)


if __name__ == "__main__":
    main(sys.argv[1:])
