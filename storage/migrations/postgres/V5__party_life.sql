-- The party's life (issue 12), as sqlite V5: edits raise `sequence` (a calendar file's SEQUENCE);
-- an episode of a series carries its series (the first episode's id), its number, the total
-- (NULL: until cancelled), the days between episodes and episode 1's local start in its zone.
ALTER TABLE parties ADD COLUMN sequence integer NOT NULL DEFAULT 0;
ALTER TABLE parties ADD COLUMN series_id bigint;
ALTER TABLE parties ADD COLUMN episode integer;
ALTER TABLE parties ADD COLUMN episodes integer;
ALTER TABLE parties ADD COLUMN repeat_days integer;
ALTER TABLE parties ADD COLUMN series_anchor text;
CREATE INDEX parties_series ON parties (series_id, episode) WHERE series_id IS NOT NULL;
