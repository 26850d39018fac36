package shop_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/relance/relance/internal/platform/testenv"
	"github.com/relance/relance/internal/shop"
)

// fakeHolder keeps rows in oauth_states-like fashion: it records calls and
// can write or fail inside the caller's transaction.
type fakeHolder struct {
	name   string
	export any
	fail   error
	write  string // SQL run in the transaction on redact/erase
	mu     sync.Mutex
	calls  []string
	orders *[]string
}

func (h *fakeHolder) Name() string { return h.name }

func (h *fakeHolder) record(op string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, op)
	if h.orders != nil {
		*h.orders = append(*h.orders, h.name)
	}
}

func (h *fakeHolder) ExportCustomer(_ context.Context, _ *gorm.DB, _ string, _ shop.CustomerRef) (any, error) {
	h.record("export")
	return h.export, h.fail
}

func (h *fakeHolder) RedactCustomer(_ context.Context, tx *gorm.DB, _ string, _ shop.CustomerRef) error {
	h.record("redact")
	if h.write != "" {
		if err := tx.Exec(h.write).Error; err != nil {
			return err
		}
	}
	return h.fail
}

func (h *fakeHolder) EraseShop(_ context.Context, tx *gorm.DB, _ string) error {
	h.record("erase")
	if h.write != "" {
		if err := tx.Exec(h.write).Error; err != nil {
			return err
		}
	}
	return h.fail
}

var someone = shop.CustomerRef{ShopifyID: 9007199254740993, Email: "someone@example.com", Phone: "+33612345678", OrderIDs: []int64{820982911946154508}}

func TestPrivacyRegisterRejectsDuplicates(t *testing.T) {
	t.Parallel()
	p := shop.NewPrivacy(testenv.DB(t))
	require.Equal(t, []string{"shops", "data_exports"}, p.Holders())
	p.Register(&fakeHolder{name: "contacts"})
	require.Panics(t, func() { p.Register(&fakeHolder{name: "contacts"}) })
}

func TestDataRequestBuildsOneExport(t *testing.T) {
	t.Parallel()
	db := testenv.DB(t)
	ctx := context.Background()
	p := shop.NewPrivacy(db)
	type contact struct {
		ID    int64  `json:"id"`
		Email string `json:"email"`
	}
	h := &fakeHolder{name: "contacts", export: []contact{{ID: 9007199254740993, Email: "someone@example.com"}}}
	p.Register(h)
	p.Register(&fakeHolder{name: "messages"}) // holds nothing: not in data

	// Concurrent runs of one request (a redelivery racing the first) agree.
	var wg sync.WaitGroup
	ids := make([]int64, 6)
	errs := make([]error, 6)
	for i := range ids {
		wg.Go(func() {
			e, err := p.DataRequest(ctx, "a.myshopify.com", 9999, someone)
			errs[i] = err
			if err == nil {
				ids[i] = e.ID
			}
		})
	}
	wg.Wait()
	for i := range ids {
		require.NoError(t, errs[i])
		require.Equal(t, ids[0], ids[i])
	}
	var n int64
	require.NoError(t, db.Raw(`SELECT count(*) FROM data_exports`).Scan(&n).Error)
	require.EqualValues(t, 1, n)

	e, err := p.GetExport(ctx, "a.myshopify.com", ids[0])
	require.NoError(t, err)
	require.Equal(t, someone, e.Customer)
	require.EqualValues(t, 9999, e.DataRequestID)
	require.WithinDuration(t, e.CreatedAt.Add(shop.ExportRetention), e.ExpiresAt, time.Second)
	var doc map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(e.Content, &doc))
	require.JSONEq(t, `{"contacts": [{"id": 9007199254740993, "email": "someone@example.com"}]}`, string(doc["data"]))
	require.JSONEq(t, `["shops", "data_exports", "contacts", "messages"]`, string(doc["sources"]))
	require.Contains(t, string(e.Content), "9007199254740993", "ids must stay exact")

	_, err = p.DataRequest(ctx, "a.myshopify.com", 10000, shop.CustomerRef{})
	require.ErrorIs(t, err, shop.ErrNoCustomer)
	_, err = p.DataRequest(ctx, "a.myshopify.com", 0, someone)
	require.Error(t, err)
}

