"""The retention planner (backups/retention.py): hand-worked cases, then a
second implementation written here from restic's documentation of
``forget`` ("Removing snapshots according to a policy"), run over 400
simulated days of backups with gaps, in two time zones across changes of
daylight-saving time: both must keep the same backups for the same reasons."""

import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from dbkeeper.backups import retention
from dbkeeper.backups.retention import Candidate, PolicyError, clean_policy, parse_duration, plan

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def at(text, tz=UTC):
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def backups(*moments, tz=UTC):
    return [Candidate(f"b{i:03d}", at(m, tz)) for i, m in enumerate(moments)]


def outcome(decisions):
    return {d.id: (d.keep, [str(r) for r in d.reasons]) for d in decisions}


LATER = at("2030-01-01T00:00")


# -- hand-worked cases ----------------------------------------------------------------------------------------

def test_keep_last_keeps_the_newest_n():
    rows = backups("2026-11-01T10:00", "2026-11-02T10:00", "2026-11-03T10:00", "2026-11-04T10:00")
    got = outcome(plan(rows, {"keep_last": 2}, "UTC", now=LATER))
    assert got == {"b003": (True, ["last 2"]), "b002": (True, ["last 2"]),
                   "b001": (False, ["no rule keeps it"]), "b000": (False, ["no rule keeps it"])}


def test_keep_daily_keeps_the_newest_of_each_day_that_has_one_and_skips_gaps():
    # Two on the 29th, none on the 27th: the last 3 days *that have a backup* are 29, 28, 26.
    rows = backups("2026-11-25T09:00", "2026-11-26T09:00", "2026-11-26T18:00", "2026-11-28T09:00",
                   "2026-11-29T09:00", "2026-11-29T21:00")
    got = outcome(plan(rows, {"keep_daily": 3}, "UTC", now=LATER))
    assert got["b005"] == (True, ["daily 2026-11-29"])
    assert got["b004"] == (False, ["no rule keeps it"])  # an older one of the same day
    assert got["b003"] == (True, ["daily 2026-11-28"])
    assert got["b002"] == (True, ["daily 2026-11-26"])  # the newest of the 26th
    assert got["b001"][0] is False and got["b000"][0] is False


def test_the_oldest_is_kept_too_while_a_rule_has_periods_left():
    # keep_daily 5 but only two days: the oldest backup is kept additionally (restic).
    rows = backups("2026-11-28T08:00", "2026-11-28T20:00", "2026-11-29T09:00")
    got = outcome(plan(rows, {"keep_daily": 5}, "UTC", now=LATER))
    assert got == {"b002": (True, ["daily 2026-11-29"]), "b001": (True, ["daily 2026-11-28"]),
                   "b000": (True, ["daily 2026-11-28, the oldest backup"])}
    # With exactly as many days as asked, it is not.
    got = outcome(plan(rows, {"keep_daily": 2}, "UTC", now=LATER))
    assert got["b000"] == (False, ["no rule keeps it"])


def test_weekly_monthly_yearly_use_iso_weeks_and_calendar_periods():
    rows = backups("2025-12-31T12:00", "2026-01-01T12:00", "2026-11-22T12:00", "2026-11-23T12:00",
                   "2026-11-29T12:00")
    got = outcome(plan(rows, {"keep_weekly": 3, "keep_monthly": 2, "keep_yearly": 2}, "UTC", now=LATER))
    assert got["b004"] == (True, ["weekly 2026-W48", "monthly 2026-11", "yearly 2026"])
    # Monday 23rd and Sunday 29th are one ISO week: only the newer is that week's.
    assert got["b003"] == (False, ["no rule keeps it"])
    assert got["b002"] == (True, ["weekly 2026-W47"])
    # 31 Dec 2025 and 1 Jan 2026 are both in ISO week 2026-W01: the newer one is that week's.
    assert got["b001"] == (True, ["weekly 2026-W01", "monthly 2026-01"])
    assert got["b000"] == (True, ["yearly 2025"])


