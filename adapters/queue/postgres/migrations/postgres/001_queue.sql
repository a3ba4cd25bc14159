CREATE SCHEMA IF NOT EXISTS tipbox_queue;

-- One row per queue: its pause flag, RateLimited hold, rate-limit slot
-- and the totals of finished jobs (kept by the triggers below).
CREATE TABLE tipbox_queue.queues (
    name       TEXT PRIMARY KEY,
    paused     BOOLEAN     NOT NULL DEFAULT false,
    held_until TIMESTAMPTZ NOT NULL DEFAULT 'epoch',
    tat        TIMESTAMPTZ NOT NULL DEFAULT 'epoch',
    completed  BIGINT      NOT NULL DEFAULT 0,
    failed     BIGINT      NOT NULL DEFAULT 0
);

-- A job is waiting or delayed (stored state) and due when run_at has
-- passed: a claim takes due delayed jobs directly, so no promoter sits
-- between a delay's end and its start.
CREATE TABLE tipbox_queue.jobs (
    queue          TEXT        NOT NULL,
    id             TEXT        NOT NULL,
    seq            BIGINT      GENERATED ALWAYS AS IDENTITY,
    name           TEXT        NOT NULL,
    payload        TEXT        NOT NULL,
    priority       SMALLINT    NOT NULL, -- 0 high, 1 normal, 2 low
    grp            TEXT        NOT NULL DEFAULT '',
    state          TEXT        NOT NULL,
    attempt        INT         NOT NULL,
    max_attempts   INT         NOT NULL,
    stalls         INT         NOT NULL DEFAULT 0,
    percent        INT         NOT NULL DEFAULT 0,
    error          TEXT        NOT NULL DEFAULT '',
    enqueued_at    TIMESTAMPTZ NOT NULL,
    run_at         TIMESTAMPTZ NOT NULL,
    started_at     TIMESTAMPTZ,
    finished_at    TIMESTAMPTZ,
    correlation_id TEXT        NOT NULL DEFAULT '',
    timeout_ns     BIGINT      NOT NULL DEFAULT 0,
    retry          TEXT        NOT NULL DEFAULT '',
    delivery       BIGINT      NOT NULL DEFAULT 0, -- numbers the deliveries
    heartbeat_at   TIMESTAMPTZ,                    -- the lease of an active job
    cancel         BOOLEAN     NOT NULL DEFAULT false,
    PRIMARY KEY (queue, id)
);
CREATE INDEX jobs_due ON tipbox_queue.jobs (queue, priority, run_at, seq) WHERE state IN ('waiting', 'delayed') AND grp = '';
CREATE INDEX jobs_grouped ON tipbox_queue.jobs (queue, grp, run_at, seq) WHERE state IN ('waiting', 'delayed') AND grp <> '';
CREATE INDEX jobs_delayed ON tipbox_queue.jobs (queue, run_at) WHERE state = 'delayed';
CREATE INDEX jobs_active ON tipbox_queue.jobs (queue, grp) WHERE state = 'active';
CREATE INDEX jobs_finished ON tipbox_queue.jobs (queue, state, finished_at, id) WHERE state IN ('completed', 'failed', 'cancelled');

-- Groups served round-robin: the least recently served first.
CREATE SEQUENCE tipbox_queue.served;
CREATE TABLE tipbox_queue.groups (
    queue      TEXT        NOT NULL,
    grp        TEXT        NOT NULL,
    served     BIGINT      NOT NULL DEFAULT 0,
    held_until TIMESTAMPTZ NOT NULL DEFAULT 'epoch',
    tat        TIMESTAMPTZ NOT NULL DEFAULT 'epoch',
    active     INT         NOT NULL DEFAULT 0, -- its active jobs (kept by jobs_updated)
    PRIMARY KEY (queue, grp)
);

-- Caller-chosen job IDs (WithJobID, schedule ticks) stay taken for the
-- dedup window, also after their job is gone.
CREATE TABLE tipbox_queue.dedup (
    queue TEXT        NOT NULL,
    id    TEXT        NOT NULL,
    until TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (queue, id)
);

CREATE TABLE tipbox_queue.logs (
    queue   TEXT        NOT NULL,
    job_id  TEXT        NOT NULL,
    seq     BIGINT      GENERATED ALWAYS AS IDENTITY,
    at      TIMESTAMPTZ NOT NULL,
    message TEXT        NOT NULL,
    PRIMARY KEY (queue, job_id, seq),
    FOREIGN KEY (queue, job_id) REFERENCES tipbox_queue.jobs (queue, id) ON DELETE CASCADE
);

CREATE TABLE tipbox_queue.minutes (
    queue     TEXT   NOT NULL,
    minute    BIGINT NOT NULL, -- Unix minutes
    completed BIGINT NOT NULL DEFAULT 0,
    failed    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, minute)
);

-- Events are ordered by (xid, id): a reader returns only events of
-- transactions older than every running one (pg_snapshot_xmin), so an
-- event committed late can never sort before one already read.
CREATE TABLE tipbox_queue.events (
    queue    TEXT        NOT NULL,
    xid      BIGINT      NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
    id       BIGINT      GENERATED ALWAYS AS IDENTITY,
    job_id   TEXT        NOT NULL,
    name     TEXT        NOT NULL,
    state    TEXT        NOT NULL,
    attempts INT         NOT NULL,
    progress INT,
    error    TEXT        NOT NULL,
    at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (queue, xid, id)
);

CREATE TABLE tipbox_queue.schedules (
    queue   TEXT        NOT NULL,
    id      TEXT        NOT NULL,
    spec    TEXT        NOT NULL, -- the queue.Schedule as JSON
    last    TIMESTAMPTZ,
    created TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (queue, id)
);

CREATE FUNCTION tipbox_queue.attempts(state TEXT, attempt INT, started TIMESTAMPTZ) RETURNS INT
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN state IN ('waiting', 'delayed') OR (state = 'cancelled' AND started IS NULL)
                THEN attempt - 1 ELSE attempt END
$$;

-- Every insert and every change of state or progress appends an event;
-- every job newly completed or failed counts in its queue's totals and
-- minute, whatever statement (or caller's transaction) made the change.
CREATE FUNCTION tipbox_queue.jobs_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tipbox_queue.events (queue, job_id, name, state, attempts, error, at)
    SELECT n.queue, n.id, n.name, n.state, tipbox_queue.attempts(n.state, n.attempt, n.started_at), '', clock_timestamp()
    FROM new_rows n ORDER BY n.seq;
    RETURN NULL;
END $$;

CREATE FUNCTION tipbox_queue.jobs_updated() RETURNS trigger LANGUAGE plpgsql AS $$
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
    UPDATE tipbox_queue.queues q SET completed = q.completed + c.completed, failed = q.failed + c.failed
    FROM (SELECT queue, count(*) FILTER (WHERE state = 'completed') AS completed,
                 count(*) FILTER (WHERE state = 'failed') AS failed
          FROM f GROUP BY queue) c
    WHERE q.name = c.queue;

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

CREATE TRIGGER jobs_inserted AFTER INSERT ON tipbox_queue.jobs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tipbox_queue.jobs_inserted();
CREATE TRIGGER jobs_updated AFTER UPDATE ON tipbox_queue.jobs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tipbox_queue.jobs_updated();
