-- 0003 (PostgreSQL): as SQLite's migration 0008. Articles and questions a server's moderators
-- make in Discord, the stances members declare with the buttons under a question, and the
-- question heads learnt from those declarations and moderators' corrections.

CREATE TABLE server_articles (
    guild_id    BIGINT NOT NULL,
    article_id  TEXT   NOT NULL,
    fields      TEXT   NOT NULL,
    created_by  BIGINT,
    created_at  TEXT   NOT NULL,
    PRIMARY KEY (guild_id, article_id)
);

CREATE TABLE server_questions (
    question_id TEXT   PRIMARY KEY,
    guild_id    BIGINT NOT NULL,
    article_id  TEXT   NOT NULL,
    fields      TEXT   NOT NULL,
    created_by  BIGINT,
    created_at  TEXT   NOT NULL
);
CREATE INDEX server_questions_guild ON server_questions (guild_id);

ALTER TABLE discussions ADD COLUMN declarations INTEGER NOT NULL DEFAULT 0;

CREATE TABLE declarations (
    discussion_id BIGINT NOT NULL REFERENCES discussions (id) ON DELETE CASCADE,
    guild_id      BIGINT NOT NULL,
    question_id   TEXT   NOT NULL,
    member_id     BIGINT NOT NULL,
    label         TEXT   NOT NULL,
    declared_at   TEXT   NOT NULL,
    PRIMARY KEY (discussion_id, member_id)
);
CREATE INDEX declarations_question ON declarations (guild_id, question_id);
CREATE INDEX declarations_member ON declarations (guild_id, member_id);

CREATE TABLE question_heads (
    question_id TEXT    NOT NULL,
    guild_id    BIGINT  NOT NULL,
    version     TEXT    NOT NULL,
    head        BYTEA   NOT NULL,
    labels      INTEGER NOT NULL,
    holdout_f1  DOUBLE PRECISION,
    previous_f1 DOUBLE PRECISION,
    is_current  INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (question_id, version)
);
CREATE UNIQUE INDEX question_heads_current ON question_heads (question_id) WHERE is_current = 1;
