package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	taskOutcomes = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "relance_task_outcomes_total",
		Help: "asynq tasks run, by type and outcome (ok, retry, skip_retry).",
	}, []string{"type", "outcome"})
	taskDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "relance_task_duration_seconds",
		Help:    "Time spent in asynq task handlers.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
	}, []string{"type"})
	queueDepth = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "relance_queue_depth",
		Help: "Tasks waiting in each asynq queue, by state.",
	}, []string{"queue", "state"})
)

// InstrumentTask counts outcomes and durations of a task handler.
func InstrumentTask(typ string, h asynq.HandlerFunc) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error {
		start := time.Now()
		err := h(ctx, t)
		taskDuration.WithLabelValues(typ).Observe(time.Since(start).Seconds())
		switch {
		case err == nil:
			taskOutcomes.WithLabelValues(typ, "ok").Inc()
		case errors.Is(err, asynq.SkipRetry):
			taskOutcomes.WithLabelValues(typ, "skip_retry").Inc()
		default:
			taskOutcomes.WithLabelValues(typ, "retry").Inc()
		}
		return err
	}
}

// RecordQueueDepth reads every queue's size into the relance_queue_depth gauge.
func RecordQueueDepth(opt asynq.RedisConnOpt) error {
	in := asynq.NewInspector(opt)
	defer in.Close()
	queues, err := in.Queues()
	if err != nil {
		return fmt.Errorf("platform: list queues: %w", err)
	}
	for _, q := range queues {
		info, err := in.GetQueueInfo(q)
		if err != nil {
			return fmt.Errorf("platform: queue %s: %w", q, err)
		}
		queueDepth.WithLabelValues(q, "pending").Set(float64(info.Pending))
		queueDepth.WithLabelValues(q, "scheduled").Set(float64(info.Scheduled))
		queueDepth.WithLabelValues(q, "retry").Set(float64(info.Retry))
		queueDepth.WithLabelValues(q, "active").Set(float64(info.Active))
	}
	return nil
}

// AsynqLogger routes asynq's own log lines to slog.
type AsynqLogger struct{}

func (AsynqLogger) Debug(args ...any) { slog.Debug(fmt.Sprint(args...), "component", "asynq") }
func (AsynqLogger) Info(args ...any)  { slog.Info(fmt.Sprint(args...), "component", "asynq") }
func (AsynqLogger) Warn(args ...any)  { slog.Warn(fmt.Sprint(args...), "component", "asynq") }
func (AsynqLogger) Error(args ...any) { slog.Error(fmt.Sprint(args...), "component", "asynq") }
func (AsynqLogger) Fatal(args ...any) {
	slog.Error(fmt.Sprint(args...), "component", "asynq", "fatal", true)
}
