-- The party's life (issue 12): edits raise `sequence` (a calendar file's SEQUENCE); an episode
-- of a series carries its series (the first episode's id), its number, the total (NULL: until
-- cancelled), the days between episodes and episode 1's local start in the party's zone.
ALTER TABLE parties ADD COLUMN sequence INTEGER NOT NULL DEFAULT 0;
ALTER TABLE parties ADD COLUMN series_id INTEGER;
ALTER TABLE parties ADD COLUMN episode INTEGER;
ALTER TABLE parties ADD COLUMN episodes INTEGER;
ALTER TABLE parties ADD COLUMN repeat_days INTEGER;
ALTER TABLE parties ADD COLUMN series_anchor TEXT;
CREATE INDEX parties_series ON parties (series_id, episode) WHERE series_id IS NOT NULL;
