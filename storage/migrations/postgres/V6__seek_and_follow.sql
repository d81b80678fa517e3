-- As sqlite V6: what seeks moved the film clock by (seconds, forward positive), and the player a
-- party follows (PRODUCT §10) as its validated address, so a restarted worker follows it again.
ALTER TABLE parties ADD COLUMN seek_seconds double precision NOT NULL DEFAULT 0;
ALTER TABLE parties ADD COLUMN follow_source text;
