-- 0007: the message a reply answers (Discord's message reference), when it answers one: kept
-- from Discord and from imports, and exported, so a conversation's threads can be rebuilt.

ALTER TABLE replies ADD COLUMN reply_to INTEGER;
