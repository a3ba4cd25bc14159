-- The counts of queue $1 at $2: the event position (every event of a
-- transaction older than every running one is before it), paused,
-- completed and failed totals (kept by the jobs trigger), then waiting
-- (due), active and delayed jobs.
SELECT (pg_snapshot_xmin(pg_current_snapshot())::text::bigint - 1) || '-' || 9223372036854775807,
	coalesce(q.paused, false), coalesce(q.completed, 0), coalesce(q.failed, 0),
	(SELECT count(*) FROM tipbox_queue.jobs WHERE queue = $1 AND state IN ('waiting', 'delayed') AND run_at <= $2),
	(SELECT count(*) FROM tipbox_queue.jobs WHERE queue = $1 AND state = 'active'),
	(SELECT count(*) FROM tipbox_queue.jobs WHERE queue = $1 AND state IN ('waiting', 'delayed') AND run_at > $2)
FROM (SELECT 1) one LEFT JOIN tipbox_queue.queues q ON q.name = $1
