-- Adds the line ($4: time, $5: message) to the log of job $2 of queue $1
-- while its delivery $3 is current, keeping the newest $6 + 1 lines.
WITH ins AS (
	INSERT INTO tipbox_queue.logs (queue, job_id, at, message)
	SELECT $1, $2, $4, $5 WHERE EXISTS (SELECT 1 FROM tipbox_queue.jobs
		WHERE queue = $1 AND id = $2 AND delivery = $3 AND state = 'active')
)
DELETE FROM tipbox_queue.logs WHERE queue = $1 AND job_id = $2 AND seq IN (
	SELECT seq FROM tipbox_queue.logs WHERE queue = $1 AND job_id = $2 ORDER BY seq DESC OFFSET $6)
