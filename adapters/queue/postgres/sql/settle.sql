-- Applies a batch of settlements of queue $1 at $2 ($3-$8: each one's job
-- ID, delivery, outcome, time, error and progress, -1 for none; $9: this
-- process's origin). A settlement counts only while its delivery is
-- current (the job active with that delivery number); an admin's cancel
-- turns any outcome but Completed into Cancelled. Outcomes index the
-- state array: Completed, Retry, Dead, Cancelled, Released, Postponed.
-- These are the first CTEs of a statement: the settle statement reads st,
-- the fast one (fast.sql) goes on to claim.
WITH s AS (
	SELECT u.id, u.tok, CASE WHEN j.cancel AND u.o <> 0 THEN 3 ELSE u.o END AS o, u.at, u.err, u.prog
	FROM unnest($3::text[], $4::int8[], $5::int[], $6::timestamptz[], $7::text[], $8::int[])
		AS u(id, tok, o, at, err, prog)
	JOIN tipbox_queue.jobs j ON j.queue = $1 AND j.id = u.id AND j.state = 'active' AND j.delivery = u.tok
), st AS (
	UPDATE tipbox_queue.jobs j SET
		state = (ARRAY['completed', 'delayed', 'failed', 'cancelled', 'waiting', 'delayed'])[s.o + 1],
		percent = CASE WHEN s.o = 0 THEN 100 WHEN s.prog >= 0 THEN s.prog ELSE j.percent END,
		error = CASE WHEN s.o IN (1, 2) OR (s.o = 3 AND s.err <> '') THEN s.err ELSE j.error END,
		attempt = CASE WHEN s.o = 1 THEN j.attempt + 1 ELSE j.attempt END,
		run_at = CASE WHEN s.o IN (1, 5) THEN s.at WHEN s.o = 4 THEN $2 ELSE j.run_at END,
		started_at = CASE WHEN s.o = 4 THEN NULL ELSE j.started_at END,
		finished_at = CASE WHEN s.o IN (0, 2, 3) THEN $2 ELSE j.finished_at END,
		heartbeat_at = NULL
	FROM s WHERE j.queue = $1 AND j.id = s.id AND j.state = 'active' AND j.delivery = s.tok
	RETURNING s.o, s.at, j.grp,
		-- a group's concurrency may let another job of it start: wake the
		-- other processes (this one wakes itself)
		CASE WHEN j.grp <> '' THEN pg_notify('tipbox_queue', $1 || ' ' || $9)::text END
)
