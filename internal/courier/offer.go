package courier

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/relance/relance/internal/discount"
	"github.com/relance/relance/internal/journey"
	"github.com/relance/relance/internal/mail"
)

// Discounts is what the courier needs of the discount service: the tier
// table of a step and the code of one (enrollment, step).
type Discounts interface {
	GetTable(ctx context.Context, shopID int64, flowKey, stepKey string) (discount.Table, bool, error)
	CodeFor(ctx context.Context, r discount.Request) (*discount.Code, error)
}

// offer returns the discount of an offer step, or nil when no tier applies
// or Shopify refused the code for good: the email then goes without it
// (the offer templates read well either way), which beats not sending. A
// retryable failure (throttling, 5xx) is returned so the step is retried
// and the same code, reserved per (enrollment, step), is completed.
func (c *Courier) offer(ctx context.Context, m journey.Message, sh shopRow, d *mail.Data) (*mail.Discount, error) {
	if !m.Offer || c.o.Discounts == nil || m.EnrollmentID == 0 {
		return nil, nil
	}
	table, _, err := c.o.Discounts.GetTable(ctx, m.ShopID, string(m.Flow), m.Step)
	if err != nil {
		return nil, fmt.Errorf("courier: discount table of message %d: %w", m.ID, err)
	}
	req := discount.Request{
		ShopID: m.ShopID, ShopDomain: sh.Domain, EnrollmentID: m.EnrollmentID, Step: m.Step,
		CartValue: d.Total.Amount, Currency: sh.Currency, Tiers: table,
	}
	if d.Total.Currency != "" && d.Total.Currency != sh.Currency {
		// Tiers are in the shop's currency; a cart in another presentment
		// currency is priced as empty rather than compared wrongly.
		req.CartValue = ""
	}
	if ct, err := c.o.Contacts.Get(ctx, m.ShopID, m.ContactID); err == nil {
		req.NewCustomer = ct.OrdersCount == 0
		if ct.CustomerID != nil {
			req.CustomerGID = "gid://shopify/Customer/" + strconv.FormatInt(*ct.CustomerID, 10)
		}
	}
	code, err := c.o.Discounts.CodeFor(ctx, req)
	switch {
	case err != nil && discount.Permanent(err):
		c.log.Warn("courier: offer sent without a code", "shop_id", m.ShopID, "message_id", m.ID, "err", err)
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("courier: discount code of message %d: %w", m.ID, err)
	case code == nil:
		return nil, nil
	}
	tier := discount.Tier{Kind: code.Kind, Percent: code.Percent, Amount: code.Amount, Minimum: code.Minimum}
	return MailDiscount(code.Code, tier, code.Currency, code.EndsAt), nil
}

// MailDiscount is what an email shows of a code giving tier's offer: the
// real send and the admin's preview (a stand-in code) both use it.
func MailDiscount(code string, tier discount.Tier, currency string, endsAt time.Time) *mail.Discount {
	out := &mail.Discount{Code: code, Kind: string(tier.Kind), Percent: float64(tier.Percent), EndsAt: endsAt}
	if !tier.Amount.IsZero() {
		out.Amount = mail.Money{Amount: tier.Amount.String(), Currency: currency}
	}
	if !tier.Minimum.IsZero() {
		out.Minimum = mail.Money{Amount: tier.Minimum.String(), Currency: currency}
	}
	return out
}
