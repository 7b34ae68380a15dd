-- 0002: remember when a guild's weekly summary schedule was set, so the scheduler catches up a
-- week it missed while offline but never posts for a week that was due before the schedule
-- existed.

ALTER TABLE guild_settings ADD COLUMN summary_scheduled_at TEXT;
