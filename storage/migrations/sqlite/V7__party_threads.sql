-- A thread per party (issue 12, item 5): a chat's setting `threads`, and on a party's link to a
-- chat the party's own thread there (a Discord thread id, a Telegram "chat/topic"), on the same
-- platform; what arrives from a thread is looked up by it to find its parent chat.
ALTER TABLE chat_settings ADD COLUMN threads INTEGER NOT NULL DEFAULT 0;
ALTER TABLE party_chats ADD COLUMN thread_id TEXT;
CREATE INDEX party_chats_by_thread ON party_chats (platform, thread_id) WHERE thread_id IS NOT NULL;