func TestDataRequestFailureStoresNothing(t *testing.T) {
	t.Parallel()
	db := testenv.DB(t)
	p := shop.NewPrivacy(db)
	p.Register(&fakeHolder{name: "contacts", fail: errors.New("boom")})
	_, err := p.DataRequest(context.Background(), "a.myshopify.com", 1, someone)
	require.ErrorContains(t, err, "contacts")
	var n int64
	require.NoError(t, db.Raw(`SELECT count(*) FROM data_exports`).Scan(&n).Error)
	require.Zero(t, n)
}

func TestRedactCustomerIsOneTransaction(t *testing.T) {
	t.Parallel()
	db := testenv.DB(t)
	ctx := context.Background()
	p := shop.NewPrivacy(db)
	var order []string
	failing := &fakeHolder{name: "contacts", fail: errors.New("boom"), orders: &order}
	writer := &fakeHolder{name: "messages", orders: &order,
		write: `INSERT INTO oauth_states (nonce, shop, expires_at) VALUES ('written', 'a.myshopify.com', now())`}
	p.Register(failing)
	p.Register(writer)

	err := p.RedactCustomer(ctx, "a.myshopify.com", someone)
	require.ErrorContains(t, err, "contacts")
	// Later registrations go first (they depend on the earlier ones).
	require.Equal(t, []string{"messages", "contacts"}, order)
	var n int64
	require.NoError(t, db.Raw(`SELECT count(*) FROM oauth_states`).Scan(&n).Error)
	require.Zero(t, n, "the writer's change must roll back with the failure")

	require.ErrorIs(t, p.RedactCustomer(ctx, "a.myshopify.com", shop.CustomerRef{}), shop.ErrNoCustomer)
}

func TestRedactCustomerDeletesTheirExports(t *testing.T) {
	t.Parallel()
	db := testenv.DB(t)
	ctx := context.Background()
	p := shop.NewPrivacy(db)
	other := shop.CustomerRef{ShopifyID: 42, Email: "other@example.com"}
	// An export about someone else that quotes our customer (a gift order).
	quoting := &fakeHolder{name: "orders", export: map[string]string{"gift_to": "SOMEONE@example.com"}}
	p.Register(quoting)
	_, err := p.DataRequest(ctx, "a.myshopify.com", 1, someone)
	require.NoError(t, err)
	_, err = p.DataRequest(ctx, "a.myshopify.com", 2, other)
	require.NoError(t, err)
	quoting.export = nil
	_, err = p.DataRequest(ctx, "a.myshopify.com", 3, other)
	require.NoError(t, err)
	_, err = p.DataRequest(ctx, "b.myshopify.com", 4, someone)
	require.NoError(t, err)

	require.NoError(t, p.RedactCustomer(ctx, "a.myshopify.com", someone))
	var left []int64
	require.NoError(t, db.Raw(`SELECT data_request_id FROM data_exports ORDER BY 1`).Scan(&left).Error)
	require.Equal(t, []int64{3, 4}, left, "her exports and the one quoting her go; other shops stay")
}

