package pixel

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	accepted = promauto.NewCounter(prometheus.CounterOpts{
		Name: "relance_pixel_batches_accepted_total",
		Help: "Pixel event batches made durable (or with nothing to keep).",
	})
	rejected = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "relance_pixel_batches_rejected_total",
		Help: "Pixel event batches refused, by reason.",
	}, []string{"reason"})
	processed = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "relance_pixel_events_processed_total",
		Help: "Pixel events processed by the worker, by name.",
	}, []string{"name"})
)
