"""Schedules: backups that start by themselves, each slot exactly once
(a unique (schedule, slot) row decides), ticked beside the watchdog."""
