package journey

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"

	"github.com/relance/relance/internal/flow"
)

// ReasonEngaged ends a sunset enrollment whose contact opened or clicked
// after it began: the last chance worked, so no goodbye and no suppression.
const ReasonEngaged = "engaged"

// Context keys the scan puts on re-engagement enrollments (and so on their
// messages).
const (
	// CtxInactivity is "disengaged" or "dormant".
	CtxInactivity = "inactivity"
	// CtxInactiveDays is how many whole days the contact has been inactive.
	CtxInactiveDays = "inactive_days"
)

// ReengagementSettings are a shop's inactivity thresholds: a subscribed
// contact with no order, open or click for DisengagedDays is disengaged
// (win-back branch); for DormantDays, dormant (sunset branch: a last chance,
// then suppression). DormantDays > DisengagedDays.
type ReengagementSettings struct {
	DisengagedDays int
	DormantDays    int
}

// DefaultReengagementSettings: 90 and 180 days.
func DefaultReengagementSettings() ReengagementSettings {
	return ReengagementSettings{DisengagedDays: 90, DormantDays: 180}
}

// ErrInvalidReengagement is returned by SaveReengagementSettings for
// thresholds out of range.
var ErrInvalidReengagement = errors.New("journey: re-engagement thresholds need 1 ≤ disengaged days < dormant days ≤ 3650")

// ReengagementSettings returns a shop's thresholds (defaults when never set).
func (e *Engine) ReengagementSettings(ctx context.Context, shopID int64) (ReengagementSettings, error) {
	var rows []ReengagementSettings
	err := e.db.WithContext(ctx).Raw(`SELECT disengaged_days, dormant_days FROM journey_settings WHERE shop_id = ?`, shopID).
		Scan(&rows).Error
	if err != nil {
		return ReengagementSettings{}, fmt.Errorf("journey: read re-engagement settings of shop %d: %w", shopID, err)
	}
	if len(rows) == 0 {
		return DefaultReengagementSettings(), nil
	}
	return rows[0], nil
}

// SaveReengagementSettings stores a shop's thresholds; the other engine
// settings are left as they are.
func (e *Engine) SaveReengagementSettings(ctx context.Context, shopID int64, s ReengagementSettings) error {
	if s.DisengagedDays < 1 || s.DormantDays <= s.DisengagedDays || s.DormantDays > 3650 {
		return ErrInvalidReengagement
	}
	err := e.db.WithContext(ctx).Exec(`INSERT INTO journey_settings (shop_id, disengaged_days, dormant_days) VALUES (?, ?, ?)
		ON CONFLICT (shop_id) DO UPDATE SET disengaged_days = EXCLUDED.disengaged_days, dormant_days = EXCLUDED.dormant_days,
			updated_at = now()`, shopID, s.DisengagedDays, s.DormantDays).Error
	if err != nil {
		return fmt.Errorf("journey: save re-engagement settings of shop %d: %w", shopID, err)
	}
	return nil
}

const (
	// reengageBatch bounds one page of the contact scan.
	reengageBatch = 500
	// reengageLease: a claimed scan whose heartbeat is older than this is
	// assumed dead (its replica crashed) and taken over. Processing time,
	// so not scaled.
	reengageLease = 5 * time.Minute
)

// ReengagementScanInterval is how often the worker should call
// ScanReengagement: every 10 minutes, or more often when TIME_SCALE makes
// days shorter than 4 hours (a 24th of a scaled day, at least a second).
// Calling it more often than needed costs one small query.
func (e *Engine) ReengagementScanInterval() time.Duration {
	d := e.scale(24*time.Hour) / 24
	switch {
	case d > 10*time.Minute:
		return 10 * time.Minute
	case d < time.Second:
		return time.Second
	}
	return d
}

type scanShop struct {
	ID             int64
	Timezone       string
	DisengagedDays int
	DormantDays    int
	LastDay        *int64
	LastFinished   *time.Time
	LastClaimed    *time.Time
}