func TestEraseShop(t *testing.T) {
	t.Parallel()
	db := testenv.DB(t)
	ctx := context.Background()
	p := shop.NewPrivacy(db)
	var order []string
	p.Register(&fakeHolder{name: "contacts", orders: &order})
	p.Register(&fakeHolder{name: "messages", orders: &order})
	for _, d := range []string{"gone.myshopify.com", "kept.myshopify.com"} {
		require.NoError(t, db.Exec(`INSERT INTO shops (domain, access_token_enc) VALUES (?, '\x01'::bytea)`, d).Error)
		require.NoError(t, db.Exec(`INSERT INTO oauth_states (nonce, shop, expires_at) VALUES (?, ?, now())`, "n-"+d, d).Error)
		_, err := p.DataRequest(ctx, d, 1, someone)
		require.NoError(t, err)
	}

	require.ErrorIs(t, p.EraseShop(ctx, "gone.myshopify.com"), shop.ErrShopInstalled)
	require.NoError(t, db.Exec(`UPDATE shops SET uninstalled_at = now() WHERE domain = 'gone.myshopify.com'`).Error)
	order = nil
	require.NoError(t, p.EraseShop(ctx, "gone.myshopify.com"))
	require.Equal(t, []string{"messages", "contacts"}, order)
	for table, col := range map[string]string{"shops": "domain", "oauth_states": "shop", "data_exports": "shop_domain"} {
		var gone, kept int64
		require.NoError(t, db.Raw(fmt.Sprintf(`SELECT count(*) FROM %s WHERE %s = 'gone.myshopify.com'`, table, col)).Scan(&gone).Error)
		require.NoError(t, db.Raw(fmt.Sprintf(`SELECT count(*) FROM %s WHERE %s = 'kept.myshopify.com'`, table, col)).Scan(&kept).Error)
		require.Zero(t, gone, table)
		require.EqualValues(t, 1, kept, table)
	}
	// Again, and for a shop never seen: nothing to do, no error.
	require.NoError(t, p.EraseShop(ctx, "gone.myshopify.com"))
	require.NoError(t, p.EraseShop(ctx, "never.myshopify.com"))
}

func TestListAndGetExportsAreScopedToTheShop(t *testing.T) {
	t.Parallel()
	db := testenv.DB(t)
	ctx := context.Background()
	p := shop.NewPrivacy(db)
	var mine []int64
	for i := range 5 {
		e, err := p.DataRequest(ctx, "a.myshopify.com", int64(100+i), someone)
		require.NoError(t, err)
		mine = append(mine, e.ID)
	}
	theirs, err := p.DataRequest(ctx, "b.myshopify.com", 100, someone)
	require.NoError(t, err)

	page, next, err := p.ListExports(ctx, "a.myshopify.com", 3, 0)
	require.NoError(t, err)
	require.Len(t, page, 3)
	require.Equal(t, page[2].ID, next)
	require.Equal(t, mine[4], page[0].ID)
	require.Nil(t, page[0].Content, "lists carry no content")
	page2, next, err := p.ListExports(ctx, "a.myshopify.com", 3, next)
	require.NoError(t, err)
	require.Zero(t, next)
	require.Equal(t, []int64{mine[1], mine[0]}, []int64{page2[0].ID, page2[1].ID})

	_, err = p.GetExport(ctx, "a.myshopify.com", theirs.ID)
	require.ErrorIs(t, err, shop.ErrExportNotFound)

	// Expired: hidden, then purged.
	require.NoError(t, db.Exec(`UPDATE data_exports SET expires_at = now() - interval '1 second' WHERE id = ?`, mine[0]).Error)
	_, err = p.GetExport(ctx, "a.myshopify.com", mine[0])
	require.ErrorIs(t, err, shop.ErrExportNotFound)
	all, next, err := p.ListExports(ctx, "a.myshopify.com", 0, 0)
	require.NoError(t, err)
	require.Len(t, all, 4)
	require.Zero(t, next)
	full, next, err := p.ListExports(ctx, "a.myshopify.com", 4, 0)
	require.NoError(t, err)
	require.Len(t, full, 4)
	require.Zero(t, next, "an exactly full page is the last one")
	n, err := p.PurgeExpiredExports(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
}

func TestCustomerRefJSONKeepsIDsExact(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(someone)
	require.NoError(t, err)
	require.True(t, strings.Contains(string(b), `"id":9007199254740993`), string(b))
	var back shop.CustomerRef
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, someone, back)
}
