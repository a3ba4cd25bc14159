-- Users' inboxes. job_id makes storing idempotent: a redelivered job finds
-- its row. data is the event's JSON object. Times: INTEGER microseconds, UTC.
CREATE TABLE notifications (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id     TEXT    NOT NULL UNIQUE,
    user_id    INTEGER NOT NULL,
    type       TEXT    NOT NULL,
    data       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    read_at    INTEGER
);
CREATE INDEX notifications_user_idx ON notifications (user_id, id DESC);
