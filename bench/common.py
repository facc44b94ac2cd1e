"""Shared helpers for glancectl's benchmarks: fast store population, timing, tables.

Every benchmark times whole processes (``python3 ./glancectl --home DIR ...``),
because that is what a user pays for, and measures its reference in the same
run, interleaved with the glancectl measurements, so that noise from other
work on the machine lands on both sides of each ratio.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable or "python3"
RESULTS_DIR = REPO / "bench" / "results"  # git-ignored

# The code under test. Others edit the working tree while benchmarks run, so by
# default a benchmark measures a committed revision exported with `git archive`
# (read-only on the repository); `--rev worktree` measures the live tree.
CODE_ROOT = REPO
LAUNCHER = REPO / "glancectl"
CODE_REV = "worktree"


def use_revision(rev: str) -> None:
    global CODE_ROOT, LAUNCHER, CODE_REV
    if rev == "worktree":
        CODE_ROOT, CODE_REV = REPO, "worktree"
    elif os.path.isfile(os.path.join(rev, "glancectl")):
        # A directory holding a copy of the tree (e.g. with a fix applied, to measure it).
        CODE_ROOT, CODE_REV = Path(rev).resolve(), f"tree at {Path(rev).resolve()}"
    else:
        sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", f"{rev}^{{commit}}"],
                             capture_output=True, text=True, check=True).stdout.strip()
        root = Path(tempfile.gettempdir()) / f"glancectl-bench-src-{sha[:12]}"
        if not (root / "glancectl").exists():
            partial = root.with_name(root.name + f".partial-{os.getpid()}")
            partial.mkdir(parents=True, exist_ok=True)
            archive = subprocess.run(["git", "-C", str(REPO), "archive", sha, "glancectl", "src"],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(partial)], input=archive, check=True)
            try:
                os.rename(partial, root)
            except OSError:  # another benchmark got there first
                shutil.rmtree(partial, ignore_errors=True)
        CODE_ROOT, CODE_REV = root, sha[:12]
    LAUNCHER = CODE_ROOT / "glancectl"
    sys.path.insert(0, str(CODE_ROOT / "src"))

SHARD_PREFIX_LEN = 2
DIR_MODE = 0o700
FILE_MODE = 0o600

# -- the machine ------------------------------------------------------------


def machine(pyc: bool = True) -> dict:
    """The machine, the date and the code measured."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = ""
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = ""
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "git": rev,
        "measured": CODE_REV if CODE_REV != "worktree" else f"working tree (HEAD {rev})",
        "loadavg_at_start": load,
        "bytecode": "private .pyc cache (as an installed package)" if pyc
        else "no .pyc (PYTHONDONTWRITEBYTECODE=1)",
    }


def machine_line(info: dict) -> str:
    return (f"{info['cores']} cores, {info['cpu']}, Python {info['python']}, {info['os']}; "
            f"{info['date']}; code {info['measured']}; load avg at start {info['loadavg_at_start']}; "
            f"{info.get('bytecode', '')}")


# -- populating a store quickly -----------------------------------------------

DISK_FORMATS = ("qcow2", "raw", "vmdk", "iso", "vhd")
DISTROS = ("ubuntu", "debian", "fedora", "centos", "cirros", "rocky", "alpine")
TAG_POOL = ("gold", "base", "test", "prod", "gpu", "arm64", "x86_64", "nightly", "lts", "minimal")
BENCH_TAG = "t"  # `image list --tag t` looks for this; about 1 in 5 images has it


def _template() -> dict:
    """The exact key set ``records.new_image`` produces, so the populated shape cannot drift."""
    from glancectl import records

    return records.new_image(
        image_id=None, name="x", disk_format=None, container_format=None, visibility="shared",
        protected=False, os_hidden=False, min_disk=0, min_ram=0, properties={}, tags=[],
        owner="bench",
    )


