-- Follows settle.sql: claims up to $10 due jobs in the same statement, for
-- the common case: the settlements neither dead-letter, postpone nor end
-- grouped jobs, and the queue has no limit, no hold, no groups and is not
-- paused (the claim takes nothing otherwise, and Fetch goes the long
-- way). The claim cannot see the settlements (one snapshot), which it
-- does not need here.
, c AS MATERIALIZED (
	SELECT queue, id FROM tipbox_queue.jobs
	WHERE queue = $1 AND state IN ('waiting', 'delayed') AND run_at <= $2 AND grp = ''
		AND NOT EXISTS (SELECT 1 FROM tipbox_queue.queues WHERE name = $1 AND (paused OR held_until > $2))
		AND NOT EXISTS (SELECT 1 FROM tipbox_queue.groups WHERE queue = $1 AND grp <> '')
	ORDER BY priority, run_at, seq LIMIT $10 FOR UPDATE SKIP LOCKED
), u AS (
	UPDATE tipbox_queue.jobs j SET state = 'active', delivery = j.delivery + 1, started_at = $2, percent = 0,
		heartbeat_at = $2, cancel = false
	FROM c WHERE j.queue = c.queue AND j.id = c.id
	RETURNING j.*
)
SELECT * FROM u ORDER BY priority, run_at
