-- Retention: deletes the jobs of queue $1 in the finished state $2 but
-- the newest $3, and returns how many it deleted. Rows locked by another
-- transaction are skipped (the next trim takes them).
WITH d AS (
	DELETE FROM tipbox_queue.jobs WHERE queue = $1 AND id IN (
		SELECT id FROM tipbox_queue.jobs WHERE queue = $1 AND state = $2
		ORDER BY finished_at DESC, id DESC OFFSET $3 FOR UPDATE SKIP LOCKED)
	RETURNING 1
)
SELECT count(*) FROM d
