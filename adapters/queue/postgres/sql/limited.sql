-- Follows settle.sql: claims up to $10 due jobs of a queue with a limit
-- ($11 and $12: its spacing and tolerance in nanoseconds) and no groups,
-- in the same statement, for the common case: the settlements neither
-- dead-letter, postpone nor end grouped jobs. It is claim.sql without the
-- groups: the queue's row locked (two claims never spend the same slot),
-- then the due jobs by priority (high, normal, low), run_at and seq, as
-- many as the limit lets through, and the limit's next slot moved past
-- them. A queue that has groups claims nothing here: grouped says so, and
-- the caller goes on with claim.sql. The claim cannot see the
-- settlements (one snapshot), which it does not need here.
--
-- Its rows are claim.sql's: the queue's state (paused, held_until, tat,
-- want, grouped, and a NULL blocked), then the job columns of one claimed
-- job, NULL in the one row of a claim that took none. No row: the queue's
-- row is missing.
, q AS MATERIALIZED (
	SELECT q.paused, q.held_until, greatest(q.tat, $2) AS tat,
		EXISTS (SELECT 1 FROM tipbox_queue.groups WHERE queue = $1 AND grp <> '') AS grouped
	FROM tipbox_queue.queues q WHERE q.name = $1 FOR UPDATE
), lim AS MATERIALIZED (
	SELECT q.*, least($10::int,
		floor((extract(epoch FROM $2 - q.tat) * 1e9 + $12::bigint) / $11::bigint)::int + 1) AS want
	FROM q
), c AS MATERIALIZED (
	SELECT queue, id FROM tipbox_queue.jobs
	WHERE queue = $1 AND state IN ('waiting', 'delayed') AND run_at <= $2 AND grp = ''
	ORDER BY priority, run_at, seq
	LIMIT coalesce((SELECT want FROM lim WHERE NOT paused AND held_until <= $2 AND NOT grouped AND want > 0), 0)
	FOR UPDATE SKIP LOCKED
), tq AS (
	UPDATE tipbox_queue.queues q SET tat = lim.tat + ((SELECT count(*) FROM c) * $11::bigint / 1e9)::float8 * interval '1 second'
	FROM lim WHERE q.name = $1 AND EXISTS (SELECT 1 FROM c)
), u AS (
	UPDATE tipbox_queue.jobs j SET state = 'active', delivery = j.delivery + 1, started_at = $2, percent = 0,
		heartbeat_at = $2, cancel = false
	FROM c WHERE j.queue = c.queue AND j.id = c.id
	RETURNING j.*
)
SELECT lim.paused, lim.held_until, lim.tat, lim.want, lim.grouped, NULL::timestamptz AS blocked, u.*
FROM lim LEFT JOIN u ON true
ORDER BY u.priority, u.run_at
