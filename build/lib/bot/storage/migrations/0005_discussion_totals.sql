-- 0005: whole-discussion totals kept by triggers, so "this week against the whole discussion"
-- reads a few thousand small rows instead of scanning every reply the discussion ever had.
--
-- question_totals: per guild and question, message counts by kind: 'visible' (not removed, not
--   deleted), 'removed', 'unclassified', 'low' (low-confidence) and 'label:<label>' (confident).
-- member_totals: per member, how many visible replies they have, and their latest (highest
--   message id) confident, visible reply whose label is not 'off_topic' — the reply that
--   counts for them — with its label.
-- Every change to a reply's visibility or stance goes through the replies table (stances reach
-- it through the 0003 triggers), so the triggers below see them all, deletions included.

CREATE TABLE question_totals (
    guild_id     INTEGER NOT NULL,
    question_id  TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    n            INTEGER NOT NULL,
    PRIMARY KEY (guild_id, question_id, kind)
) WITHOUT ROWID;

CREATE TABLE member_totals (
    guild_id     INTEGER NOT NULL,
    question_id  TEXT    NOT NULL,
    author_id    INTEGER NOT NULL,
    shown        INTEGER NOT NULL,          -- visible replies
    latest       INTEGER,                   -- message id of the reply that counts
    label        TEXT,
    PRIMARY KEY (guild_id, question_id, author_id)
) WITHOUT ROWID;
CREATE INDEX member_totals_label ON member_totals (guild_id, question_id, label);

INSERT INTO question_totals (guild_id, question_id, kind, n)
SELECT guild_id, question_id, kind, COUNT(*) FROM (
    SELECT guild_id, question_id, 'visible' AS kind FROM replies
    WHERE moderation != 'remove' AND deleted_at IS NULL
    UNION ALL
    SELECT guild_id, question_id, 'removed' FROM replies
    WHERE moderation = 'remove' AND deleted_at IS NULL
    UNION ALL
    SELECT guild_id, question_id, 'unclassified' FROM replies
    WHERE moderation != 'remove' AND deleted_at IS NULL AND stance_label IS NULL
    UNION ALL
    SELECT guild_id, question_id, 'low' FROM replies
    WHERE moderation != 'remove' AND deleted_at IS NULL AND stance_low = 1
    UNION ALL
    SELECT guild_id, question_id, 'label:' || stance_label FROM replies
    WHERE moderation != 'remove' AND deleted_at IS NULL AND stance_low = 0
      AND stance_label IS NOT NULL
) GROUP BY 1, 2, 3;

INSERT INTO member_totals (guild_id, question_id, author_id, shown, latest)
SELECT guild_id, question_id, author_id, SUM(moderation != 'remove'),
       MAX(CASE WHEN moderation != 'remove' AND stance_low = 0 AND stance_label != 'off_topic'
           THEN message_id END)
FROM replies WHERE deleted_at IS NULL
GROUP BY 1, 2, 3 HAVING SUM(moderation != 'remove') > 0;

UPDATE member_totals SET label = (SELECT stance_label FROM replies r
                                  WHERE r.message_id = member_totals.latest)
WHERE latest IS NOT NULL;

CREATE TRIGGER totals_reply_insert AFTER INSERT ON replies
BEGIN
    INSERT INTO question_totals (guild_id, question_id, kind, n)
    SELECT NEW.guild_id, NEW.question_id, kind, 1 FROM (
        SELECT 'visible' AS kind WHERE NEW.moderation != 'remove' AND NEW.deleted_at IS NULL
        UNION ALL SELECT 'removed' WHERE NEW.moderation = 'remove' AND NEW.deleted_at IS NULL
        UNION ALL SELECT 'unclassified' WHERE NEW.moderation != 'remove'
            AND NEW.deleted_at IS NULL AND NEW.stance_label IS NULL
        UNION ALL SELECT 'low' WHERE NEW.moderation != 'remove' AND NEW.deleted_at IS NULL
            AND NEW.stance_low = 1
        UNION ALL SELECT 'label:' || NEW.stance_label WHERE NEW.moderation != 'remove'
            AND NEW.deleted_at IS NULL AND NEW.stance_low = 0 AND NEW.stance_label IS NOT NULL
    ) WHERE 1
    ON CONFLICT DO UPDATE SET n = n + excluded.n;

    INSERT INTO member_totals (guild_id, question_id, author_id, shown)
    SELECT NEW.guild_id, NEW.question_id, NEW.author_id, 1
    WHERE NEW.moderation != 'remove' AND NEW.deleted_at IS NULL
    ON CONFLICT DO UPDATE SET shown = shown + 1;

    UPDATE member_totals SET (latest, label) = (NEW.message_id, NEW.stance_label)
    WHERE guild_id = NEW.guild_id AND question_id = NEW.question_id
      AND author_id = NEW.author_id
      AND NEW.moderation != 'remove' AND NEW.deleted_at IS NULL AND NEW.stance_low = 0
      AND NEW.stance_label != 'off_topic' AND (latest IS NULL OR latest < NEW.message_id);
END;

