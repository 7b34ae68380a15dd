-- 0004: moderation cases moderators resolve, per-guild moderation settings, privacy and
-- retention, brigading alerts.
--
-- A case now has a status: 'open' (held for review), 'approved' (kept), 'removed' (message
-- taken down), or 'closed' (a record that needs no decision, e.g. a timeout). It records who
-- resolved it, when and why, and where its review post with the Approve / Remove buttons is.
-- The action list widens to 'timeout', which needs a new CHECK: SQLite rebuilds the table.

CREATE TABLE moderation_events_v4 (
    id                 INTEGER PRIMARY KEY,
    guild_id           INTEGER NOT NULL,
    case_number        INTEGER NOT NULL,
    message_id         INTEGER,
    author_id          INTEGER,
    action             TEXT    NOT NULL
                       CHECK (action IN ('allow', 'review', 'remove', 'timeout')),
    reasons            TEXT    NOT NULL DEFAULT '[]',
    scores             TEXT    NOT NULL DEFAULT '{}',
    actor              TEXT    NOT NULL CHECK (actor IN ('auto', 'moderator')),
    moderator_id       INTEGER,
    created_at         TEXT    NOT NULL,
    status             TEXT    CHECK (status IN ('open', 'approved', 'removed', 'closed')),
    resolved_by        INTEGER,
    resolved_at        TEXT,
    resolution         TEXT,
    review_channel_id  INTEGER,
    review_message_id  INTEGER,
    UNIQUE (guild_id, case_number)
);

INSERT INTO moderation_events_v4 (id, guild_id, case_number, message_id, author_id, action,
    reasons, scores, actor, moderator_id, created_at, status)
SELECT id, guild_id, case_number, message_id, author_id, action, reasons, scores, actor,
    moderator_id, created_at,
    CASE action WHEN 'review' THEN 'open' WHEN 'remove' THEN 'removed' ELSE 'closed' END
FROM moderation_events;

DROP TABLE moderation_events;
ALTER TABLE moderation_events_v4 RENAME TO moderation_events;
CREATE INDEX moderation_events_message ON moderation_events (message_id);
CREATE INDEX moderation_events_author ON moderation_events (guild_id, author_id, created_at);
CREATE INDEX moderation_events_open ON moderation_events (guild_id, case_number)
    WHERE status = 'open';

-- Whoever records a case without a status gets the one its action implies.
CREATE TRIGGER moderation_events_status AFTER INSERT ON moderation_events
WHEN NEW.status IS NULL
BEGIN
    UPDATE moderation_events SET status =
        CASE NEW.action WHEN 'review' THEN 'open' WHEN 'remove' THEN 'removed' ELSE 'closed' END
    WHERE id = NEW.id;
END;

-- The policy (ModerationPolicy JSON), retention and the brigading alert's settings, per guild.
ALTER TABLE guild_settings ADD COLUMN moderation_policy TEXT;
ALTER TABLE guild_settings ADD COLUMN retention_days INTEGER CHECK (retention_days > 0);
ALTER TABLE guild_settings ADD COLUMN brigade_min_replies INTEGER;
ALTER TABLE guild_settings ADD COLUMN brigade_min_members INTEGER;
ALTER TABLE guild_settings ADD COLUMN brigade_window_minutes INTEGER;
ALTER TABLE guild_settings ADD COLUMN brigade_new_member_days INTEGER;

-- When the author joined the server (as Discord reported it with the message): new members'
-- bursts of same-stance replies are what a brigading alert looks for. NULL: not known.
ALTER TABLE replies ADD COLUMN member_joined_at TEXT;

-- Bursts already flagged to the moderators, so each is posted once.
CREATE TABLE brigading_alerts (
    id                INTEGER PRIMARY KEY,
    guild_id          INTEGER NOT NULL,
    question_id       TEXT    NOT NULL,
    label             TEXT    NOT NULL,
    first_at          TEXT    NOT NULL,
    last_at           TEXT    NOT NULL,
    replies           INTEGER NOT NULL,
    members           INTEGER NOT NULL,
    first_message_id  INTEGER NOT NULL,
    flagged_at        TEXT    NOT NULL,
    UNIQUE (guild_id, question_id, label, first_message_id)
);
CREATE INDEX brigading_alerts_time ON brigading_alerts (guild_id, question_id, label, last_at);
