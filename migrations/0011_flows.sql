-- +goose Up
-- A shop's sequences. The definition of each version is immutable once
-- written; enrollments are pinned to the version they started on.
CREATE TABLE IF NOT EXISTS flows (
    shop_id    bigint      NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    key        text        NOT NULL,
    enabled    boolean     NOT NULL DEFAULT false,
    version    integer     NOT NULL CHECK (version >= 1),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, key)
);

CREATE TABLE IF NOT EXISTS flow_versions (
    shop_id    bigint      NOT NULL,
    key        text        NOT NULL,
    version    integer     NOT NULL CHECK (version >= 1),
    definition jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, key, version),
    FOREIGN KEY (shop_id, key) REFERENCES flows (shop_id, key) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE IF EXISTS flow_versions;
DROP TABLE IF EXISTS flows;