def make_records(count: int, seed: int = 1, data_dir: str = "/srv/glancectl/data") -> list[dict]:
    """``count`` realistic image records, deterministic for a given seed.

    Mix: ~70% active (with size, checksum, sha512, and the location of their data in
    ``data_dir``; ~10% of them an http location instead), ~15% queued, ~5% deactivated, ~5% deleted
    (with deleted_at); a few custom properties and tags each; a few protected or hidden.
    """
    from glancectl.records import current_owner

    rng = random.Random(seed)
    template = _template()
    owner = current_owner()  # so `--owner` filters and ownership checks see a real owner
    base_time = _dt.datetime(2024, 1, 1, tzinfo=_dt.timezone.utc)
    out = []
    for i in range(count):
        image_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        # In bursts, as scripts create them: 10 within 3 s (so created_at ties), every 370 s.
        created = base_time + _dt.timedelta(seconds=(i // 10) * 370 + rng.randrange(3))
        stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
        roll = rng.random()
        status = ("active" if roll < 0.70 else "queued" if roll < 0.85
                  else "deactivated" if roll < 0.90 else "deleted")
        distro = rng.choice(DISTROS)
        tags = rng.sample(TAG_POOL, rng.randrange(0, 4))
        if rng.random() < 0.2:
            tags.append(BENCH_TAG)
        rec = dict(template)
        rec.update({
            "id": image_id,
            "name": f"{distro}-{i:06d}",
            "status": status,
            "visibility": rng.choice(("shared", "shared", "private", "public")),
            "protected": rng.random() < 0.02,
            "os_hidden": rng.random() < 0.02,
            "min_disk": rng.choice((0, 1, 10, 20)),
            "min_ram": rng.choice((0, 512, 1024, 2048)),
            "owner": owner,
            "tags": tags,
            "locations": [],
            "properties": {
                "os_distro": distro,
                "os_version": f"{rng.randrange(1, 40)}.{rng.randrange(0, 10)}",
                "architecture": rng.choice(("x86_64", "aarch64")),
                "hw_disk_bus": rng.choice(("virtio", "scsi")),
            },
            "created_at": stamp,
            "updated_at": stamp,
        })
        if "created_ns" in template:  # the hidden finer sort key, where the measured code has it
            rec["created_ns"] = int(created.timestamp()) * 10**9 + i
        if status != "queued":
            size = rng.randrange(10 * 2**20, 8 * 2**30)
            rec.update({
                "disk_format": rng.choice(DISK_FORMATS),
                "container_format": "bare",
                "size": size,
                "virtual_size": size * rng.choice((1, 2, 4)),
                "checksum": "%032x" % rng.getrandbits(128),
                "os_hash_algo": "sha512",
                "os_hash_value": "%0128x" % rng.getrandbits(512),
            })
            # As the CLI leaves them: uploaded data is a file location in the store (and
            # the upload writes status_reason after the other fields); 10% were
            # registered with `image location add` instead.
            if rng.random() < 0.10:
                rec["locations"] = [{"url": f"http://images.example.com/{image_id}.img",
                                     "metadata": {"store": "http"}}]
            else:
                rec["locations"] = [{"url": f"file://{data_dir}/{image_id}",
                                     "metadata": {"store": "file"}}]
                rec["status_reason"] = None
        if status == "deleted":
            rec["deleted_at"] = stamp
            rec["protected"] = False
        out.append(rec)
    return out


def _write_private(path: Path, payload: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(payload)


def populate(home: Path, count: int, seed: int = 1) -> list[dict]:
    """Write a store of ``count`` images straight into the shard files.

    Same layout the store uses: ``images/<first two hex digits>.json``, each a
    TinyDB document ``{"images": {"1": {...}, "2": {...}}}``, owner-only, plus
    ``meta.json``, plus the name index and sidecars the measured code would keep (built by
    that code), so what is measured is the store users have. Returns the records.
    """
    recs = make_records(count, seed, data_dir=str(home.resolve() / "data"))
    _write_table(home, "images", recs)
    _write_indexes(home)
    return recs


def _write_table(home: Path, name: str, records: list[dict]) -> None:
    """``records`` into the shard files of table ``name``, plus ``meta.json``."""
    shards: dict[str, dict] = defaultdict(dict)
    for rec in records:
        table = shards[rec["id"][:SHARD_PREFIX_LEN]]
        table[str(len(table) + 1)] = rec
    directory = home / name
    os.makedirs(directory, mode=DIR_MODE, exist_ok=True)
    os.chmod(home, DIR_MODE)
    for prefix, table in shards.items():
        payload = json.dumps({name: table}, separators=(",", ":"), ensure_ascii=False)
        _write_private(directory / f"{prefix}.json", payload.encode())
    _write_private(home / "meta.json", b'{"schema_version": 1}')


def _write_indexes(home: Path) -> None:
    """Whatever index the measured revision keeps beside the shards, built by its own code."""
    try:
        from glancectl.store import Store
    except ImportError:
        return
    store = Store(home)
    names = getattr(store.images, "names", None)
    if names is not None:
        names.rebuild()
    for table in (store.images, store.tasks):
        # Renderings and summaries; before them, renderings alone (an attribute of images).
        for sidecars in (getattr(table, "renderings", None), getattr(table, "summaries", None)):
            if sidecars is not None:
                sidecars.rebuild(table.shard_reads())


TASK_TYPES = ("import", "import", "api_image_import")


def make_tasks(count: int, seed: int = 1) -> list[dict]:
    """``count`` finished and pending tasks, as ``records.new_task`` shapes them."""
    from glancectl import records

    rng = random.Random(seed)
    template = records.new_task(task_type="import", task_input={}, owner=records.current_owner())
    base_time = _dt.datetime(2024, 1, 1, tzinfo=_dt.timezone.utc)
    out = []
    for i in range(count):
        created = base_time + _dt.timedelta(seconds=(i // 10) * 110 + rng.randrange(3))  # bursts, as images
        stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
        status = rng.choice(("success", "success", "failure", "pending"))
        task = dict(template)
        task.update({
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "type": rng.choice(TASK_TYPES),
            "status": status,
            "input": {"import_from": f"http://example.com/{i}.img", "import_from_format": "qcow2",
                      "image_properties": {"name": f"t-{i}"}},
            "result": {"image_id": str(uuid.UUID(int=rng.getrandbits(128), version=4))}
            if status == "success" else None,
            "message": "source unreachable" if status == "failure" else "",
            "expires_at": "2099-01-01T00:00:00Z" if status != "pending" else None,
            "created_at": stamp,
            "updated_at": stamp,
        })
        if "created_ns" in template:
            task["created_ns"] = int(created.timestamp()) * 10**9 + i
        if status == "pending":
            task["run_later"] = True  # recorded with --no-worker: pending on purpose, never failed
        out.append(task)
    return out


def populate_tasks(home: Path, count: int, seed: int = 1) -> list[dict]:
    """A store of ``count`` tasks (and no images), written like ``populate``."""
    tasks = make_tasks(count, seed)
    _write_table(home, "tasks", tasks)
    _write_indexes(home)
    return tasks


class Stores:
    """Temporary populated stores, removed on exit unless ``keep``."""

    def __init__(self, root: str | None = None, keep: bool = False):
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="glancectl-bench-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.keep = keep

    def make(self, name: str, count: int, seed: int = 1) -> tuple[Path, list[dict], float]:
        home = self.root / name
        if home.exists():
            shutil.rmtree(home)
        start = time.perf_counter()
        recs = populate(home, count, seed)
        return home, recs, time.perf_counter() - start

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)


# -- timing ---------------------------------------------------------------------

# This sandbox sets PYTHONDONTWRITEBYTECODE=1, so without help every run would
# recompile glancectl from source -- a cost no installed user pays (pip writes
# .pyc files at install time). By default the benchmarks give their processes
# a private bytecode cache instead (outside the working tree), warmed before
# timing; `--no-pyc` measures the environment as it is.
PYCACHE = Path(tempfile.gettempdir()) / "glancectl-bench-pycache"
_ENV: dict | None = None


def configure(*, pyc: bool = True) -> None:
    global _ENV
    env = dict(os.environ)
    if pyc:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    _ENV = env


def bench_env() -> dict:
    if _ENV is None:
        configure()
    return _ENV


def glancectl_cmd(home: Path | None, *args: str) -> list[str]:
    cmd = [PYTHON, str(LAUNCHER)]
    if home is not None:
        cmd += ["--home", str(home)]
    return cmd + list(args)


def run_timed(cmd: list[str], *, capture: bool = False, check: bool = True,
              env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    """Wall time of one whole process. Output goes to a pipe when captured, else /dev/null."""
    env = env if env is not None else bench_env()
    start = time.perf_counter()
    proc = subprocess.run(
        cmd,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    elapsed = time.perf_counter() - start
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr.decode(errors='replace')}"
        )
    return elapsed, proc


def run_measured(cmd: list[str], *, env: dict | None = None) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak RSS in KiB) of one whole process; output to /dev/null.

    Through /usr/bin/time: a child forked from this (large) process would report
    our own peak RSS as its own, because Linux carries it over fork and exec.
    """
    env = env if env is not None else bench_env()
    with tempfile.NamedTemporaryFile("r") as report:
        start = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", report.name, *cmd],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n"
                               f"{proc.stderr.decode(errors='replace')}")
        user, system, peak = report.read().split()[-3:]
    return elapsed, float(user) + float(system), int(peak)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -- results ----------------------------------------------------------------------


@dataclass
class Row:
    benchmark: str
    glancectl: float  # seconds (median) or a rate, see unit
    reference: float
    reference_name: str
    target: str  # e.g. "<= 1.30x", "< 1.00 s"
    ok: bool | None  # None: informational, no target
    unit: str = "s"
    note: str = ""
    samples: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.glancectl / self.reference if self.reference else float("nan")


def fmt_value(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"
    return f"{value:.1f} {unit}"


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("PASS" if ok else "MISS")


def print_table(title: str, rows: list[Row], *, markdown: bool = False, file=None) -> None:
    file = file or sys.stdout
    headers = ["benchmark", "glancectl", "reference", "ratio", "target", "result"]
    body = [[r.benchmark, fmt_value(r.glancectl, r.unit),
             f"{fmt_value(r.reference, r.unit)} ({r.reference_name})",
             f"{r.ratio:.2f}x", r.target, verdict(r.ok)] for r in rows]
    if markdown:
        print(f"\n#### {title}\n", file=file)
        print("| " + " | ".join(headers) + " |", file=file)
        print("|" + "|".join("---" for _ in headers) + "|", file=file)
        for line in body:
            print("| " + " | ".join(line) + " |", file=file)
        notes = [f"{r.benchmark}: {r.note}" for r in rows if r.note]
        if notes:
            print("", file=file)
            for note in notes:
                print(f"- {note}", file=file)
        return
    widths = [max(len(h), *(len(line[i]) for line in body)) if body else len(h)
              for i, h in enumerate(headers)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    print(f"\n{title}", file=file)
    print(rule, file=file)
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |", file=file)
    print(rule, file=file)
    for line in body:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(line, widths)) + " |", file=file)
    print(rule, file=file)
    for r in rows:
        if r.note:
            print(f"  {r.benchmark}: {r.note}", file=file)


def save_results(name: str, info: dict, rows: list[Row], extra: dict | None = None) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    doc = {"machine": info, "argv": sys.argv, "rows": [
        {**asdict(r), "ratio": r.ratio} for r in rows], **(extra or {})}
    path.write_text(json.dumps(doc, indent=2))
    return path


def add_common_args(ap) -> None:
    ap.add_argument("--no-pyc", action="store_true",
                    help="run with PYTHONDONTWRITEBYTECODE=1 (recompile every run) instead of "
                         "a warm private .pyc cache")
    ap.add_argument("--rev", default="HEAD",
                    help="git revision to measure, exported to a temp dir (default: HEAD); "
                         "'worktree' measures the working tree as it is; a directory holding "
                         "a copy of the tree (launcher + src/) measures that copy")
    ap.add_argument("--markdown", action="store_true", help="also print markdown tables")


def add_data_path_args(ap, *, mib: int, what: str) -> None:
    """The options every data-path benchmark shares: file size, rounds, work directory."""
    ap.add_argument("--mib", type=int, default=mib, help=f"size of {what} in MiB (default {mib})")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--dir", default=None, help="work directory (default: a temp dir under /tmp)")


def setup(args) -> dict:
    use_revision(args.rev)
    configure(pyc=not args.no_pyc)
    info = machine(pyc=not args.no_pyc)
    print(machine_line(info), flush=True)
    return info


def parse_sizes(text: str) -> list[int]:
    sizes = []
    for part in text.split(","):
        part = part.strip().lower().replace("_", "")
        if not part:
            continue
        mult = 1
        if part.endswith("k"):
            mult, part = 1000, part[:-1]
        sizes.append(int(float(part) * mult))
    return sizes


def interleaved(subjects: dict, runs: int, measure) -> dict[str, list[float]]:
    """``measure(subject)`` for every subject, ``runs`` times, rotating the order each run,
    so drift on the machine lands on every subject alike."""
    times: dict[str, list[float]] = {name: [] for name in subjects}
    for run in range(runs):
        for name in rotated(list(subjects), run):
            times[name].append(measure(subjects[name]))
    return times


def rotated(names: list[str], run: int) -> list[str]:
    """``names`` starting at a different one each run: none always goes first or last."""
    shift = run % len(names)
    return names[shift:] + names[:shift]


def report(name: str, title: str, rows: list[Row], info: dict, *, markdown: bool,
           markdown_title: str | None = None, extra: dict | None = None, ok: bool = True) -> int:
    """Print the table (and markdown), save the results; the exit status says if all targets held."""
    print_table(title, rows)
    if markdown:
        print_table(markdown_title or title, rows, markdown=True)
    path = save_results(name, info, rows, extra)
    print(f"\nresults: {path}")
    return 0 if ok and all(r.ok is not False for r in rows) else 1
