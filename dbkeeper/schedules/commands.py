"""``dbkeeper schedule add | list | edit | pause | resume | remove | preview | runs``."""

import json
import sys

from ..audit.context import acting_user

RETENTION_OPTIONS = ("keep_last", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")


def register(sub):
    p = sub.add_parser("schedule", help="backups that start by themselves (cron, per target)")
    ssub = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    a = ssub.add_parser("add", help="add a schedule (its next five run times are printed)")
    a.add_argument("name")
    a.add_argument("--target", required=True, help="a configured target's name")
    a.add_argument("--cron", required=True, help='five fields: minute hour day-of-month month day-of-week, e.g. "0 3 * * *"')
    _options(a)
    a.add_argument("--paused", action="store_true", help="add it paused")
    a.set_defaults(func=cmd_add)

    e = ssub.add_parser("edit", help="change a schedule (only the options given)")
    e.add_argument("schedule", help="id or name")
    e.add_argument("--name", default=None, help="a new name")
    e.add_argument("--target", default=None)
    e.add_argument("--cron", default=None)
    _options(e)
    e.add_argument("--no-encrypt", dest="encrypt", action="store_false", help="stop encrypting its backups")
    e.add_argument("--no-retention", action="store_true", help="keep every backup (an empty retention policy)")
    e.set_defaults(func=cmd_edit)

    ls = ssub.add_parser("list", help="the schedules, their next run and last run")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=cmd_list)

    for action, help_text in (("pause", "stop starting runs (the schedule is kept)"),
                              ("resume", "start runs again, from the next slot on"),
                              ("remove", "remove a schedule (its backups are kept)")):
        q = ssub.add_parser(action, help=help_text)
        q.add_argument("schedule", help="id or name")
        q.set_defaults(func=cmd_change, change=action)

    pv = ssub.add_parser("preview", help="the next five run times of a cron expression, nothing saved")
    pv.add_argument("cron")
    pv.add_argument("--timezone", default=None, help="default: the server's TIME_ZONE")
    pv.add_argument("--json", action="store_true", help="print JSON")
    pv.set_defaults(func=cmd_preview)

    r = ssub.add_parser("runs", help="a schedule's runs, newest first")
    r.add_argument("schedule", help="id or name")
    r.add_argument("--limit", type=int, default=30)
    r.add_argument("--json", action="store_true", help="print JSON")
    r.set_defaults(func=cmd_runs)


def _options(p):
    p.add_argument("--timezone", default=None, help="time zone of the cron times (default: the server's TIME_ZONE)")
    p.add_argument("--format", default=None, help="backup format (default: the target's)")
    p.add_argument("--storage", default=None, help="backup storage (default: the configured one)")
    p.add_argument("--encrypt", action="store_true", default=None, help="encrypt to the AGE_RECIPIENTS keys")
    p.add_argument("--verify-every", type=int, default=None, metavar="N",
                   help="verify every Nth backup (1: every one, 0: never)")
    for key in RETENTION_OPTIONS:
        p.add_argument("--" + key.replace("_", "-"), type=int, default=None, metavar="N")
    p.add_argument("--keep-within", default=None, metavar="DURATION", help="e.g. 30d, 12h, 1y2m")
    p.add_argument("--json", action="store_true", help="print the schedule as JSON")


def _retention(args):
    policy = {k: getattr(args, k) for k in RETENTION_OPTIONS if getattr(args, k) is not None}
    if args.keep_within is not None:
        policy["keep_within"] = args.keep_within
    return policy


def _data(args, editing=False):
    data = {}
    for key in ("name", "target", "cron", "timezone", "format", "storage", "encrypt", "verify_every"):
        value = getattr(args, key, None)
        if value is not None:
            data[key] = value
    policy = _retention(args)
    if getattr(args, "no_retention", False):
        data["retention"] = {}
    elif policy:
        data["retention"] = policy
    return data


def _migrated():
    from ..server import migrate

    migrate()


def _show(schedule, args):
    from . import service

    if args.json:
        sys.stdout.write(json.dumps(service.as_dict(schedule), indent=2, ensure_ascii=False) + "\n")
        return
    state = "" if schedule.enabled else " (paused)"
    sys.stdout.write(f"schedule {schedule.name} ({schedule.id}){state}: {schedule.cron} in {schedule.timezone}, "
                     f"target {schedule.target}\n")
    if schedule.enabled:
        sys.stdout.write("next runs:\n")
        for when in service.next_times(schedule):
            sys.stdout.write(f"  {when.strftime('%Y-%m-%d %H:%M %Z')}\n")


def cmd_add(args):
    from . import service

    _migrated()
    data = _data(args)
    if args.paused:
        data["enabled"] = False
    _show(service.create_schedule(data, user=acting_user()), args)
    return 0


def cmd_edit(args):
    from . import service

    _migrated()
    _show(service.update_schedule(args.schedule, _data(args, editing=True), user=acting_user()), args)
    return 0


def cmd_change(args):
    from . import service

    _migrated()
    if args.change == "remove":
        schedule = service.find(args.schedule)
        service.delete_schedule(schedule.id, user=acting_user())
        sys.stdout.write(f"removed schedule {schedule.name} ({schedule.id}); its backups are kept\n")
        return 0
    schedule = service.set_enabled(args.schedule, args.change == "resume", user=acting_user())
    sys.stdout.write(f"schedule {schedule.name} ({schedule.id}) {'resumed' if schedule.enabled else 'paused'}\n")
    return 0


def cmd_list(args):
    from ..listing import open_records, print_json, print_table, say_empty
    from . import service

    if not open_records(args.json):
        return 0
    schedules = service.list_schedules(user=acting_user())
    latest = service.last_runs(schedules)
    rows = [service.as_dict(s, last_run=latest.get(s.id)) for s in schedules]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        say_empty("schedules", hint=": add one with 'dbkeeper schedule add NAME --target T --cron \"0 3 * * *\"'")
        return 0
    print_table(["id", "name", "target", "cron", "time zone", "next run", "last run"],
                [[r["id"], r["name"], r["target"], r["cron"], r["timezone"],
                  r["next_times"][0][:16].replace("T", " ") if r["next_times"] else "paused",
                  f"{r['last_run']['slot'].replace('T', ' ')} {r['last_run']['status']}" if r["last_run"] else ""]
                 for r in rows], keep={"id", "name"})
    return 0


def cmd_preview(args):
    from . import service

    _migrated()
    times = service.preview({"cron": args.cron, **({"timezone": args.timezone} if args.timezone else {})})
    if args.json:
        sys.stdout.write(json.dumps([t.isoformat() for t in times]) + "\n")
        return 0
    for when in times:
        sys.stdout.write(f"{when.strftime('%Y-%m-%d %H:%M %Z')}\n")
    return 0


def cmd_runs(args):
    from ..listing import print_json, print_table
    from . import service
    from .models import ScheduleRun

    _migrated()
    schedule = service.get_schedule(args.schedule, acting_user())
    rows = [service.run_dict(r) for r in ScheduleRun.objects.filter(schedule=schedule)[:max(args.limit, 1)]]
    if args.json:
        print_json(rows)
        return 0
    print_table(["slot", "status", "operation", "backup", "message"],
                [[r["slot"].replace("T", " "), r["status"], r["operation_id"], r["backup_id"], r["message"]]
                 for r in rows], keep={"slot", "operation", "backup"})
    return 0