CREATE TRIGGER totals_reply_update
AFTER UPDATE OF moderation, deleted_at, stance_label, stance_low ON replies
WHEN OLD.moderation IS NOT NEW.moderation OR OLD.deleted_at IS NOT NEW.deleted_at
  OR OLD.stance_label IS NOT NEW.stance_label OR OLD.stance_low IS NOT NEW.stance_low
BEGIN
    INSERT INTO question_totals (guild_id, question_id, kind, n)
    SELECT NEW.guild_id, NEW.question_id, kind, delta FROM (
        SELECT 'visible' AS kind, -1 AS delta
            WHERE OLD.moderation != 'remove' AND OLD.deleted_at IS NULL
        UNION ALL SELECT 'removed', -1 WHERE OLD.moderation = 'remove' AND OLD.deleted_at IS NULL
        UNION ALL SELECT 'unclassified', -1 WHERE OLD.moderation != 'remove'
            AND OLD.deleted_at IS NULL AND OLD.stance_label IS NULL
        UNION ALL SELECT 'low', -1 WHERE OLD.moderation != 'remove' AND OLD.deleted_at IS NULL
            AND OLD.stance_low = 1
        UNION ALL SELECT 'label:' || OLD.stance_label, -1 WHERE OLD.moderation != 'remove'
            AND OLD.deleted_at IS NULL AND OLD.stance_low = 0 AND OLD.stance_label IS NOT NULL
        UNION ALL SELECT 'visible', 1 WHERE NEW.moderation != 'remove' AND NEW.deleted_at IS NULL
        UNION ALL SELECT 'removed', 1 WHERE NEW.moderation = 'remove' AND NEW.deleted_at IS NULL
        UNION ALL SELECT 'unclassified', 1 WHERE NEW.moderation != 'remove'
            AND NEW.deleted_at IS NULL AND NEW.stance_label IS NULL
        UNION ALL SELECT 'low', 1 WHERE NEW.moderation != 'remove' AND NEW.deleted_at IS NULL
            AND NEW.stance_low = 1
        UNION ALL SELECT 'label:' || NEW.stance_label, 1 WHERE NEW.moderation != 'remove'
            AND NEW.deleted_at IS NULL AND NEW.stance_low = 0 AND NEW.stance_label IS NOT NULL
    ) WHERE 1
    ON CONFLICT DO UPDATE SET n = n + excluded.n;

    INSERT INTO member_totals (guild_id, question_id, author_id, shown)
    VALUES (NEW.guild_id, NEW.question_id, NEW.author_id,
            (NEW.moderation != 'remove' AND NEW.deleted_at IS NULL)
            - (OLD.moderation != 'remove' AND OLD.deleted_at IS NULL))
    ON CONFLICT DO UPDATE SET shown = shown + excluded.shown;

    UPDATE member_totals SET (latest, label) = (
        SELECT message_id, stance_label FROM replies
        WHERE guild_id = NEW.guild_id AND question_id = NEW.question_id
          AND author_id = NEW.author_id AND deleted_at IS NULL AND moderation != 'remove'
          AND stance_low = 0 AND stance_label != 'off_topic'
        ORDER BY message_id DESC LIMIT 1)
    WHERE guild_id = NEW.guild_id AND question_id = NEW.question_id
      AND author_id = NEW.author_id;

    DELETE FROM member_totals
    WHERE guild_id = NEW.guild_id AND question_id = NEW.question_id
      AND author_id = NEW.author_id AND shown <= 0;
END;

CREATE TRIGGER totals_reply_delete AFTER DELETE ON replies
BEGIN
    INSERT INTO question_totals (guild_id, question_id, kind, n)
    SELECT OLD.guild_id, OLD.question_id, kind, -1 FROM (
        SELECT 'visible' AS kind WHERE OLD.moderation != 'remove' AND OLD.deleted_at IS NULL
        UNION ALL SELECT 'removed' WHERE OLD.moderation = 'remove' AND OLD.deleted_at IS NULL
        UNION ALL SELECT 'unclassified' WHERE OLD.moderation != 'remove'
            AND OLD.deleted_at IS NULL AND OLD.stance_label IS NULL
        UNION ALL SELECT 'low' WHERE OLD.moderation != 'remove' AND OLD.deleted_at IS NULL
            AND OLD.stance_low = 1
        UNION ALL SELECT 'label:' || OLD.stance_label WHERE OLD.moderation != 'remove'
            AND OLD.deleted_at IS NULL AND OLD.stance_low = 0 AND OLD.stance_label IS NOT NULL
    ) WHERE 1
    ON CONFLICT DO UPDATE SET n = n + excluded.n;

    UPDATE member_totals SET
        shown = shown - (OLD.moderation != 'remove' AND OLD.deleted_at IS NULL),
        (latest, label) = (
            SELECT message_id, stance_label FROM replies
            WHERE guild_id = OLD.guild_id AND question_id = OLD.question_id
              AND author_id = OLD.author_id AND deleted_at IS NULL AND moderation != 'remove'
              AND stance_low = 0 AND stance_label != 'off_topic'
            ORDER BY message_id DESC LIMIT 1)
    WHERE guild_id = OLD.guild_id AND question_id = OLD.question_id
      AND author_id = OLD.author_id;

    DELETE FROM member_totals
    WHERE guild_id = OLD.guild_id AND question_id = OLD.question_id
      AND author_id = OLD.author_id AND shown <= 0;
END;
