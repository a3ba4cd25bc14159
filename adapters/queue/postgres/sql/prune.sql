-- Drops minute counts before the Unix minute $1, dedup entries expired at
-- $2 and idle groups (no hold, no job waiting, delayed or active).
WITH m AS (DELETE FROM tipbox_queue.minutes WHERE minute < $1),
d AS (DELETE FROM tipbox_queue.dedup WHERE until < $2)
DELETE FROM tipbox_queue.groups g WHERE g.grp <> '' AND g.held_until < $2 AND NOT EXISTS (
	SELECT 1 FROM tipbox_queue.jobs j WHERE j.queue = g.queue AND j.grp = g.grp
	AND j.state IN ('waiting', 'delayed', 'active'))