def test_keep_within_counts_back_from_the_newest_backup_not_from_now():
    rows = backups("2026-01-01T00:00", "2026-01-20T00:00", "2026-01-25T12:00", "2026-01-31T00:00")
    # Backups stopped long ago: "within 10d" still keeps the last ten days of them.
    got = outcome(plan(rows, {"keep_within": "10d"}, "UTC", now=at("2026-11-30T00:00")))
    assert got["b003"] == (True, ["within 10d"]) and got["b002"] == (True, ["within 10d"])
    assert got["b001"][0] is False and got["b000"][0] is False
    # Strictly newer than the limit: exactly 11 days before is out.
    got = outcome(plan(rows, {"keep_within": "11d"}, "UTC", now=at("2026-11-30T00:00")))
    assert got["b001"] == (False, ["no rule keeps it"])
    # A future backup (a wrong clock) is not "the newest" the duration counts from.
    future = rows + [Candidate("future", at("2027-06-01T00:00"))]
    got = outcome(plan(future, {"keep_within": "10d"}, "UTC", now=at("2026-11-30T00:00")))
    assert got["b003"][0] and got["b002"][0] and got["future"][0]


def test_keep_within_months_normalise_like_restic():
    # A month before 31 March is "31 February", which restic (Go) reads as 3 March.
    limit = parse_duration("1m").before(at("2026-03-31T12:00"), UTC)
    assert limit == at("2026-03-03T12:00")
    assert parse_duration("1y2m5d3h").before(at("2026-11-30T12:00"), UTC) == at("2025-09-25T09:00")


def test_protected_backups_are_kept_whatever_the_policy():
    rows = [Candidate("old-pinned", at("2026-01-01T00:00"), pinned=True),
            Candidate("old-in-use", at("2026-01-02T00:00"), in_use=True),
            Candidate("old-verified", at("2026-01-03T00:00"), newest_verified=True),
            Candidate("old", at("2026-01-04T00:00")),
            Candidate("new", at("2026-11-29T00:00"))]
    got = outcome(plan(rows, {"keep_last": 1}, "UTC", now=LATER))
    assert got == {"new": (True, ["last 1"]), "old": (False, ["no rule keeps it"]),
                   "old-verified": (True, ["newest verified"]), "old-in-use": (True, ["in use"]),
                   "old-pinned": (True, ["pinned"])}


def test_an_empty_policy_keeps_everything():
    rows = backups("2026-01-01T00:00", "2026-01-02T00:00")
    for policy in ({}, None):
        assert all(d.keep and [str(r) for r in d.reasons] == ["no retention policy"]
                   for d in plan(rows, policy, "UTC"))


def test_unlimited_keeps_every_period():
    rows = backups("2026-01-01T00:00", "2026-01-01T05:00", "2026-02-01T00:00", "2026-03-01T00:00")
    got = outcome(plan(rows, {"keep_monthly": -1}, "UTC", now=LATER))
    assert [got[k][0] for k in ("b003", "b002", "b001", "b000")] == [True, True, True, True]
    assert got["b000"] == (True, ["monthly 2026-01, the oldest backup"])


def test_periods_are_read_in_the_policy_time_zone():
    # 23:30 UTC on 28 Nov is 00:30 on 29 Nov in Paris: two different days there, one in UTC.
    rows = backups("2026-11-28T10:00", "2026-11-28T23:30")
    assert outcome(plan(rows, {"keep_daily": 1}, "UTC", now=LATER))["b001"] == (True, ["daily 2026-11-28"])
    got = outcome(plan(rows, {"keep_daily": 2}, "Europe/Paris", now=LATER))
    assert got["b001"] == (True, ["daily 2026-11-29"]) and got["b000"] == (True, ["daily 2026-11-28"])


