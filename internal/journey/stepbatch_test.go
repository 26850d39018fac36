package journey_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/flow"
	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/platform"
)

// faultySender fails chosen enrollments' sends, in order, and otherwise
// delivers to the world's outbox (which dedupes on the message id).
type faultySender struct {
	out    *outbox
	mu     sync.Mutex
	faults map[int64][]fault // by enrollment id
}

type fault struct {
	delivered bool // the provider accepted it before the error (a crash after sending)
	err       error
}

func (s *faultySender) Send(ctx context.Context, m journey.Message) error {
	s.mu.Lock()
	var f *fault
	if q := s.faults[m.EnrollmentID]; len(q) > 0 {
		f, s.faults[m.EnrollmentID] = &q[0], q[1:]
	}
	s.mu.Unlock()
	if f == nil {
		return s.out.Send(ctx, m)
	}
	s.out.mu.Lock()
	defer s.out.mu.Unlock()
	s.out.calls++
	if f.delivered {
		s.out.record(m)
	}
	return f.err
}

// faulty gives w an engine whose Sender fails as told.
func (w *world) faulty() *faultySender {
	s := &faultySender{out: w.out, faults: map[int64][]fault{}}
	client := asynq.NewClient(w.redis)
	w.t.Cleanup(func() { client.Close() })
	w.eng = journey.New(journey.Options{DB: w.db, Queue: client, Sender: s, Clock: w.clock})
	return s
}

// due moves the clock to at, pumps, and takes from Redis the step tasks
// due then.
func (w *world) due(at time.Time) []journey.RunStepPayload {
	w.t.Helper()
	w.clock.Set(at)
	_, err := w.eng.Pump(w.ctx)
	require.NoError(w.t, err)
	var out []journey.RunStepPayload
	for _, t := range w.tasks() {
		var p journey.RunStepPayload
		require.NoError(w.t, json.Unmarshal(t.Payload, &p))
		if !time.UnixMicro(p.RunAt).After(at) {
			out = append(out, p)
			require.NoError(w.t, w.inspect.DeleteTask(platform.QueueDefault, t.ID))
		}
	}
	require.NotEmpty(w.t, out)
	return out
}

func (w *world) enrollmentOf(contactID int64, key flow.Key) journey.Enrollment {
	w.t.Helper()
	for _, en := range w.enrollments(contactID) {
		if en.FlowKey == key {
			return en
		}
	}
	w.t.Fatalf("no %s enrollment for contact %d", key, contactID)
	return journey.Enrollment{}
}

func payloadOf(ps []journey.RunStepPayload, enrollmentID int64) journey.RunStepPayload {
	for _, p := range ps {
		if p.EnrollmentID == enrollmentID {
			return p
		}
	}
	panic(fmt.Sprintf("no task for enrollment %d", enrollmentID))
}

func noErrors(t *testing.T, errs []error) {
	t.Helper()
	for i, err := range errs {
		require.NoError(t, err, "step %d", i)
	}
}

// Two steps of the same contact in one batch: the frequency cap sees the
// first one's email, so only it goes, as if they had run one after the other.
func TestStepBatchFrequencyCapWithinTheBatch(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 10:00")
	bob := w.contact("bob@example.com", contact.Subscribed)
	ann := w.contact("ann@example.com", contact.Subscribed)
	w.trigger(bob, flow.Subscribed, "", w.at("10:00"))
	w.trigger(bob, flow.QuizCompleted, "", w.at("10:00"))
	w.trigger(ann, flow.Subscribed, "", w.at("10:00"))
	ps := w.due(w.at("10:00"))
	require.Len(t, ps, 3)
	welcome, quiz := w.enrollmentOf(bob, flow.Welcome), w.enrollmentOf(bob, flow.PostQuiz)
	// The quiz step first: it goes, and the welcome (promotional too) waits.
	batch := []journey.RunStepPayload{payloadOf(ps, quiz.ID), payloadOf(ps, welcome.ID), payloadOf(ps, w.enrollmentOf(ann, flow.Welcome).ID)}
	noErrors(t, w.eng.RunSteps(w.ctx, batch))

	require.Equal(t, 1, len(w.sentTo(bob)), "one email to bob")
	require.Equal(t, 1, len(w.sentTo(ann)), "ann is not held back by bob")
	ds, err := w.eng.Decisions(w.ctx, w.shop, bob)
	require.NoError(t, err)
	require.Len(t, ds, 2)
	require.Equal(t, quiz.ID, ds[0].EnrollmentID)
	require.Equal(t, journey.DecisionSent, ds[0].Decision)
	require.Equal(t, welcome.ID, ds[1].EnrollmentID)
	require.Equal(t, journey.DecisionDeferred, ds[1].Decision)
	require.Equal(t, journey.ReasonFrequencyCap, ds[1].Reason)
	require.Equal(t, w.at("2026-03-03 02:00").UTC(), ds[1].Until.UTC(), "16 h after the quiz email")
}

