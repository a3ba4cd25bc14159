CREATE TABLE follows (
    follower   INTEGER NOT NULL,
    followee   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (follower, followee)
);
CREATE INDEX follows_followee_idx ON follows (followee, created_at DESC);
