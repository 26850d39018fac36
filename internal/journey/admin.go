package journey

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/relance/relance/internal/flow"
)

// ShopZoneSQL is the shop's effective time zone in a query joining shops s
// and shop_settings ss: the merchant's choice in the admin, else Shopify's.
const ShopZoneSQL = `coalesce(nullif(ss.timezone, ''), s.timezone)`

// MoveToVersion re-pins every active enrollment of a flow to version (after
// a publish, when the merchant chose to move waiting shoppers). Each keeps
// its branch and step index, and its next step is re-timed by the new
// version's delay, counted from when the previous step ran (from the
// trigger for the first step; now when that time is past). One whose branch
// or step no longer exists in the new version exits at once with
// ReasonFlowChanged, so no task waits for a step that is gone. It returns
// how many moved or exited. Pages of enrollments are moved in separate
// transactions; a retry after an error moves what is left.
func (e *Engine) MoveToVersion(ctx context.Context, shopID int64, key flow.Key, version int) (int64, error) {
	f, err := e.flows.Version(ctx, shopID, key, version)
	if err != nil {
		return 0, err
	}
	loc, err := e.shopZone(e.db.WithContext(ctx), shopID)
	if err != nil {
		return 0, err
	}
	var moved, after int64
	for {
		n, last, err := e.movePage(ctx, shopID, f, loc, after)
		moved += n
		if err != nil {
			return moved, fmt.Errorf("journey: move %s enrollments of shop %d to v%d: %w", key, shopID, version, err)
		}
		if last == 0 {
			return moved, nil
		}
		after = last
	}
}

// movePage moves the next page of enrollments after id after; last is the
// page's last id (0 when none was left).
func (e *Engine) movePage(ctx context.Context, shopID int64, f *flow.Flow, loc *time.Location, after int64) (moved, last int64, err error) {
	err = e.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var ens []Enrollment
		if err := tx.Raw(`SELECT * FROM enrollments WHERE shop_id = ? AND flow_key = ? AND status = ? AND flow_version <> ? AND id > ?
			ORDER BY id LIMIT ? FOR NO KEY UPDATE`, shopID, f.Key, StatusActive, f.Version, after, pumpBatch).Scan(&ens).Error; err != nil {
			return fmt.Errorf("read enrollments: %w", err)
		}
		if len(ens) == 0 {
			return nil
		}
		last = ens[len(ens)-1].ID
		ids := make([]int64, len(ens))
		for i, en := range ens {
			ids[i] = en.ID
		}
		// When each enrollment's previous step ran: the base of its next delay.
		var runs []struct {
			EnrollmentID int64
			At           time.Time
		}
		if err := tx.Raw(`SELECT DISTINCT ON (d.enrollment_id) d.enrollment_id, d.at FROM journey_decisions d
			JOIN enrollments en ON en.id = d.enrollment_id
			WHERE d.enrollment_id = ANY(?::bigint[]) AND d.step = en.step - 1 AND d.decision IN (?, ?, ?)
			ORDER BY d.enrollment_id, d.id DESC`, int64Array(ids), DecisionSent, DecisionSkipped, DecisionFailed).Scan(&runs).Error; err != nil {
			return fmt.Errorf("read step runs: %w", err)
		}
		ran := make(map[int64]time.Time, len(runs))
		for _, r := range runs {
			ran[r.EnrollmentID] = r.At
		}
		type moveRow struct {
			ID         int64      `json:"id"`
			NextRunAt  *time.Time `json:"next_run_at"`
			WaitingFor string     `json:"waiting_for"`
		}
		var rows []moveRow
		var gone, keep []int64
		for i := range ens {
			en := &ens[i]
			b := f.BranchByKey(en.Branch)
			if b == nil || en.Step >= len(b.Steps) {
				gone = append(gone, en.ID)
				continue
			}
			keep = append(keep, en.ID)
			base, ok := en.TriggerAt, true
			if en.Step > 0 {
				base, ok = ran[en.ID]
			}
			if ok {
				e.schedule(en, b.Steps[en.Step], base, loc, 0, en.fulfilledAt())
			}
			rows = append(rows, moveRow{ID: en.ID, NextRunAt: en.NextRunAt, WaitingFor: en.WaitingFor})
		}
		if len(gone) > 0 {
			if _, err := e.exitWhere(tx, shopID, ReasonFlowChanged, "id IN ?", gone); err != nil {
				return err
			}
		}
		if len(rows) > 0 {
			b, err := json.Marshal(rows)
			if err != nil {
				return fmt.Errorf("encode moves: %w", err)
			}
			// enqueued_for NULL: the pump offers the new due time; a task
			// queued for the old one no longer matches the row and does nothing.
			if err := tx.Exec(`UPDATE enrollments en SET flow_version = ?, goal_purchase = ?, ladder = ?, next_run_at = v.next_run_at,
					waiting_for = v.waiting_for, enqueued_for = NULL, updated_at = now()
				FROM jsonb_to_recordset(?::jsonb) AS v(id bigint, next_run_at timestamptz, waiting_for text)
				WHERE en.id = ANY(?::bigint[]) AND en.id = v.id`,
				f.Version, f.Goal == flow.GoalPurchase, f.Ladder, string(b), int64Array(keep)).Error; err != nil {
				return fmt.Errorf("move enrollments: %w", err)
			}
		}
		moved = int64(len(ens))
		return nil
	})
	return moved, last, err
}