func (w *world) sentTo(contactID int64) []string {
	w.t.Helper()
	w.out.mu.Lock()
	defer w.out.mu.Unlock()
	var out []string
	for _, m := range w.out.order {
		if m.ContactID == contactID {
			out = append(out, m.Template)
		}
	}
	return out
}

// threeCheckouts starts a checkout at 10:00 for each of three subscribed
// contacts: their first reminders fall due together at 11:00.
func (w *world) threeCheckouts() (bob, ann, eve int64) {
	bob = w.contact("bob@example.com", contact.Subscribed)
	ann = w.contact("ann@example.com", contact.Subscribed)
	eve = w.contact("eve@example.com", contact.Subscribed)
	for i, c := range []int64{bob, ann, eve} {
		w.trigger(c, flow.CheckoutStarted, fmt.Sprintf("tok-%d", i), w.at("10:00"))
	}
	return bob, ann, eve
}

// An order reached the database between scheduling and running: that
// step is skipped (the enrollment exits, purchased), the others go.
func TestStepBatchPurchaseSeenInTheDatabase(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 10:00")
	bob, ann, eve := w.threeCheckouts()
	ps := w.due(w.at("11:00"))
	require.Len(t, ps, 3)
	// The order reached the contact history, but its trigger was never run.
	_, err := w.eng.Contacts().RecordOrder(w.ctx, w.shop, contact.Order{ID: 7, ContactID: ann, TotalPrice: "1", OrderedAt: w.at("10:40"), UpdatedAt: w.at("10:40")})
	require.NoError(t, err)
	noErrors(t, w.eng.RunSteps(w.ctx, ps))

	require.Equal(t, []string{"checkout/1"}, w.sentTo(bob))
	require.Empty(t, w.sentTo(ann))
	require.Equal(t, []string{"checkout/1"}, w.sentTo(eve))
	require.Equal(t, []string{"exited:purchased"}, w.decisions(ann))
	require.Equal(t, []string{"sent"}, w.decisions(bob))
	require.Equal(t, []string{"sent"}, w.decisions(eve))
	require.Equal(t, 2, w.out.calls)
}

// Invariant 2 with batches: a duplicate task inside one batch, in the next
// batch, and in two batches running at once, sends once.
func TestStepBatchDuplicateTasksSendOnce(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 10:00")
	bob := w.contact("bob@example.com", contact.Subscribed)
	ann := w.contact("ann@example.com", contact.Subscribed)
	w.trigger(bob, flow.CheckoutStarted, "tok-1", w.at("10:00"))
	w.trigger(ann, flow.CheckoutStarted, "tok-2", w.at("10:00"))
	ps := w.due(w.at("11:00"))
	require.Len(t, ps, 2)
	b, a := payloadOf(ps, w.enrollmentOf(bob, flow.Checkout).ID), payloadOf(ps, w.enrollmentOf(ann, flow.Checkout).ID)

	noErrors(t, w.eng.RunSteps(w.ctx, []journey.RunStepPayload{b, b, a, b})) // inside one batch
	require.Equal(t, 2, w.out.calls)
	noErrors(t, w.eng.RunSteps(w.ctx, []journey.RunStepPayload{a, b})) // across batches
	var wg sync.WaitGroup
	for range 3 { // batches at once
		wg.Go(func() { noErrors(t, w.eng.RunSteps(w.ctx, []journey.RunStepPayload{b, a})) })
	}
	wg.Wait()
	require.Equal(t, 2, w.out.calls)
	require.Equal(t, []string{"sent"}, w.decisions(bob))
	require.Equal(t, []string{"sent"}, w.decisions(ann))

	// The next steps, through the task handler from many goroutines at
	// once, as asynq's workers call it (the handler gathers them).
	ps = w.due(w.at("2026-03-03 11:00"))
	require.Len(t, ps, 2)
	for range 5 {
		for _, p := range ps {
			body, err := json.Marshal(p)
			require.NoError(t, err)
			wg.Go(func() { require.NoError(t, w.eng.HandleRunStep(w.ctx, asynq.NewTask(journey.TypeRunStep, body))) })
		}
	}
	wg.Wait()
	require.Equal(t, 4, w.out.calls)
	require.Equal(t, []string{"checkout/1", "checkout/2"}, w.sentTo(bob))
	require.Equal(t, []string{"checkout/1", "checkout/2"}, w.sentTo(ann))
}

