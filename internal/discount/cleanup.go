package discount

import (
	"context"
	"fmt"
	"time"
)

// DefaultCleanupGrace is how long after its end a code is left alone, so an
// order placed at the last minute is recorded before the code goes.
const DefaultCleanupGrace = time.Hour

// CleanupResult counts what one CleanupExpired pass did.
type CleanupResult struct {
	// Removed codes were deleted at Shopify (or were already gone there).
	Removed int
	// NeverCreated reservations turned out not to exist at Shopify.
	NeverCreated int
	// GaveUp rows could not be removed for good (shop uninstalled, Shopify
	// refused); they are marked expired with the reason in error.
	GaveUp int
	// Retry rows failed transiently and stay for the next pass.
	Retry int
}

// CleanupExpired removes from Shopify up to limit codes (across shops)
// that ended more than Service.CleanupGrace ago unused, and marks them expired.
// Reservations never confirmed are looked up by code first, so a code
// created just before a crash is removed too. Run it periodically from the
// worker (e.g. every 15 minutes, looping while it returns a full batch).
// Concurrent passes split the rows between them.
func (s *Service) CleanupExpired(ctx context.Context, limit int) (CleanupResult, error) {
	var res CleanupResult
	if limit <= 0 {
		limit = 100
	}
	grace := s.CleanupGrace
	switch {
	case grace == 0:
		grace = DefaultCleanupGrace
	case grace < 0:
		grace = 0
	}
	db := s.db.WithContext(ctx)
	now := s.now()
	token := newToken()
	var rows []codeRow
	err := db.Raw(`
UPDATE discount_codes SET claim_token = ?, claimed_until = ?, updated_at = ?
WHERE id IN (
    SELECT id FROM discount_codes
    WHERE status IN (?, ?) AND ends_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?)
    ORDER BY ends_at LIMIT ? FOR UPDATE SKIP LOCKED)
RETURNING *`, token, now.Add(s.claimTTL()), now, StatusReserved, StatusCreated, now.Add(-grace), now, limit).Scan(&rows).Error
	if err != nil {
		return res, fmt.Errorf("discount: cleanup: claim expired codes: %w", err)
	}
	for i := range rows {
		r := &rows[i]
		outcome, err := s.cleanOne(ctx, r)
		var note string
		switch {
		case err == nil:
		case Permanent(err):
			outcome, note = "gave_up", err.Error()
		default:
			// Shopify is throttling or down (the client already retried):
			// hand this row and the rest back for the next pass.
			rdb := s.db.WithContext(context.WithoutCancel(ctx))
			for j := i; j < len(rows); j++ {
				res.Retry++
				if rerr := s.release(rdb, rows[j].ID, token, err); rerr != nil {
					return res, fmt.Errorf("discount: cleanup: %w", rerr)
				}
			}
			if ctx.Err() != nil {
				return res, fmt.Errorf("discount: cleanup: %w", ctx.Err())
			}
			return res, nil
		}
		switch outcome {
		case "removed":
			res.Removed++
		case "never_created":
			res.NeverCreated++
		default:
			res.GaveUp++
		}
		// A redemption recorded meanwhile keeps its status.
		err = db.Exec(`UPDATE discount_codes SET status = CASE WHEN status IN (?, ?) THEN ? ELSE status END,
				cleaned_at = ?, error = ?, claim_token = NULL, claimed_until = NULL, updated_at = ?
			WHERE id = ? AND claim_token = ?`,
			StatusReserved, StatusCreated, StatusExpired, s.now(), truncate(note, 1000), s.now(), r.ID, token).Error
		if err != nil {
			return res, fmt.Errorf("discount: cleanup: mark code %d expired: %w", r.ID, err)
		}
	}
	return res, nil
}

// cleanOne removes one expired code from Shopify.
func (s *Service) cleanOne(ctx context.Context, r *codeRow) (string, error) {
	id := r.ShopifyID
	if id == "" {
		rc, err := s.lookup(ctx, r.ShopDomain, r.Code)
		if err != nil {
			return "", err
		}
		if rc == nil || rc.Title != r.Title {
			return "never_created", nil
		}
		id = rc.ID
	}
	if err := s.remove(ctx, r.ShopDomain, id); err != nil {
		return "", err
	}
	return "removed", nil
}
