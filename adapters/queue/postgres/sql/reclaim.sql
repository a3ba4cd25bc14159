-- Takes back up to 100 deliveries of queue $1 whose lease ran out before
-- $4 ($2: now, $3: queue.max_stalled): back to waiting as the next
-- attempt, or dead with "stalled" past max_stalled or the job's attempts;
-- a cancelled one ends cancelled. It returns each one's new state.
WITH c AS MATERIALIZED (
	SELECT queue, id, cancel, (stalls + 1 > $3 OR attempt >= max_attempts) AS dead FROM tipbox_queue.jobs
	WHERE queue = $1 AND state = 'active' AND heartbeat_at < $4
	ORDER BY heartbeat_at LIMIT 100 FOR UPDATE SKIP LOCKED
)
UPDATE tipbox_queue.jobs j SET stalls = j.stalls + 1,
	state = CASE WHEN c.cancel THEN 'cancelled' WHEN c.dead THEN 'failed' ELSE 'waiting' END,
	error = CASE WHEN NOT c.cancel AND c.dead THEN 'stalled' ELSE j.error END,
	attempt = CASE WHEN c.cancel OR c.dead THEN j.attempt ELSE j.attempt + 1 END,
	started_at = CASE WHEN c.cancel OR c.dead THEN j.started_at END,
	run_at = CASE WHEN c.cancel OR c.dead THEN j.run_at ELSE $2 END,
	finished_at = CASE WHEN c.cancel OR c.dead THEN $2 END,
	heartbeat_at = NULL
FROM c WHERE j.queue = c.queue AND j.id = c.id
RETURNING j.state, pg_notify('tipbox_queue', $1)
