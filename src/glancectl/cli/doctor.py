"""`glancectl doctor`: parsing and rendering only; the checks live in operations.doctor."""

from __future__ import annotations

from dataclasses import asdict

import click

from glancectl.cli.context import Env
from glancectl.cli.helptext import Command
from glancectl.cli.output import output_options, render_many
from glancectl.cli.params import pass_env
from glancectl.exit_codes import ExitCode
from glancectl.operations import doctor as doctor_ops

COLUMNS = ("check", "subject", "problem", "action")


@click.command("doctor", cls=Command)
@click.option("--verify-data", is_flag=True,
              help="Also hash every data file and compare it with the recorded "
                   "os_hash_value and checksum (reads all the data).")
@click.option("--repair", is_flag=True,
              help="Fix what is safe to fix, and say what was done.")
@click.option("--purge-quarantine", is_flag=True,
              help="Delete, for good, the data earlier repairs moved to the quarantine folder.")
@output_options(many=True)
@pass_env
def doctor(env: Env, verify_data: bool, repair: bool, purge_quarantine: bool, output) -> None:
    """Check the store; with --repair, fix what can be fixed safely.

    Checks that every record file parses and holds records of the right
    shape, that active images' data files
    exist with the recorded size (and hash, with --verify-data), and looks
    for data no record owns, images and tasks stuck by a process that
    died, temporary files, symlinks, permissions looser than owner-only,
    and whether the name index (names/) and the renderings (rendered/) fit
    the image records, and the summaries (summaries/) the image and task
    records.

    --repair restores a damaged or missing record file from its previous
    copy (.bak) and says which records that loses, keeping the damaged file
    beside it. It returns stuck images to queued, fails stuck tasks, removes
    temporary files, tightens permissions, and rebuilds the name index,
    the renderings and the summaries. It never deletes image data:
    data no record owns is moved to quarantine/<time>/ in the home, and
    data a record may still own (in a damaged copy or the .bak of its
    record file, in a record file it cannot read, as another image's
    location, or at its own image's place in the store this one was copied
    or moved from) is reported, not moved. It never replaces a damaged file
    with an empty one, and changes nothing in a store with a newer schema.

    --purge-quarantine deletes what is in the quarantine folder.

    Exit status: 0 when nothing needs attention (after the repairs, with
    --repair); 7 when something does, or when the store is busy.

    \b
    Examples:
      glancectl doctor
      glancectl doctor --verify-data -f json
      glancectl doctor --repair
      glancectl doctor --purge-quarantine
    """
    report = doctor_ops.diagnose(env.store, env.settings, verify_data=verify_data, repair=repair,
                                 purge_quarantine=purge_quarantine)
    rows = [asdict(finding) for finding in report.findings]
    if rows or output.format != "table":
        render_many(env, output, rows, COLUMNS)
    env.message(_summary(report, repair))
    if report.needs_attention:
        raise click.exceptions.Exit(ExitCode.STORE_UNAVAILABLE)


def _summary(report: doctor_ops.Report, repair: bool) -> str:
    summary = _outcome(report, repair)
    if report.quarantined:
        summary += (f" {doctor_ops.plural(report.quarantined, 'file')} no record owned "
                    f"{'waits' if report.quarantined == 1 else 'wait'} in "
                    f"{report.home / doctor_ops.QUARANTINE}; 'glancectl doctor --purge-quarantine' "
                    "deletes them.")
    return summary


def _outcome(report: doctor_ops.Report, repair: bool) -> str:
    if not report.exists:
        return f"No store at {report.home} yet; nothing to check."
    checked = report.checked
    scope = (f"{checked.get('images', 0)} images, {checked.get('tasks', 0)} tasks, "
             f"{checked.get('data_files', 0)} data files")
    if checked.get("bytes_hashed"):
        scope += f" ({checked['bytes_hashed']} bytes hashed)"
    fixed = len(report.findings) - len(report.needs_attention)
    left = len(report.needs_attention)
    if not report.findings:
        return f"Store at {report.home} is healthy: checked {scope}."
    if repair:
        tail = f"{left} still need{'s' if left == 1 else ''} you." if left else "nothing else needs attention."
        return f"Repaired {doctor_ops.plural(fixed, 'problem')} in {report.home}; {tail}"
    repairable = sum(1 for f in report.findings if f.action.startswith("--repair"))
    return (f"Found {doctor_ops.plural(left, 'problem')} in {report.home} (checked {scope}); "
            f"'glancectl doctor --repair' can fix {repairable}.")
