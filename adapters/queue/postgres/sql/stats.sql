-- The counts of queue $1 at $2: paused, completed and failed totals (kept
-- by the jobs trigger), then waiting (due), active and delayed jobs.
SELECT coalesce(q.paused, false), coalesce(q.completed, 0), coalesce(q.failed, 0),
	(SELECT count(*) FROM tipbox_queue.jobs WHERE queue = $1 AND state IN ('waiting', 'delayed') AND run_at <= $2),
	(SELECT count(*) FROM tipbox_queue.jobs WHERE queue = $1 AND state = 'active'),
	(SELECT count(*) FROM tipbox_queue.jobs WHERE queue = $1 AND state IN ('waiting', 'delayed') AND run_at > $2)
FROM (SELECT 1) one LEFT JOIN tipbox_queue.queues q ON q.name = $1
