"""The floor for `image list -f json`: the same work with nothing but the standard library.

Reads every shard, drops hidden/deleted records (or filters by --status/--tag),
sorts by created_at desc then id, flattens properties and prints JSON with
indent=2 -- what `glancectl image list -f json` must do at the least. Used as
the reference process by bench/records.py.

    python3 bench/list_floor.py STORE_HOME [--status active] [--tag t]
"""

import json
import os
import sys

HIDDEN = {"deleted", "pending_delete", "killed"}


def main(argv: list[str]) -> None:
    home = argv[0]
    status = tag = None
    if "--status" in argv:
        status = argv[argv.index("--status") + 1]
    if "--tag" in argv:
        tag = argv[argv.index("--tag") + 1]
    images = os.path.join(home, "images")
    found = []
    for name in sorted(os.listdir(images)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(images, name), "rb") as handle:
            doc = json.loads(handle.read())
        for rec in doc.get("images", {}).values():
            if status is not None:
                if rec.get("status") != status:
                    continue
            elif rec.get("status") in HIDDEN:
                continue
            if rec.get("os_hidden"):
                continue
            if tag is not None and tag not in (rec.get("tags") or ()):
                continue
            found.append(rec)
    found.sort(key=lambda r: (r.get("created_at") or "", r["id"]), reverse=True)
    out = []
    for rec in found:
        view = {k: v for k, v in rec.items() if k not in ("properties", "deleted_at")}
        view.update(rec.get("properties") or {})
        out.append(view)
    sys.stdout.write(json.dumps(out, indent=2, ensure_ascii=False))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
