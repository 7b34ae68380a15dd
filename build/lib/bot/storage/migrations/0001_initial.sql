-- 0001: the first schema. Every table that holds community data carries guild_id, and every
-- query filters on it, so one guild never sees another's data.

CREATE TABLE discussions (
    id           INTEGER PRIMARY KEY,
    guild_id     INTEGER NOT NULL,
    channel_id   INTEGER NOT NULL,
    thread_id    INTEGER,
    message_id   INTEGER,
    question_id  TEXT    NOT NULL,
    opened_by    INTEGER,
    opened_at    TEXT    NOT NULL,
    closed_at    TEXT
);
CREATE INDEX discussions_guild ON discussions (guild_id, question_id);
CREATE UNIQUE INDEX discussions_thread ON discussions (thread_id) WHERE thread_id IS NOT NULL;

CREATE TABLE replies (
    message_id       INTEGER PRIMARY KEY,           -- Discord snowflake: unique
    guild_id         INTEGER NOT NULL,
    channel_id       INTEGER NOT NULL,
    discussion_id    INTEGER REFERENCES discussions (id) ON DELETE SET NULL,
    question_id      TEXT    NOT NULL,
    author_id        INTEGER NOT NULL,
    author_name      TEXT    NOT NULL DEFAULT '',
    content          TEXT    NOT NULL,
    attachments      INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT    NOT NULL,
    edited_at        TEXT,
    deleted_at       TEXT,
    content_version  INTEGER NOT NULL DEFAULT 0,    -- bumped by each edit
    classify_state   TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (classify_state IN ('pending', 'done', 'skipped')),
    moderation       TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (moderation IN ('pending', 'allow', 'review', 'remove'))
);
CREATE INDEX replies_period ON replies (guild_id, question_id, created_at);
CREATE INDEX replies_author ON replies (guild_id, author_id, created_at);
CREATE INDEX replies_pending ON replies (classify_state) WHERE classify_state = 'pending';

CREATE TABLE stances (
    id              INTEGER PRIMARY KEY,
    message_id      INTEGER NOT NULL REFERENCES replies (message_id) ON DELETE CASCADE,
    guild_id        INTEGER NOT NULL,
    question_id     TEXT    NOT NULL,
    label           TEXT    NOT NULL,
    confidence      REAL    NOT NULL,
    low_confidence  INTEGER NOT NULL DEFAULT 0,
    scores          TEXT    NOT NULL,               -- JSON {label: probability}
    model_version   TEXT    NOT NULL,
    source          TEXT    NOT NULL CHECK (source IN ('model', 'moderator')),
    moderator_id    INTEGER,
    is_current      INTEGER NOT NULL DEFAULT 1,
    created_at      TEXT    NOT NULL
);
CREATE UNIQUE INDEX stances_current ON stances (message_id) WHERE is_current = 1;
CREATE INDEX stances_message ON stances (message_id);
CREATE INDEX stances_source ON stances (guild_id, source);

CREATE TABLE moderation_events (
    id            INTEGER PRIMARY KEY,
    guild_id      INTEGER NOT NULL,
    case_number   INTEGER NOT NULL,
    message_id    INTEGER,
    author_id     INTEGER,
    action        TEXT    NOT NULL CHECK (action IN ('allow', 'review', 'remove')),
    reasons       TEXT    NOT NULL DEFAULT '[]',    -- JSON list
    scores        TEXT    NOT NULL DEFAULT '{}',    -- JSON object
    actor         TEXT    NOT NULL CHECK (actor IN ('auto', 'moderator')),
    moderator_id  INTEGER,
    created_at    TEXT    NOT NULL,
    UNIQUE (guild_id, case_number)
);
CREATE INDEX moderation_events_message ON moderation_events (message_id);

CREATE TABLE jobs_run (
    guild_id  INTEGER NOT NULL,
    job       TEXT    NOT NULL,
    period    TEXT    NOT NULL,                     -- e.g. the ISO week '2025-W47'
    ran_at    TEXT    NOT NULL,
    late      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, job, period)
);

CREATE TABLE opt_outs (
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE guild_settings (
    guild_id            INTEGER PRIMARY KEY,
    summary_channel_id  INTEGER,
    summary_weekday     INTEGER CHECK (summary_weekday BETWEEN 0 AND 6),
    summary_hour        INTEGER CHECK (summary_hour BETWEEN 0 AND 23),
    log_channel_id      INTEGER,
    moderator_role_id   INTEGER
);