// A crash between the commit of a batch's message rows and the Sender's
// answer: the replay re-sends the same message id, so the shopper gets
// one email, and the other steps of the batch are not sent again.
func TestStepBatchCrashAfterInsertSendsExactlyOnce(t *testing.T) {
	for _, delivered := range []bool{false, true} {
		t.Run(fmt.Sprintf("delivered before the crash: %v", delivered), func(t *testing.T) {
			w := newWorld(t, paris, "2026-03-02 10:00")
			s := w.faulty()
			bob, ann, eve := w.threeCheckouts()
			ps := w.due(w.at("11:00"))
			s.faults[w.enrollmentOf(ann, flow.Checkout).ID] = []fault{{delivered: delivered, err: errors.New("connection reset")}}
			errs := w.eng.RunSteps(w.ctx, ps)
			var rows int64
			require.NoError(t, w.db.Raw(`SELECT count(*) FROM journey_messages WHERE shop_id = ?`, w.shop).Scan(&rows).Error)
			require.Equal(t, int64(3), rows, "every message row survived")
			for i, p := range ps {
				if p.EnrollmentID == w.enrollmentOf(ann, flow.Checkout).ID {
					require.Error(t, errs[i], "ann's task fails: asynq retries it")
				} else {
					require.NoError(t, errs[i])
				}
			}
			require.Equal(t, []string{"sent"}, w.decisions(bob))
			require.Empty(t, w.decisions(ann))
			require.Equal(t, 0, w.enrollmentOf(ann, flow.Checkout).Step)

			noErrors(t, w.eng.RunSteps(w.ctx, ps)) // the replay (ann's retry, and duplicates of the others)
			noErrors(t, w.eng.RunSteps(w.ctx, ps))
			require.Equal(t, 4, w.out.calls, "only ann's message is sent again, with its id")
			for _, c := range []int64{bob, ann, eve} {
				require.Equal(t, []string{"checkout/1"}, w.sentTo(c), "exactly one email")
				require.Equal(t, []string{"sent"}, w.decisions(c))
			}
			require.NoError(t, w.db.Raw(`SELECT count(*) FROM journey_messages WHERE shop_id = ? AND status = 'sent'`, w.shop).Scan(&rows).Error)
			require.Equal(t, int64(3), rows)
		})
	}
}

// A Sender failure for one step fails that step alone: retried later when
// transient, recorded as failed when final.
func TestStepBatchSenderFailureFailsOneStep(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 10:00")
	s := w.faulty()
	bob, ann, eve := w.threeCheckouts()
	ps := w.due(w.at("11:00"))
	s.faults[w.enrollmentOf(bob, flow.Checkout).ID] = []fault{{err: fmt.Errorf("bad address: %w", journey.ErrUndeliverable)}}
	s.faults[w.enrollmentOf(eve, flow.Checkout).ID] = []fault{{err: errors.New("503")}, {err: errors.New("503")}}
	errs := w.eng.RunSteps(w.ctx, ps)
	for i, p := range ps {
		if p.EnrollmentID == w.enrollmentOf(eve, flow.Checkout).ID {
			require.Error(t, errs[i])
		} else {
			require.NoError(t, errs[i])
		}
	}
	require.Equal(t, []string{"failed:bad address: journey: undeliverable"}, w.decisions(bob))
	require.Equal(t, 1, w.enrollmentOf(bob, flow.Checkout).Step, "a final failure moves on")
	require.Equal(t, []string{"sent"}, w.decisions(ann))
	require.Empty(t, w.decisions(eve))

	eveTask := payloadOf(ps, w.enrollmentOf(eve, flow.Checkout).ID)
	require.Error(t, w.eng.RunSteps(w.ctx, []journey.RunStepPayload{eveTask})[0], "still failing")
	noErrors(t, w.eng.RunSteps(w.ctx, []journey.RunStepPayload{eveTask}))
	require.Equal(t, []string{"sent"}, w.decisions(eve))
	require.Equal(t, []string{"checkout/1"}, w.sentTo(eve))
	require.Empty(t, w.sentTo(bob))
	var status string
	require.NoError(t, w.db.Raw(`SELECT status FROM journey_messages WHERE enrollment_id = ?`, w.enrollmentOf(bob, flow.Checkout).ID).Scan(&status).Error)
	require.Equal(t, "failed", status)
}

// A task naming another shop than its enrollment's does nothing, alone or
// in a batch with the genuine task.
func TestStepBatchScopedToEachTasksShop(t *testing.T) {
	w := newWorld(t, paris, "2026-03-02 10:00")
	bob := w.contact("bob@example.com", contact.Subscribed)
	w.trigger(bob, flow.CheckoutStarted, "tok-1", w.at("10:00"))
	ps := w.due(w.at("11:00"))
	forged := ps[0]
	forged.ShopID = w.shop + 1_000_000
	noErrors(t, w.eng.RunSteps(w.ctx, []journey.RunStepPayload{forged}))
	require.Empty(t, w.out.templates(), "a task naming another shop does nothing")
	noErrors(t, w.eng.RunSteps(w.ctx, []journey.RunStepPayload{forged, ps[0]}))
	require.Equal(t, []string{"checkout/1"}, w.out.templates())
}
