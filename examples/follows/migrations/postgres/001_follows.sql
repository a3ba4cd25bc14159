CREATE TABLE follows (
    follower   BIGINT NOT NULL,
    followee   BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (follower, followee)
);
CREATE INDEX follows_followee_idx ON follows (followee, created_at DESC);
