-- 0003: fast reports. Each reply carries its current stance label (kept in step with the
-- stances table by triggers, so it can never drift), and two covering indexes let every
-- report query read one index instead of joining a million rows.

ALTER TABLE replies ADD COLUMN stance_label TEXT;
ALTER TABLE replies ADD COLUMN stance_low INTEGER;

UPDATE replies SET
    stance_label = (SELECT s.label FROM stances s
                    WHERE s.message_id = replies.message_id AND s.is_current = 1),
    stance_low = (SELECT s.low_confidence FROM stances s
                  WHERE s.message_id = replies.message_id AND s.is_current = 1);

CREATE TRIGGER stances_current_set AFTER INSERT ON stances WHEN NEW.is_current = 1
BEGIN
    UPDATE replies SET stance_label = NEW.label, stance_low = NEW.low_confidence
    WHERE message_id = NEW.message_id;
END;

CREATE TRIGGER stances_current_cleared AFTER UPDATE OF is_current ON stances
WHEN OLD.is_current = 1 AND NEW.is_current = 0
BEGIN
    UPDATE replies SET stance_label = NULL, stance_low = NULL WHERE message_id = NEW.message_id;
END;

CREATE TRIGGER stances_current_deleted AFTER DELETE ON stances WHEN OLD.is_current = 1
BEGIN
    UPDATE replies SET stance_label = NULL, stance_low = NULL WHERE message_id = OLD.message_id;
END;

DROP INDEX replies_period;
CREATE INDEX replies_report_period ON replies
    (guild_id, question_id, created_at, author_id, stance_label, stance_low, moderation, deleted_at);
CREATE INDEX replies_report_author ON replies
    (guild_id, question_id, author_id, created_at, stance_label, stance_low, moderation, deleted_at);
