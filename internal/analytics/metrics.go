package analytics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	clicksTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "relance_email_clicks_total",
		Help: "Tracked email link requests (/r/:token), by outcome.",
	}, []string{"outcome"})
	attributedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "relance_orders_attributed_total",
		Help: "Orders attributed to a Relance email, by model.",
	}, []string{"model"})
)
