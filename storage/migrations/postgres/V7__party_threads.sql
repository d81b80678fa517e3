-- A thread per party (issue 12, item 5), as sqlite V7: a chat's setting `threads`, and on a
-- party's link to a chat the party's own thread there (same platform), looked up by it.
ALTER TABLE chat_settings ADD COLUMN threads boolean NOT NULL DEFAULT false;
ALTER TABLE party_chats ADD COLUMN thread_id text;
CREATE INDEX party_chats_by_thread ON party_chats (platform, thread_id) WHERE thread_id IS NOT NULL;
