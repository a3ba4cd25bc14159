-- Daily counts per event, and the job ids already counted (so a redelivered
-- job is not counted twice). day is YYYY-MM-DD in UTC.
CREATE TABLE analytics_daily (
    event TEXT    NOT NULL,
    day   TEXT    NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (event, day)
);
CREATE TABLE analytics_seen (
    job_id  TEXT    PRIMARY KEY,
    seen_at INTEGER NOT NULL
);
CREATE INDEX analytics_seen_at_idx ON analytics_seen (seen_at);
