-- Badge catalogue, grants, and the outbox of notifications still to enqueue.
-- Times are INTEGER microseconds since the Unix epoch, UTC.
CREATE TABLE badges (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL UNIQUE,
    icon        TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT ''
);

CREATE TABLE user_badges (
    user_id    INTEGER NOT NULL,
    badge_id   INTEGER NOT NULL REFERENCES badges (id),
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, badge_id)
);

CREATE TABLE gamification_outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id     TEXT    NOT NULL UNIQUE,
    payload    TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

INSERT INTO badges (name, icon, description) VALUES
    ('First Post', '🎯', 'Published a first post'),
    ('Helpful', '🤝', 'An answer was marked helpful'),
    ('On Fire', '🔥', 'Active seven days in a row'),
    ('Top Contributor', '🏆', 'Among the most active contributors this month'),
    ('Early Bird', '🐣', 'Joined in the first month');
