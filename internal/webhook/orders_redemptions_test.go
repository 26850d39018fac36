package webhook

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/shop"
)

type oneShop struct{ s *shop.Shop }

func (o oneShop) Get(_ context.Context, domain string) (*shop.Shop, error) {
	if o.s == nil || o.s.Domain != domain {
		return nil, shop.ErrNotFound
	}
	return o.s, nil
}

type recorded struct {
	shopID, orderID int64
	codes           []string
	at              time.Time
}

type recorder struct{ calls []recorded }

func (r *recorder) RecordRedemption(_ context.Context, shopID, orderID int64, codes []string, at time.Time) error {
	r.calls = append(r.calls, recorded{shopID, orderID, codes, at})
	return nil
}

func TestRedemptionsReadFromOrdersCreate(t *testing.T) {
	tests := []struct {
		desc      string
		shop      *shop.Shop
		payload   string
		wantCalls []recorded
		wantErr   error
	}{
		{
			desc:    "codes of an order",
			shop:    &shop.Shop{ID: 7, Domain: "a.myshopify.com"},
			payload: `{"id":820982911946154508,"created_at":"2026-03-02T10:00:00Z","discount_codes":[{"code":"RELANCE-ABCD-EFGH-JKLM"},{"code":" "}]}`,
			wantCalls: []recorded{{shopID: 7, orderID: 820982911946154508, codes: []string{"RELANCE-ABCD-EFGH-JKLM"},
				at: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}},
		},
		{desc: "no codes", shop: &shop.Shop{ID: 7, Domain: "a.myshopify.com"}, payload: `{"id":1,"discount_codes":[]}`},
		{desc: "unknown shop is acknowledged", payload: `{"id":1,"discount_codes":[{"code":"X"}]}`},
		{desc: "garbage is permanent", shop: &shop.Shop{ID: 7, Domain: "a.myshopify.com"}, payload: `{"id":"x"}`, wantErr: ErrPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			reg, rec := NewRegistry(), &recorder{}
			RegisterRedemptions(reg, oneShop{tt.shop}, rec)
			hs := reg.Handlers("orders/create")
			require.Len(t, hs, 1)
			err := hs[0](context.Background(), Delivery{ShopDomain: "a.myshopify.com", Topic: "orders/create", Payload: json.RawMessage(tt.payload)})
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantCalls, rec.calls)
		})
	}
}
