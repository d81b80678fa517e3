-- What seeks moved the film clock by (seconds, forward positive): the clock's one formula is
-- time since GO minus time paused plus this. And the player a party follows (PRODUCT §10), as
-- its validated address (syncplay://HOST:PORT/ROOM), so a restarted bot follows it again.
ALTER TABLE parties ADD COLUMN seek_seconds REAL NOT NULL DEFAULT 0;
ALTER TABLE parties ADD COLUMN follow_source TEXT;
