-- Claims up to $3 due jobs of queue $1 at $2: high jobs, then the
-- round-robin of normal jobs between the ungrouped ones and each group
-- (one job per member per round, the least recently served member first;
-- a group within its hold, its room under $4 = queue.group_concurrency
-- and its share of queue.group_limit), then low jobs; all within the
-- queue's pause, hold and queue.limit. $5 and $6 are queue.limit's
-- spacing and tolerance in nanoseconds (0: no limit), $7 and $8
-- queue.group_limit's.
--
-- Every row returned has the queue's state: paused, held_until, tat (its
-- limit's next slot before this claim), want (what its limit let
-- through), grouped (it has groups), blocked (the earliest time a group
-- blocked by its limit, with a due job, may start again); then the job
-- columns of one claimed job, NULL in the one row of a claim that took
-- none. No row: the queue's row is missing.
--
-- When the queue has a limit, its row is locked here (the comment lock
-- below becomes FOR UPDATE), so that two claims never spend the same slot. A group's
-- active count is kept by the jobs_updated trigger and its row is locked
-- here, so two claims never both fill its last slot; the ungrouped
-- member's row is not locked (it has no limit).
WITH st AS MATERIALIZED (
	SELECT q.paused, q.held_until, greatest(q.tat, $2) AS tat,
		EXISTS (SELECT 1 FROM tipbox_queue.groups WHERE queue = $1 AND grp <> '') AS grouped
	FROM tipbox_queue.queues q WHERE q.name = $1 /*lock*/
), lim AS (
	SELECT st.*, CASE WHEN $5::bigint = 0 THEN $3::int
		ELSE least($3::int, floor((extract(epoch FROM $2 - st.tat) * 1e9 + $6::bigint) / nullif($5::bigint, 0))::int + 1)
		END AS want
	FROM st
), ok AS (
	SELECT want FROM lim WHERE NOT paused AND held_until <= $2 AND want > 0
), mg AS (
	SELECT g.grp, g.served, g.active, greatest(g.tat, $2) AS tat FROM tipbox_queue.groups g, ok
	WHERE g.queue = $1 AND g.grp <> '' AND g.held_until <= $2 AND ($4::int = 0 OR g.active < $4::int)
	ORDER BY g.served, g.grp LIMIT 1000
	FOR UPDATE OF g SKIP LOCKED
), m AS MATERIALIZED (
	SELECT mg.grp, mg.served, mg.tat, least(ok.want,
		CASE WHEN $4::int = 0 THEN ok.want ELSE $4::int - mg.active END,
		CASE WHEN $7::bigint = 0 THEN ok.want
			ELSE floor((extract(epoch FROM $2 - mg.tat) * 1e9 + $8::bigint) / nullif($7::bigint, 0))::int + 1 END) AS room
	FROM mg, ok
	UNION ALL
	SELECT '', g.served, g.tat, ok.want FROM tipbox_queue.groups g, ok WHERE g.queue = $1 AND g.grp = ''
), c AS MATERIALIZED (
	SELECT x.queue, x.id, 0 AS class, 0::bigint AS rn, 0::bigint AS served, ''::text AS grp
	FROM ok, LATERAL (SELECT queue, id FROM tipbox_queue.jobs
		WHERE queue = $1 AND grp = '' AND priority = 0 AND state IN ('waiting', 'delayed') AND run_at <= $2
		ORDER BY run_at, seq LIMIT ok.want FOR UPDATE SKIP LOCKED) x
	UNION ALL
	SELECT x.queue, x.id, 1, row_number() OVER (ORDER BY x.run_at, x.seq), m0.served, ''
	FROM (SELECT * FROM m WHERE grp = '') m0, LATERAL (SELECT queue, id, run_at, seq FROM tipbox_queue.jobs
		WHERE queue = $1 AND grp = '' AND priority = 1 AND state IN ('waiting', 'delayed') AND run_at <= $2
		ORDER BY run_at, seq LIMIT m0.room FOR UPDATE SKIP LOCKED) x
	UNION ALL
	SELECT x.queue, x.id, 1, row_number() OVER (PARTITION BY m1.grp ORDER BY x.run_at, x.seq), m1.served, m1.grp
	FROM (SELECT * FROM m WHERE grp <> '') m1, LATERAL (SELECT queue, id, run_at, seq FROM tipbox_queue.jobs
		WHERE queue = $1 AND grp = m1.grp AND grp <> '' AND state IN ('waiting', 'delayed') AND run_at <= $2
		ORDER BY run_at, seq LIMIT greatest(m1.room, 0) FOR UPDATE SKIP LOCKED) x
	UNION ALL
	SELECT x.queue, x.id, 2, 0, 0, ''
	FROM ok, LATERAL (SELECT queue, id FROM tipbox_queue.jobs
		WHERE queue = $1 AND grp = '' AND priority = 2 AND state IN ('waiting', 'delayed') AND run_at <= $2
		ORDER BY run_at, seq LIMIT ok.want FOR UPDATE SKIP LOCKED) x
), pick AS MATERIALIZED (
	SELECT queue, id, class, grp FROM c ORDER BY class, rn, served LIMIT (SELECT want FROM ok)
), served AS MATERIALIZED (
	-- each group served, with its limit's next slot
	SELECT m.grp, CASE WHEN $7::bigint = 0 OR m.grp = '' THEN NULL
		ELSE m.tat + (count(*) * $7::bigint / 1e9)::float8 * interval '1 second' END AS tat
	FROM pick JOIN m ON m.grp = pick.grp WHERE pick.class = 1 GROUP BY m.grp, m.tat
), sv AS (
	-- the groups served go to the back of the round-robin (the ungrouped
	-- member too, when there are groups)
	UPDATE tipbox_queue.groups g SET served = nextval('tipbox_queue.served'), tat = coalesce(served.tat, g.tat)
	FROM served, st WHERE g.queue = $1 AND g.grp = served.grp AND (g.grp <> '' OR st.grouped)
), tq AS (
	UPDATE tipbox_queue.queues q SET tat = st.tat + ((SELECT count(*) FROM pick) * $5::bigint / 1e9)::float8 * interval '1 second'
	FROM st WHERE q.name = $1 AND $5::bigint > 0
), u AS (
	UPDATE tipbox_queue.jobs j SET state = 'active', delivery = j.delivery + 1, started_at = $2, percent = 0,
		heartbeat_at = $2, cancel = false
	FROM pick WHERE j.queue = pick.queue AND j.id = pick.id
	RETURNING j.*
), blocked AS (
	SELECT min(coalesce(served.tat, m.tat) - ($8::bigint / 1e9)::float8 * interval '1 second') AS at
	FROM m LEFT JOIN served ON served.grp = m.grp
	WHERE $7::bigint > 0 AND m.grp <> ''
		AND coalesce(served.tat, m.tat) - ($8::bigint / 1e9)::float8 * interval '1 second' > $2
		AND EXISTS (SELECT 1 FROM tipbox_queue.jobs w WHERE w.queue = $1 AND w.grp = m.grp AND w.grp <> ''
			AND w.state IN ('waiting', 'delayed') AND w.run_at <= $2)
)
SELECT lim.paused, lim.held_until, lim.tat, lim.want, lim.grouped, blocked.at, u.*
FROM lim CROSS JOIN blocked LEFT JOIN u ON true
ORDER BY u.priority, u.run_at
