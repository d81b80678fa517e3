-- The inbound platform event (a Telegram update) that produced a record, when the platform may
-- deliver it again after a crash: one record per party and event, so a redelivery adds nothing.
ALTER TABLE records ADD COLUMN event TEXT;

CREATE UNIQUE INDEX records_by_event ON records (party_id, event) WHERE event IS NOT NULL;

-- A platform's own name for a message the bot posted, when its events name it that way: a
-- Telegram poll id (poll answers carry nothing else), a message in a forum topic (reactions
-- carry the group but not the topic).
CREATE TABLE message_refs (
    platform      TEXT NOT NULL,
    ref           TEXT NOT NULL,
    chat_platform TEXT NOT NULL,
    chat_id       TEXT NOT NULL,
    message_id    TEXT NOT NULL,
    PRIMARY KEY (platform, ref)
);

CREATE INDEX message_refs_by_chat ON message_refs (chat_platform, chat_id);
