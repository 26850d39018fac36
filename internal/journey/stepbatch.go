package journey

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Default batching of step tasks (Options.StepBatch, Options.StepBatchWait).
const (
	DefaultStepBatch     = 50
	DefaultStepBatchWait = 5 * time.Millisecond
)

// stepBatcher gathers the step tasks the worker's goroutines handle at the
// same moment and runs them with one RunSteps. The first task of a group
// waits up to wait for others (or until max joined), runs the group and
// hands each task its own result; tasks arriving meanwhile start the next
// group. Nothing outlives the call: a task returns only once its step has
// run, so asynq's retries and at-most-once guarantees are unchanged.
type stepBatcher struct {
	e    *Engine
	max  int
	wait time.Duration

	mu  sync.Mutex
	cur *stepGroup
}

type stepGroup struct {
	calls []*stepCall
	full  chan struct{} // closed when max calls joined
}

type stepCall struct {
	p    RunStepPayload
	done chan error
}

func (b *stepBatcher) run(ctx context.Context, p RunStepPayload) error {
	c := &stepCall{p: p, done: make(chan error, 1)}
	b.mu.Lock()
	g, leader := b.cur, b.cur == nil
	if leader {
		g = &stepGroup{full: make(chan struct{})}
		b.cur = g
	}
	g.calls = append(g.calls, c)
	if len(g.calls) >= b.max {
		b.cur = nil
		close(g.full)
	}
	b.mu.Unlock()
	if leader {
		b.lead(ctx, g)
	}
	return <-c.done
}

// lead waits for the group to fill, runs it and answers every call.
func (b *stepBatcher) lead(ctx context.Context, g *stepGroup) {
	t := time.NewTimer(b.wait)
	select {
	case <-g.full:
	case <-t.C:
	case <-ctx.Done():
	}
	t.Stop()
	b.mu.Lock()
	if b.cur == g {
		b.cur = nil
	}
	calls := g.calls
	b.mu.Unlock()

	answered := false
	defer func() {
		if !answered { // a panic: no call may wait forever
			for _, c := range calls {
				c.done <- fmt.Errorf("journey: step batch of %d aborted", len(calls))
			}
		}
	}()
	ps := make([]RunStepPayload, len(calls))
	for i, c := range calls {
		ps[i] = c.p
	}
	errs := b.e.RunSteps(ctx, ps)
	for i, c := range calls {
		c.done <- errs[i]
	}
	answered = true
}
