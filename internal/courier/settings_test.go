package courier

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/flow"
)

func TestSenderSettingsShapeTheEmail(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	require.NoError(t, SaveSenderSettings(ctx, f.db, f.shopID, SenderSettings{SenderName: "Maison Claire", OwnerFirstName: "Claire",
		ReplyTo: "bonjour@maison.example", PostalAddress: "3 place du Marché, 69002 Lyon", DefaultLocale: "fr"}))

	msg := f.message(flow.Checkout, "checkout/1")
	msg.Locale = "" // unknown: the shop's default language
	require.NoError(t, f.c.Send(ctx, msg))
	m := f.sender.sent[0]
	require.Equal(t, "Claire de Maison Claire", m.FromName)
	require.Equal(t, "bonjour@maison.example", m.ReplyTo)
	require.Contains(t, m.Content.HTML, "3 place du Marché, 69002 Lyon", "postal address in the footer")
	require.Contains(t, m.Content.Text, "3 place du Marché, 69002 Lyon")
	require.Contains(t, m.Content.HTML, `lang="fr"`, "the shop's default language")

	got, err := LoadSenderSettings(ctx, f.db, f.shopID)
	require.NoError(t, err)
	require.Equal(t, "fr", got.DefaultLocale)
}

func TestCustomContentOfThePinnedVersion(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	flows := flow.NewStore(f.db)
	cur, _, err := flows.Current(ctx, f.shopID, flow.Checkout)
	require.NoError(t, err)
	content := flow.ContentSet{}
	content.Set("checkout/1", "fr", flow.Content{Subject: "{{ customer.first_name }}, votre panier vous attend", Body: "<p>Version 2 !</p>"})
	require.NoError(t, flows.SaveDraft(ctx, f.shopID, flow.Draft{Flow: *cur, Content: content, BaseVersion: cur.Version}))
	v, err := flows.PublishDraft(ctx, f.shopID, flow.Checkout)
	require.NoError(t, err)
	require.Equal(t, 2, v)

	msg := f.message(flow.Checkout, "checkout/1")
	msg.FlowVersion = 2
	require.NoError(t, f.c.Send(ctx, msg))
	require.Equal(t, "Léa, votre panier vous attend", f.sender.sent[0].Content.Subject)
	require.Contains(t, f.sender.sent[0].Content.HTML, "Version 2 !")

	msg.FlowVersion = 1 // an enrollment left on version 1 keeps the default
	require.NoError(t, f.c.Send(ctx, msg))
	require.NotContains(t, f.sender.sent[1].Content.HTML, "Version 2 !")

	msg.FlowVersion, msg.Locale = 2, "en" // no English content: the English default
	require.NoError(t, f.c.Send(ctx, msg))
	require.NotContains(t, f.sender.sent[2].Content.HTML, "Version 2 !")
	require.Contains(t, f.sender.sent[2].Content.HTML, `lang="en"`)
}
