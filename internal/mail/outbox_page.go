package mail

import (
	"context"
	"fmt"
)

// Page returns up to limit of the shop's outbox emails with an id below
// before (0: from the newest), newest first, without bodies: keyset
// pagination for the admin's outbox list.
func (o *Outbox) Page(ctx context.Context, shopID int64, limit int, before int64) ([]OutboxEmail, error) {
	if limit <= 0 || limit > 200 {
		limit = 200
	}
	q := o.db.WithContext(ctx).Table("mail_outbox").
		Select("id, shop_id, from_addr, reply_to, to_email, subject, headers, tags, created_at").
		Where("shop_id = ?", shopID)
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	var rows []outboxRow
	if err := q.Order("id DESC").Limit(limit).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("mail: page outbox of shop %d: %w", shopID, err)
	}
	out := make([]OutboxEmail, len(rows))
	for i, r := range rows {
		out[i] = r.email(false)
	}
	return out, nil
}
