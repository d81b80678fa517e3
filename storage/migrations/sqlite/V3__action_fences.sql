-- Bumped by every claim of an action: the outcome of a fired action is written only under the
-- fence it was claimed with, so a worker whose lease ran out (and was claimed by another since)
-- cannot mark the action done.
ALTER TABLE actions ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;
