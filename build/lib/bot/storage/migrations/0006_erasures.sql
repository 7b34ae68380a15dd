-- 0006: what was erased stays erased. `/privacy forget-me` and retention delete replies; a
-- restart's backfill, an import or a replayed event would otherwise store them again. Each row
-- says: never store a reply of this guild (0 = every guild) by this author (0 = every member)
-- created at or before `through`.

CREATE TABLE erasures (
    guild_id    INTEGER NOT NULL,                   -- 0: every guild (`db purge` without --guild)
    author_id   INTEGER NOT NULL,                   -- 0: every member (retention)
    through     TEXT    NOT NULL,                   -- inclusive cut-off, the created_at format
    reason      TEXT    NOT NULL CHECK (reason IN ('forget-me', 'retention')),
    PRIMARY KEY (guild_id, author_id)
);
