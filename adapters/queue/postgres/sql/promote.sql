-- Marks up to 1000 delayed jobs of queue $1 due at $2 waiting, and wakes
-- the queue's workers. Claims take due delayed jobs anyway: this keeps
-- their state and events true.
WITH c AS MATERIALIZED (
	SELECT queue, id FROM tipbox_queue.jobs WHERE queue = $1 AND state = 'delayed' AND run_at <= $2
	LIMIT 1000 FOR UPDATE SKIP LOCKED
), u AS (
	UPDATE tipbox_queue.jobs j SET state = 'waiting' FROM c WHERE j.queue = c.queue AND j.id = c.id RETURNING 1
)
SELECT pg_notify('tipbox_queue', $1) FROM (SELECT count(*) AS n FROM u) x WHERE n > 0
