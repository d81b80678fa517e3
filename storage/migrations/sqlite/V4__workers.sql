-- Many workers on one database (PRODUCT §9).

-- A named lease held by one worker at a time: the Telegram poller of one bot, say. A worker
-- takes it when it is free or ran out, and renews it while it works.
CREATE TABLE leases (
    name     TEXT PRIMARY KEY,
    holder   TEXT NOT NULL,
    until_us INTEGER NOT NULL
);

-- Inbound platform updates by their platform id (a Telegram update_id per bot): claimed by the
-- worker handling one, then marked done, so a redelivery or a new poller never handles one twice.
CREATE TABLE inbound_updates (
    source    TEXT NOT NULL,
    update_id INTEGER NOT NULL,
    holder    TEXT NOT NULL,
    until_us  INTEGER NOT NULL,
    done      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (source, update_id)
);

CREATE INDEX inbound_updates_done ON inbound_updates (done, until_us);

-- Outbound requests by send-budget scope (a bot, a chat), so every worker counts the others'.
CREATE TABLE send_slots (
    scope TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);

CREATE INDEX send_slots_by_scope ON send_slots (scope, at_ms);
