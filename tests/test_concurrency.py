"""Several glancectl processes on one store: no acknowledged write is ever lost."""

from __future__ import annotations

import json
import threading

import pytest

from tests.conftest import run_launcher

pytestmark = pytest.mark.slow
WORKERS = 8
ROUNDS = 6


def test_eight_processes_create_and_update(tmp_path):
    home = tmp_path / "h"
    acknowledged: dict[str, str] = {}  # id -> name it was last acknowledged with
    failures: list[str] = []
    reader_errors: list[str] = []
    stop = threading.Event()
    guard = threading.Lock()

    def worker(n: int) -> None:
        for r in range(ROUNDS):
            made = run_launcher("image", "create", f"w{n}-{r}", "--tag", f"w{n}", "-q", home=home)
            if made.returncode != 0:
                failures.append(made.stderr.decode())
                continue
            image_id = made.stdout.decode().strip()
            renamed = f"w{n}-{r}-renamed"
            changed = run_launcher("image", "set", image_id, "--name", renamed, "-f", "json", home=home)
            with guard:
                acknowledged[image_id] = renamed if changed.returncode == 0 else f"w{n}-{r}"
            if changed.returncode != 0:
                failures.append(changed.stderr.decode())

    def reader() -> None:
        while not stop.is_set():
            listed = run_launcher("image", "list", "-f", "json", home=home)
            if listed.returncode != 0:
                reader_errors.append(listed.stderr.decode())
            else:
                json.loads(listed.stdout)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(WORKERS)]
    watcher = threading.Thread(target=reader)
    watcher.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watcher.join()

    assert failures == []
    assert reader_errors == []
    final = json.loads(run_launcher("image", "list", "-f", "json", home=home).stdout)
    assert {i["id"]: i["name"] for i in final} == acknowledged
    assert len(acknowledged) == WORKERS * ROUNDS
    assert not [p for p in home.rglob("*") if ".tmp-" in p.name]
