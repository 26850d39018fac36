package platform

import (
	"fmt"

	"github.com/hibiken/asynq"
)

// Queue names. Webhooks are drained first so ingest never waits behind a
// slow batch of sends.
const (
	QueueWebhooks = "webhooks"
	QueueDefault  = "default"
	QueueLow      = "low"
)

// Queues is the weighted priority list given to the asynq server.
var Queues = map[string]int{QueueWebhooks: 6, QueueDefault: 3, QueueLow: 1}

// RedisOpt parses REDIS_URL into asynq's connection options.
func RedisOpt(redisURL string) (asynq.RedisConnOpt, error) {
	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		return nil, fmt.Errorf("platform: parse REDIS_URL: %w", err)
	}
	return opt, nil
}
