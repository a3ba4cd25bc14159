-- The queue's totals are added with an upsert: the row is created by a
-- backend's listener in the background, and a worker may claim (through
-- sql/fast.sql, which does not need the row) and finish jobs before that;
-- an UPDATE of a missing row counted none of them. The rest of the
-- function is 001's.
CREATE OR REPLACE FUNCTION tipbox_queue.jobs_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tipbox_queue.events (queue, job_id, name, state, attempts, progress, error, at)
    SELECT n.queue, n.id, n.name, n.state, tipbox_queue.attempts(n.state, n.attempt, n.started_at),
           CASE WHEN n.state = o.state THEN n.percent END,
           CASE WHEN n.state IN ('waiting', 'active', 'completed') THEN '' ELSE n.error END, clock_timestamp()
    FROM new_rows n JOIN old_rows o ON o.queue = n.queue AND o.id = n.id
    WHERE n.state <> o.state OR n.percent <> o.percent
    ORDER BY n.seq;

    WITH f AS (
        SELECT n.queue, n.state, floor(extract(epoch FROM n.finished_at) / 60)::bigint AS minute
        FROM new_rows n JOIN old_rows o ON o.queue = n.queue AND o.id = n.id
        WHERE n.state IN ('completed', 'failed') AND o.state <> n.state
    ), m AS (
        INSERT INTO tipbox_queue.minutes AS t (queue, minute, completed, failed)
        SELECT queue, minute, count(*) FILTER (WHERE state = 'completed'), count(*) FILTER (WHERE state = 'failed')
        FROM f GROUP BY queue, minute
        ON CONFLICT (queue, minute) DO UPDATE
        SET completed = t.completed + EXCLUDED.completed, failed = t.failed + EXCLUDED.failed
    )
    INSERT INTO tipbox_queue.queues AS q (name, completed, failed)
    SELECT queue, count(*) FILTER (WHERE state = 'completed'), count(*) FILTER (WHERE state = 'failed')
    FROM f GROUP BY queue
    ON CONFLICT (name) DO UPDATE
    SET completed = q.completed + EXCLUDED.completed, failed = q.failed + EXCLUDED.failed;

    -- Each group's count of active jobs, locked in key order so that two
    -- settling transactions cannot deadlock.
    WITH d AS (
        SELECT n.queue, n.grp, sum(CASE WHEN n.state = 'active' THEN 1 ELSE -1 END) AS delta
        FROM new_rows n JOIN old_rows o ON o.queue = n.queue AND o.id = n.id
        WHERE n.grp <> '' AND (n.state = 'active') <> (o.state = 'active')
        GROUP BY n.queue, n.grp
    ), l AS (
        SELECT g.queue, g.grp FROM tipbox_queue.groups g JOIN d ON g.queue = d.queue AND g.grp = d.grp
        ORDER BY g.queue, g.grp FOR UPDATE OF g
    )
    UPDATE tipbox_queue.groups g SET active = greatest(g.active + d.delta, 0)
    FROM d, l WHERE g.queue = d.queue AND g.grp = d.grp AND l.queue = d.queue AND l.grp = d.grp;
    RETURN NULL;
END $$;
