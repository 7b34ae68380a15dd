-- 0008: articles and questions a server's moderators make in Discord (`/article add`,
-- `/discussion new`), the stances members declare with the buttons under a question, and the
-- question heads the bot learns from those declarations and moderators' corrections.
-- Shipped articles and questions stay in files; these rows are seen by their server alone.

CREATE TABLE server_articles (
    guild_id    INTEGER NOT NULL,
    article_id  TEXT    NOT NULL,
    fields      TEXT    NOT NULL,               -- JSON: the article file's fields
    created_by  INTEGER,
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (guild_id, article_id)
);

-- A question id is unique across servers: replies and stances name it alone.
CREATE TABLE server_questions (
    question_id TEXT    PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    article_id  TEXT    NOT NULL,
    fields      TEXT    NOT NULL,               -- JSON: a prompts file's [[questions]] entry
    created_by  INTEGER,
    created_at  TEXT    NOT NULL
);
CREATE INDEX server_questions_guild ON server_questions (guild_id);

-- Whether a discussion shows the "I think: …" buttons.
ALTER TABLE discussions ADD COLUMN declarations INTEGER NOT NULL DEFAULT 0;

-- One declaration per member and discussion; a member changes it by clicking again.
CREATE TABLE declarations (
    discussion_id INTEGER NOT NULL REFERENCES discussions (id) ON DELETE CASCADE,
    guild_id      INTEGER NOT NULL,
    question_id   TEXT    NOT NULL,
    member_id     INTEGER NOT NULL,
    label         TEXT    NOT NULL,
    declared_at   TEXT    NOT NULL,
    PRIMARY KEY (discussion_id, member_id)
);
CREATE INDEX declarations_question ON declarations (guild_id, question_id);
CREATE INDEX declarations_member ON declarations (guild_id, member_id);

-- Heads learnt for one question from its labels; the current one reads new replies. The
-- previous ones stay, so a stance row's model_version can always be traced to its head.
CREATE TABLE question_heads (
    question_id TEXT    NOT NULL,
    guild_id    INTEGER NOT NULL,
    version     TEXT    NOT NULL,
    head        BLOB    NOT NULL,               -- safetensors bytes
    labels      INTEGER NOT NULL,               -- how many labelled replies it learnt from
    holdout_f1  REAL,                           -- macro-F1 on the held-out slice of the labels
    previous_f1 REAL,                           -- the head it replaced, on the same slice
    is_current  INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (question_id, version)
);
CREATE UNIQUE INDEX question_heads_current ON question_heads (question_id) WHERE is_current = 1;
