-- Many workers on one database (PRODUCT §9); the same tables as SQLite's V4 (V2 and V3 of
-- SQLite are in this dialect's V1).

-- A named lease held by one worker at a time: the Telegram poller of one bot, say.
CREATE TABLE leases (
    name   text        PRIMARY KEY,
    holder text        NOT NULL,
    until  timestamptz NOT NULL
);

-- Inbound platform updates by their platform id (a Telegram update_id per bot): claimed by the
-- worker handling one, then marked done, so a redelivery or a new poller never handles one twice.
CREATE TABLE inbound_updates (
    source    text        NOT NULL,
    update_id bigint      NOT NULL,
    holder    text        NOT NULL,
    until     timestamptz NOT NULL,
    done      boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (source, update_id)
);

CREATE INDEX inbound_updates_done ON inbound_updates (done, until);

-- Outbound requests by send-budget scope (a bot, a chat), so every worker counts the others'.
-- Writers of one scope take a transaction-level advisory lock on it first.
CREATE TABLE send_slots (
    scope text   NOT NULL,
    at_ms bigint NOT NULL
);

CREATE INDEX send_slots_by_scope ON send_slots (scope, at_ms);