// ScanReengagement runs the daily re-engagement scan of every installed
// shop with the re-engagement flow switched on whose scan for today (in the
// shop's time zone; under TIME_SCALE, the current compressed day) has not
// run yet. Call it periodically from every worker replica (see
// ReengagementScanInterval): a shop's day is claimed by one replica with a
// row in reengagement_scans, so a day is scanned once however many call it;
// a replica that dies mid-scan leaves a claim that another takes over after
// the lease, and the scan starts again harmlessly (contacts already handled
// are skipped).
//
// For each shop it triggers flow.Dormant for subscribed, unsuppressed
// contacts inactive (no order, open or click, nor creation) for
// DormantDays, and flow.Disengaged for those inactive for DisengagedDays
// but not DormantDays, skipping contacts already enrolled in re-engagement
// for this inactivity period (at the dormant stage: already given the
// sunset). Pages are read with keyset pagination on the
// contacts_reengagement index. It returns how many contacts were
// triggered; the enrollments themselves follow Trigger's rules (re-entry
// cool-down, one active enrollment per flow).
func (e *Engine) ScanReengagement(ctx context.Context, now time.Time) (int, error) {
	total := 0
	var after int64
	for {
		var shops []scanShop
		err := e.db.WithContext(ctx).Raw(`
			SELECT s.id, `+ShopZoneSQL+` AS timezone,
			       coalesce(js.disengaged_days, ?) AS disengaged_days, coalesce(js.dormant_days, ?) AS dormant_days,
			       last.day AS last_day, last.finished_at AS last_finished, last.claimed_at AS last_claimed
			FROM shops s
			JOIN flows f ON f.shop_id = s.id AND f.key = ? AND f.enabled
			LEFT JOIN journey_settings js ON js.shop_id = s.id
			LEFT JOIN shop_settings ss ON ss.shop_id = s.id
			LEFT JOIN LATERAL (SELECT day, finished_at, claimed_at FROM reengagement_scans r
			                   WHERE r.shop_id = s.id ORDER BY day DESC LIMIT 1) last ON true
			WHERE s.uninstalled_at IS NULL AND s.id > ?
			ORDER BY s.id LIMIT 1000`,
			DefaultReengagementSettings().DisengagedDays, DefaultReengagementSettings().DormantDays, flow.Reengagement, after).
			Scan(&shops).Error
		if err != nil {
			return total, fmt.Errorf("journey: re-engagement scan: list shops: %w", err)
		}
		for _, s := range shops {
			after = s.ID
			day := e.scanDay(now, e.location(s.Timezone))
			if s.LastDay != nil && *s.LastDay == day &&
				(s.LastFinished != nil || s.LastClaimed != nil && now.Sub(*s.LastClaimed) < reengageLease) {
				continue // done today, or in progress elsewhere
			}
			n, err := e.scanShop(ctx, s, day, now)
			total += n
			if err != nil {
				return total, err
			}
		}
		if len(shops) < 1000 {
			return total, nil
		}
	}
}

