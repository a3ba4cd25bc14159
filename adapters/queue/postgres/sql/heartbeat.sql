-- Renews at $2 the leases of the deliveries of queue $1 ($3: job IDs,
-- $4: delivery numbers) that are current, and returns the IDs of those an
-- admin cancelled.
WITH u AS (
	UPDATE tipbox_queue.jobs j SET heartbeat_at = $2
	FROM unnest($3::text[], $4::int8[]) AS u(id, tok)
	WHERE j.queue = $1 AND j.id = u.id AND j.delivery = u.tok AND j.state = 'active'
	RETURNING j.id, j.cancel
)
SELECT id FROM u WHERE cancel
