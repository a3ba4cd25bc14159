-- Users. Times are INTEGER microseconds since the Unix epoch, UTC (see
-- core/database). username_key and email_key are the lower-cased username
-- and email, computed by the store, so uniqueness ignores case the same way
-- on every database. AUTOINCREMENT: an id is never reused, even after a
-- delete (ids name cache keys).
CREATE TABLE users (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    username     TEXT    NOT NULL,
    username_key TEXT    NOT NULL,
    email        TEXT    NOT NULL,
    email_key    TEXT    NOT NULL,
    display_name TEXT    NOT NULL DEFAULT '',
    bio          TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    CONSTRAINT users_username_key_unique UNIQUE (username_key),
    CONSTRAINT users_email_key_unique UNIQUE (email_key)
);

CREATE INDEX users_updated_at_idx ON users (updated_at DESC, id DESC);