// scanDay numbers the shop's current day: its local calendar date as days
// since 1970-01-01, or under TIME_SCALE the index of the compressed day
// (clock times are meaningless then, as for delays and quiet hours).
func (e *Engine) scanDay(now time.Time, loc *time.Location) int64 {
	if e.scaled() {
		length := e.scale(24 * time.Hour)
		if length <= 0 {
			length = time.Nanosecond
		}
		return now.UnixNano() / int64(length)
	}
	y, m, d := now.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// claimScan takes the shop's day: a fresh row, or one left unfinished by a
// replica whose heartbeat stopped. It reports whether this caller got it.
func (e *Engine) claimScan(ctx context.Context, shopID, day int64, now time.Time) (bool, error) {
	var got []int
	err := e.db.WithContext(ctx).Raw(`INSERT INTO reengagement_scans (shop_id, day, claimed_at) VALUES (?, ?, ?)
		ON CONFLICT (shop_id, day) DO UPDATE SET claimed_at = EXCLUDED.claimed_at, attempts = reengagement_scans.attempts + 1
		WHERE reengagement_scans.finished_at IS NULL AND reengagement_scans.claimed_at < ?
		RETURNING attempts`, shopID, day, now, now.Add(-reengageLease)).Scan(&got).Error
	if err != nil {
		return false, fmt.Errorf("journey: claim re-engagement scan of shop %d: %w", shopID, err)
	}
	return len(got) == 1, nil
}

// inactiveRow is one contact found by the scan.
type inactiveRow struct {
	ID         int64
	LastActive time.Time
}

// The contact's last activity; the same expression as the
// contacts_reengagement index, so the planner uses it.
const lastActive = `greatest(c.created_at, c.last_order_at, c.last_open_at, c.last_click_at)`

func (e *Engine) scanShop(ctx context.Context, s scanShop, day int64, now time.Time) (int, error) {
	ok, err := e.claimScan(ctx, s.ID, day, now)
	if err != nil || !ok {
		return 0, err
	}
	dormantCut := now.Add(-e.scale(time.Duration(s.DormantDays) * 24 * time.Hour))
	disengagedCut := now.Add(-e.scale(time.Duration(s.DisengagedDays) * 24 * time.Hour))
	counts := map[flow.Trigger]int{}
	failed := 0
	for _, phase := range []struct {
		trigger flow.Trigger
		from    time.Time // exclusive
		to      time.Time // inclusive
	}{
		{flow.Dormant, time.Time{}, dormantCut},
		{flow.Disengaged, dormantCut, disengagedCut},
	} {
		q := inactiveQuery(phase.trigger)
		// Keyset cursor: start just after the lower bound (the largest id
		// makes the row comparison mean "last activity > from").
		curAt, curID := phase.from, int64(1<<63-1)
		if phase.from.IsZero() {
			curID = 0
		}
		for {
			if err := ctx.Err(); err != nil {
				return sum(counts), err
			}
			var rows []inactiveRow
			if err := e.db.WithContext(ctx).Raw(q, s.ID, curAt, curID, phase.to, flow.Reengagement, reengageBatch).
				Scan(&rows).Error; err != nil {
				return sum(counts), fmt.Errorf("journey: re-engagement scan of shop %d: %w", s.ID, err)
			}
			for _, r := range rows {
				curAt, curID = r.LastActive, r.ID
				days := int64(now.Sub(r.LastActive) / max(e.scale(24*time.Hour), 1))
				err := e.Trigger(ctx, Event{ShopID: s.ID, ContactID: r.ID, Trigger: phase.trigger, At: now,
					Context: map[string]string{CtxInactivity: string(phase.trigger), CtxInactiveDays: strconv.FormatInt(days, 10)}})
				if err != nil {
					if ctx.Err() != nil {
						return sum(counts), ctx.Err()
					}
					// One contact's failure does not stop the shop's scan;
					// it is picked up again by tomorrow's.
					failed++
					e.log.Error("journey: re-engagement trigger failed", "shop_id", s.ID, "contact_id", r.ID, "err", err)
					continue
				}
				counts[phase.trigger]++
			}
			// Heartbeat: the claim stays ours while we make progress.
			if err := e.db.WithContext(ctx).Exec(`UPDATE reengagement_scans SET claimed_at = ?, disengaged = ?, dormant = ?
				WHERE shop_id = ? AND day = ?`, e.clock.Now(), counts[flow.Disengaged], counts[flow.Dormant], s.ID, day).Error; err != nil {
				return sum(counts), fmt.Errorf("journey: re-engagement scan heartbeat of shop %d: %w", s.ID, err)
			}
			if len(rows) < reengageBatch {
				break
			}
		}
	}
	if err := e.db.WithContext(ctx).Exec(`UPDATE reengagement_scans SET finished_at = ?, disengaged = ?, dormant = ? WHERE shop_id = ? AND day = ?`,
		e.clock.Now(), counts[flow.Disengaged], counts[flow.Dormant], s.ID, day).Error; err != nil {
		return sum(counts), fmt.Errorf("journey: finish re-engagement scan of shop %d: %w", s.ID, err)
	}
	e.log.Info("journey: re-engagement scan", "shop_id", s.ID, "day", day, "disengaged", counts[flow.Disengaged],
		"dormant", counts[flow.Dormant], "failed", failed)
	return sum(counts), nil
}

// inactiveQuery reads one page of contacts inactive since before a cutoff,
// after a keyset cursor. Arguments: shop id, cursor (last active, id),
// cutoff, flow key, limit.
func inactiveQuery(t flow.Trigger) string {
	// Already handled for this inactivity period: a re-engagement
	// enrollment started after the last activity (at the dormant stage, one
	// that was given the sunset).
	handled := `e.context->>'` + CtxInactivity + `' = 'dormant'`
	if t == flow.Disengaged {
		handled = "true"
	}
	return `SELECT c.id, ` + lastActive + ` AS last_active FROM contacts c
		WHERE c.shop_id = ? AND c.consent = 'subscribed' AND c.suppressed_at IS NULL AND c.email IS NOT NULL
		  AND (` + lastActive + `, c.id) > (?, ?) AND ` + lastActive + ` <= ?
		  AND NOT EXISTS (SELECT 1 FROM enrollments e WHERE e.shop_id = c.shop_id AND e.contact_id = c.id
		                  AND e.flow_key = ? AND e.started_at > ` + lastActive + ` AND ` + handled + `)
		ORDER BY ` + lastActive + `, c.id LIMIT ?`
}

func sum(m map[flow.Trigger]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// engagedSince reports whether the locked contact opened or clicked after t.
func engagedSince(lastOpen, lastClick *time.Time, t time.Time) bool {
	return lastOpen != nil && lastOpen.After(t) || lastClick != nil && lastClick.After(t)
}

// sunsetEngaged is the check the step task makes on a sunset branch: a
// contact who engaged after the enrollment began leaves it before the next
// email, and is not suppressed.
func (e *Engine) sunsetEngaged(tx *gorm.DB, en *Enrollment, branch *flow.Branch, lastOpen, lastClick *time.Time) (bool, error) {
	if !branch.Sunset || !engagedSince(lastOpen, lastClick, en.TriggerAt) {
		return false, nil
	}
	return true, e.exit(tx, en, ReasonEngaged)
}