@pytest.mark.parametrize("policy, words", [
    ({"keep_daily": "seven"}, "keep_daily must be a whole number"),
    ({"keep_daily": -2}, "keep_daily must be a whole number"),
    ({"keep_daily": 1.5}, "keep_daily must be a whole number"),
    ({"keep_hourly": 3}, "Unknown retention rule keep_hourly"),
    ({"keep_within": "30 days"}, "30 days is not a duration"),
    ({"keep_within": "1d1d"}, "1d1d is not a duration"),
    ({"keep_within": "0d"}, "longer than zero"),
    ([1, 2], "A retention policy is a set of keep rules"),
])
def test_bad_policies_are_refused_with_a_sentence(policy, words):
    with pytest.raises(PolicyError) as caught:
        clean_policy(policy)
    assert words in caught.value.message and caught.value.code == "invalid_policy"


def test_a_bad_time_zone_is_refused():
    with pytest.raises(PolicyError, match="Mars/Olympus is not a time zone name"):
        plan([], {"keep_last": 1}, "Mars/Olympus")


def test_policy_values_are_normalised():
    assert clean_policy({"keep_last": "3", "keep_daily": 0, "keep_within": "1Y2m", "keep_yearly": "unlimited"}) == {
        "keep_last": 3, "keep_within": "1y2m", "keep_yearly": -1}


# -- a second implementation, from restic's documentation ------------------------------------------------------
#
# "--keep-daily n: for the last n days which have one or more snapshots, only keep the last one for that day"
# (likewise weeks, months, years; weeks are ISO weeks); "--keep-last n: never delete the n last (most recent)
# snapshots"; "--keep-within duration: keep all snapshots having a timestamp within the specified duration of
# the latest snapshot" (newer than the latest minus the duration); "If there are not enough snapshots to keep
# one for each duration related --keep-{within-,}* option, the oldest snapshot in the group is kept
# additionally"; the options combine (a snapshot is kept when any of them keeps it).

LABELS = {"keep_daily": ("daily", "%Y-%m-%d"), "keep_weekly": ("weekly", "%G-W%V"),
          "keep_monthly": ("monthly", "%Y-%m"), "keep_yearly": ("yearly", "%Y")}


