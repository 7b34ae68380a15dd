-- 0002 (PostgreSQL): rebuild the whole-discussion totals (question_totals, member_totals) from
-- the replies in one pass, as SQLite's migration 0005 first fills them. `stancebot db copy`
-- loads the rows with the triggers off and then calls this: a million replies load in minutes
-- instead of firing the row triggers a million times.

CREATE FUNCTION totals_rebuild() RETURNS void LANGUAGE sql AS $$
    DELETE FROM question_totals;
    DELETE FROM member_totals;
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
    ) AS kinds GROUP BY 1, 2, 3;
    INSERT INTO member_totals (guild_id, question_id, author_id, shown, latest)
    SELECT guild_id, question_id, author_id, COUNT(*) FILTER (WHERE moderation != 'remove'),
           MAX(CASE WHEN moderation != 'remove' AND stance_low = 0
                    AND stance_label != 'off_topic' THEN message_id END)
    FROM replies WHERE deleted_at IS NULL
    GROUP BY 1, 2, 3 HAVING COUNT(*) FILTER (WHERE moderation != 'remove') > 0;
    UPDATE member_totals m SET label = r.stance_label FROM replies r
    WHERE r.message_id = m.latest;
$$;
