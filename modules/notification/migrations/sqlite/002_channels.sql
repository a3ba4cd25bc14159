-- Notification channels (email, Web Push) by each user's preferences.
-- notifications.channels is the plan made when the notification was
-- stored: {"email":{"state":"pending"},"push":{"state":"skipped",...}}.
-- notification_deliveries holds what each channel's job made of it since.
ALTER TABLE notifications ADD COLUMN channels TEXT NOT NULL DEFAULT '{}';

CREATE TABLE notification_deliveries (
    notification_id INTEGER NOT NULL,
    channel         TEXT   NOT NULL,
    state           TEXT   NOT NULL,
    detail          TEXT   NOT NULL DEFAULT '',
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (notification_id, channel)
);

-- A user's own settings (what differs from the configured defaults), JSON.
CREATE TABLE notification_preferences (
    user_id    INTEGER PRIMARY KEY,
    data       TEXT   NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Browsers' push subscriptions. An endpoint belongs to one browser
-- profile: subscribing it again (another user signing in there) moves it.
CREATE TABLE push_subscriptions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL,
    endpoint   TEXT   NOT NULL UNIQUE,
    p256dh     TEXT   NOT NULL,
    auth       TEXT   NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX push_subscriptions_user_idx ON push_subscriptions (user_id);
