-- Stores a batch of queue $1 at $2 in one statement ($3-$14: the jobs'
-- columns, $15: the dedup window in microseconds). An ID twice in the
-- batch: the first wins. The caller-chosen IDs then take their dedup
-- entry (a live one makes the job a duplicate), the jobs go in, waiting
-- or delayed by their run_at, and one notification wakes the queue's
-- workers when the transaction commits. It returns how many jobs it
-- stored.
WITH u AS (
	SELECT DISTINCT ON (id) *, CASE WHEN run_at > $2 THEN 'delayed' ELSE 'waiting' END AS state
	FROM unnest($3::text[], $4::bool[], $5::text[], $6::text[], $7::int2[], $8::text[], $9::int[],
		$10::timestamptz[], $11::timestamptz[], $12::text[], $13::int8[], $14::text[])
	WITH ORDINALITY AS u(id, uniq, name, payload, priority, grp, max_attempts, enqueued_at, run_at,
		correlation_id, timeout_ns, retry, n)
	ORDER BY id, n
), d AS (
	INSERT INTO tipbox_queue.dedup AS t (queue, id, until)
	SELECT $1, id, $2::timestamptz + interval '1 microsecond' * $15::bigint FROM u WHERE uniq
	ON CONFLICT (queue, id) DO UPDATE SET until = EXCLUDED.until WHERE t.until < $2
	RETURNING id
), g AS (
	INSERT INTO tipbox_queue.groups (queue, grp) SELECT DISTINCT $1, grp FROM u WHERE grp <> ''
	ON CONFLICT DO NOTHING
), ins AS (
	INSERT INTO tipbox_queue.jobs (queue, id, name, payload, priority, grp, state, attempt, max_attempts,
		enqueued_at, run_at, correlation_id, timeout_ns, retry)
	SELECT $1, id, name, payload, priority, grp, state, 1, max_attempts, enqueued_at, run_at, correlation_id,
		timeout_ns, retry
	FROM u WHERE NOT uniq OR id IN (SELECT id FROM d) ORDER BY n
	ON CONFLICT (queue, id) DO NOTHING
	RETURNING 1
)
SELECT x.c FROM (SELECT count(*) AS c FROM ins) x,
	LATERAL (SELECT count(*) FROM (SELECT pg_notify('tipbox_queue', $1) WHERE x.c > 0) n) y
