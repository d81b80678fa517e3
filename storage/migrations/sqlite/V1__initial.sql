-- Instants are integer microseconds since 1970-01-01 UTC; dicts are JSON text.

CREATE TABLE parties (
    id             INTEGER PRIMARY KEY,
    code           TEXT    NOT NULL UNIQUE,
    title          TEXT    NOT NULL,
    host_platform  TEXT    NOT NULL,
    host_user_id   TEXT    NOT NULL,
    host_name      TEXT    NOT NULL,
    home_platform  TEXT    NOT NULL,
    home_chat_id   TEXT    NOT NULL,
    starts_at      INTEGER NOT NULL,
    timezone       TEXT    NOT NULL,
    guide_name     TEXT,
    state          TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    go_at          INTEGER,
    paused_at      INTEGER,
    paused_seconds REAL    NOT NULL DEFAULT 0,
    resume_at      INTEGER,
    ready_target   INTEGER,
    finished_at    INTEGER
);

CREATE INDEX parties_ended ON parties (state, finished_at);

-- The rowid keeps the order in which chats were linked.
CREATE TABLE party_chats (
    party_id     INTEGER NOT NULL REFERENCES parties (id) ON DELETE CASCADE,
    platform     TEXT    NOT NULL,
    chat_id      TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    is_home      INTEGER NOT NULL DEFAULT 0,
    requested_by TEXT,
    UNIQUE (party_id, platform, chat_id)
);

CREATE INDEX party_chats_by_chat ON party_chats (platform, chat_id, status);

-- No foreign key on party_id: records are written in group-commit batches, and one record of a
-- vanished party must not fail the batch that carries everybody else's records.
CREATE TABLE records (
    id           INTEGER PRIMARY KEY,
    party_id     INTEGER NOT NULL,
    kind         TEXT    NOT NULL,
    platform     TEXT    NOT NULL,
    chat_id      TEXT    NOT NULL,
    user_id      TEXT    NOT NULL,
    display_name TEXT    NOT NULL,
    at           INTEGER NOT NULL,
    position     REAL,
    value        TEXT    NOT NULL,
    prompt       TEXT,
    message_id   TEXT
);

-- The rowid (id) ends every index, so this one also serves ORDER BY at, id.
CREATE INDEX records_by_party ON records (party_id, at);
CREATE INDEX records_by_user ON records (platform, chat_id, user_id);

CREATE TABLE forgotten (
    platform TEXT    NOT NULL,
    chat_id  TEXT    NOT NULL,
    user_id  TEXT    NOT NULL,
    at       INTEGER NOT NULL,
    PRIMARY KEY (platform, chat_id, user_id)
);

CREATE TABLE sent_messages (
    id         INTEGER PRIMARY KEY,
    party_id   INTEGER NOT NULL REFERENCES parties (id) ON DELETE CASCADE,
    platform   TEXT    NOT NULL,
    chat_id    TEXT    NOT NULL,
    message_id TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    prompt     TEXT,
    action_id  INTEGER,
    UNIQUE (platform, chat_id, message_id)
);

CREATE INDEX sent_messages_by_party ON sent_messages (party_id, kind);
CREATE INDEX sent_messages_by_action ON sent_messages (action_id) WHERE action_id IS NOT NULL;

-- No foreign key on party_id: some actions belong to no party (retention sweeps), and the
-- scheduler must be able to store and fire them independently of the party tables.
CREATE TABLE actions (
    id             INTEGER PRIMARY KEY,
    party_id       INTEGER,
    kind           TEXT    NOT NULL,
    due_at         INTEGER NOT NULL,
    payload        TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    acquired_by    TEXT,
    acquired_until INTEGER
);

-- next_wakeup and claim_due read the earliest unleased pending action from this partial index,
-- which holds only what is waiting, however many finished actions pile up.
CREATE INDEX actions_waiting ON actions (due_at)
    WHERE status = 'pending' AND acquired_until IS NULL;
-- Leased pending actions are few (only those in flight), so this one stays tiny.
CREATE INDEX actions_leased ON actions (acquired_until, due_at)
    WHERE status = 'pending' AND acquired_until IS NOT NULL;
CREATE INDEX actions_pending_by_party ON actions (party_id) WHERE status = 'pending';

CREATE TABLE chat_settings (
    platform       TEXT    NOT NULL,
    chat_id        TEXT    NOT NULL,
    timezone       TEXT,
    reminders      TEXT    NOT NULL,
    creators       TEXT    NOT NULL,
    retention_days INTEGER NOT NULL,
    moderator_role TEXT,
    ping_reminders INTEGER NOT NULL,
    PRIMARY KEY (platform, chat_id)
);

CREATE TABLE guides (
    scope  TEXT NOT NULL,
    name   TEXT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (scope, name)
);

CREATE TABLE party_log (
    id       INTEGER PRIMARY KEY,
    party_id INTEGER NOT NULL REFERENCES parties (id) ON DELETE CASCADE,
    at       INTEGER NOT NULL,
    key      TEXT    NOT NULL,
    params   TEXT    NOT NULL
);

CREATE INDEX party_log_by_party ON party_log (party_id, id);