// FlowStats are a flow's counters for the admin's list of sequences. The
// engine knows Waiting; Sent and Skipped come from the analytics
// pre-aggregates (internal/analytics FlowActivity).
type FlowStats struct {
	Waiting int64 // active enrollments
	Sent    int64 // emails sent over the period shown
	Skipped int64 // steps skipped over the period shown
}

// FlowStats returns the shoppers waiting in every flow of a shop that has
// any (an index-only count of active enrollments per flow).
func (e *Engine) FlowStats(ctx context.Context, shopID int64) (map[flow.Key]FlowStats, error) {
	var waiting []struct {
		FlowKey flow.Key
		N       int64
	}
	if err := e.db.WithContext(ctx).Raw(`SELECT flow_key, count(*) AS n FROM enrollments WHERE shop_id = ? AND status = 'active' GROUP BY flow_key`,
		shopID).Scan(&waiting).Error; err != nil {
		return nil, fmt.Errorf("journey: waiting counts of shop %d: %w", shopID, err)
	}
	out := make(map[flow.Key]FlowStats, len(waiting))
	for _, r := range waiting {
		out[r.FlowKey] = FlowStats{Waiting: r.N}
	}
	return out, nil
}

// ActivityQuery selects decisions for the admin's activity page. Before is
// a keyset cursor (decision id; 0 for the newest).
type ActivityQuery struct {
	EmailContains string
	ContactID     int64
	Before        int64
	Limit         int
}

// ActivityItem is one decision with what the admin shows about it.
type ActivityItem struct {
	ID          int64
	At          time.Time
	ContactID   int64
	Email       string
	Flow        flow.Key
	FlowVersion int
	Step        string // the step's key ("" when the enrollment had no step left)
	Decision    string
	Reason      string
}

// Activity returns a shop's decisions, newest first.
func (e *Engine) Activity(ctx context.Context, shopID int64, q ActivityQuery) ([]ActivityItem, error) {
	var rows []struct {
		ID          int64
		At          time.Time
		ContactID   int64
		Email       string
		FlowKey     flow.Key
		FlowVersion int
		Branch      string
		Step        int
		Decision    string
		Reason      string
	}
	sql := `SELECT d.id, d.at, d.contact_id, coalesce(c.email, '') AS email, en.flow_key, en.flow_version, en.branch, d.step,
			d.decision, d.reason
		FROM journey_decisions d
		JOIN enrollments en ON en.id = d.enrollment_id AND en.shop_id = d.shop_id
		LEFT JOIN contacts c ON c.id = d.contact_id AND c.shop_id = d.shop_id
		WHERE d.shop_id = ?`
	args := []any{shopID}
	if q.Before > 0 {
		sql += ` AND d.id < ?`
		args = append(args, q.Before)
	}
	if q.ContactID > 0 {
		sql += ` AND d.contact_id = ?`
		args = append(args, q.ContactID)
	}
	if s := strings.ToLower(strings.TrimSpace(q.EmailContains)); s != "" {
		sql += ` AND c.email LIKE ? ESCAPE '\'`
		args = append(args, "%"+likeEscaper.Replace(s)+"%")
	}
	sql += ` ORDER BY d.id DESC LIMIT ?`
	args = append(args, q.Limit)
	if err := e.db.WithContext(ctx).Raw(sql, args...).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("journey: activity of shop %d: %w", shopID, err)
	}
	out := make([]ActivityItem, len(rows))
	for i, r := range rows {
		out[i] = ActivityItem{ID: r.ID, At: r.At, ContactID: r.ContactID, Email: r.Email, Flow: r.FlowKey, FlowVersion: r.FlowVersion,
			Decision: r.Decision, Reason: r.Reason}
		f, err := e.flows.Version(ctx, shopID, r.FlowKey, r.FlowVersion)
		if err != nil && !errors.Is(err, flow.ErrNotFound) {
			return nil, err
		}
		if f != nil {
			if b := f.BranchByKey(r.Branch); b != nil && r.Step >= 0 && r.Step < len(b.Steps) {
				out[i].Step = b.Steps[r.Step].Key
			}
		}
	}
	return out, nil
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// ReserveMessageID takes an id from the engine's message sequence for an
// email sent outside any enrollment (the admin's test email), so it can
// never collide with an engine message in the mail tables, which are keyed
// by it.
func (e *Engine) ReserveMessageID(ctx context.Context) (int64, error) {
	var id int64
	if err := e.db.WithContext(ctx).Raw(`SELECT nextval(pg_get_serial_sequence('journey_messages', 'id'))`).Scan(&id).Error; err != nil {
		return 0, fmt.Errorf("journey: reserve message id: %w", err)
	}
	return id, nil
}