def documented(rows, policy, zone, now):
    ordered = sorted(rows, key=lambda r: r.created_at.timestamp(), reverse=True)
    reasons = {r.id: [] for r in ordered}
    for r in ordered:
        reasons[r.id] += (["pinned"] if r.pinned else []) + (["in use"] if r.in_use else []) + (
            ["newest verified"] if r.newest_verified else [])
    if "keep_within" in policy:
        latest = max(r.created_at.timestamp() for r in ordered if r.created_at < now)
        days = int(policy["keep_within"][:-1])  # the simulation uses "Nd" only
        # Days on the zone's calendar (a day across a clock change is 23 or 25 hours).
        local = datetime.fromtimestamp(latest, zone)
        limit = datetime.combine(local.date() - timedelta(days=days), local.time(), zone).timestamp()
        for r in ordered:
            if r.created_at.timestamp() > limit:
                reasons[r.id].append(f"within {policy['keep_within']}")
    rules = {}
    if policy.get("keep_last"):
        wanted = policy["keep_last"]
        for r in ordered[: len(ordered) if wanted == -1 else wanted]:
            rules.setdefault(r.id, []).append(("keep_last", f"last {wanted}"))
    for rule, (label, pattern) in LABELS.items():
        wanted = policy.get(rule)
        if not wanted:
            continue
        newest_of = {}  # period -> newest backup in it, in the order periods are met (newest first)
        for r in ordered:
            newest_of.setdefault(datetime.fromtimestamp(r.created_at.timestamp(), zone).strftime(pattern), r)
        chosen = list(newest_of.items()) if wanted == -1 else list(newest_of.items())[:wanted]
        for period, r in chosen:
            rules.setdefault(r.id, []).append((rule, f"{label} {period}"))
        oldest = ordered[-1]
        enough = wanted != -1 and len(newest_of) >= wanted
        if not enough and all(r.id != oldest.id for _, r in chosen):
            period = datetime.fromtimestamp(oldest.created_at.timestamp(), zone).strftime(pattern)
            rules.setdefault(oldest.id, []).append((rule, f"{label} {period}, the oldest backup"))
    order = ["keep_last", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly"]
    out = {}
    for r in ordered:
        mine = sorted(rules.get(r.id, []), key=lambda item: order.index(item[0]))
        kept = reasons[r.id] + [text for _, text in mine]
        out[r.id] = (bool(kept), kept or ["no rule keeps it"])
    return out


def simulated(zone, seed):
    """400 days of nightly backups around midnight of ``zone`` (so that a
    clock change moves some across a day boundary), a few days with two or
    three, gaps of one to nine days, some pinned, one in use, one verified."""
    rng = random.Random(seed)
    start = datetime(2025, 10, 1, tzinfo=UTC)
    rows, day = [], 0
    while day < 400:
        if rng.random() < 0.12:
            day += rng.randint(1, 9)  # a gap
            continue
        for extra in range(rng.choice([1, 1, 1, 1, 2, 3])):
            local_midnight = datetime.combine((start + timedelta(days=day)).date(), datetime.min.time(), zone)
            # Distinct instants (the documentation does not say which of two equal times is newer).
            moment = local_midnight + timedelta(minutes=rng.randint(-90, 90) + 17 * extra, seconds=len(rows) % 60)
            rows.append(Candidate(f"s{len(rows):04d}", moment.astimezone(UTC), pinned=rng.random() < 0.01))
        day += 1
    rng.choice(rows).in_use = True
    rng.choice(rows).newest_verified = True
    return rows


POLICIES = [
    {"keep_daily": 7, "keep_weekly": 5, "keep_monthly": 12, "keep_yearly": 3},
    {"keep_last": 3, "keep_daily": 14, "keep_within": "10d"},
    {"keep_weekly": 60},  # more weeks than there are: the oldest kept additionally
    {"keep_monthly": -1, "keep_daily": 2},
    {"keep_within": "45d", "keep_yearly": 1},
    {"keep_last": 1},
]


@pytest.mark.parametrize("zone", [PARIS, NEW_YORK], ids=["Europe/Paris", "America/New_York"])
@pytest.mark.parametrize("policy", POLICIES, ids=[retention.describe(p) for p in POLICIES])
def test_both_implementations_keep_the_same_backups_for_the_same_reasons(zone, policy):
    rows = simulated(zone, seed=len(str(zone)) * 100 + POLICIES.index(policy))
    now = datetime(2026, 12, 1, tzinfo=UTC)
    mine = outcome(plan(rows, policy, zone, now=now))
    theirs = documented(rows, policy, zone, now)
    differing = {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]}
    assert not differing, differing
    kept = sum(1 for keep, _ in mine.values() if keep)
    assert 0 < kept < len(rows)


def test_the_simulation_crosses_clock_changes_and_day_boundaries_move_with_them():
    """The same UTC instants fall on different local days in summer and winter:
    a backup at 23:30 UTC is on the next day in Paris in both, at 00:30 in
    winter and 01:30 in summer; 22:30 UTC is the same day in winter only."""
    winter, summer = at("2026-01-15T22:30"), at("2026-07-15T22:30")
    got = outcome(plan([Candidate("w", winter), Candidate("s", summer)], {"keep_daily": 5}, PARIS, now=LATER))
    assert got["s"] == (True, ["daily 2026-07-16"]) and got["w"] == (True, ["daily 2026-01-15"])
    rows = simulated(PARIS, seed=1)
    assert rows[0].created_at < at("2025-10-26T00:00") < at("2026-03-29T00:00") < at("2026-10-25T00:00") < \
        rows[-1].created_at
