package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Rejection reasons, the values of relance_webhooks_rejected_total{reason}.
const (
	reasonTooLarge         = "too_large"
	reasonMalformedHeaders = "malformed_headers"
	reasonBadHMAC          = "bad_hmac"
	reasonBadJSON          = "bad_json"
	reasonUnknownTopic     = "unknown_topic"
	reasonUnknownShop      = "unknown_shop"
	reasonDuplicate        = "duplicate"
	reasonUnavailable      = "unavailable"
)

var (
	// Only known topics are used as label values, so the cardinality is bounded.
	receivedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "relance_webhooks_received_total",
		Help: "Verified webhook deliveries of a known topic, by topic.",
	}, []string{"topic"})
	rejectedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "relance_webhooks_rejected_total",
		Help: "Webhook deliveries not recorded, by reason.",
	}, []string{"reason"})
	ingestSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "relance_webhook_ingest_seconds",
		Help:    "Time to answer a webhook delivery, durable write included.",
		Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	})
	enqueueFailures = promauto.NewCounter(prometheus.CounterOpts{
		Name: "relance_webhook_enqueue_failures_total",
		Help: "Committed inbox batches that could not be handed to asynq (the reconciler picks them up).",
	})
	batchSize = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "relance_webhook_batch_size",
		Help:    "Deliveries written per group commit.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 10),
	})
)

func init() {
	// Pre-create the series so dashboards see zeros rather than gaps.
	for _, r := range []string{reasonTooLarge, reasonMalformedHeaders, reasonBadHMAC, reasonBadJSON,
		reasonUnknownTopic, reasonUnknownShop, reasonDuplicate, reasonUnavailable} {
		rejectedTotal.WithLabelValues(r)
	}
	for t := range KnownTopics {
		receivedTotal.WithLabelValues(t)
	}
}
