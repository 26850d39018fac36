package courier

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/flow"
)

// The shop's own domain is used only once Resend reports it verified.
func TestFromShopDomainOnceVerified(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	require.NoError(t, f.c.o.DB.Exec(`INSERT INTO mail_sending_domains (shop_id, domain, resend_id, status)
VALUES (?, 'mail.maison.example', 'rd-1', 'pending')`, f.shopID).Error)
	m := f.message(flow.Checkout, "checkout/1")
	require.NoError(t, f.c.Send(ctx, m))
	require.Equal(t, "hello@relance.example", f.sender.sent[0].FromEmail, "pending: the app's address")

	require.NoError(t, f.c.o.DB.Exec(`UPDATE mail_sending_domains SET status = 'verified' WHERE shop_id = ?`, f.shopID).Error)
	m.ID++
	require.NoError(t, f.c.Send(ctx, m))
	require.Len(t, f.sender.sent, 2)
	require.Equal(t, "hello@mail.maison.example", f.sender.sent[1].FromEmail)
	require.Equal(t, "Maison & Co", f.sender.sent[1].FromName, "the shop's name either way")
}
