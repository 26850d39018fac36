package shopify

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidShopDomain(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"some-shop.myshopify.com", true},
		{"a.myshopify.com", true},
		{"shop123.myshopify.com", true},
		{"Some-Shop.MyShopify.com", true},
		{"evil.com", false},
		{"a.myshopify.com.evil.com", false},
		{"-x.myshopify.com", false},
		{"x_y.myshopify.com", false},
		{"a.b.myshopify.com", false},
		{".myshopify.com", false},
		{"myshopify.com", false},
		{"shop.myshopify.com/admin", false},
		{"https://shop.myshopify.com", false},
		{"shop.myshopify.com.", false},
		{"shop.shopify.com", false},
		{"shop.myshopify.io", false},
		{"", false},
		{"sh op.myshopify.com", false},
		{"shop.myshopify.com\x00", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			require.Equal(t, tt.want, ValidShopDomain(tt.in))
		})
	}
}

func TestNormalizeShopDomain(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"some-shop.myshopify.com", "some-shop.myshopify.com", false},
		{"  Some-Shop.MYSHOPIFY.com ", "some-shop.myshopify.com", false},
		{"https://some-shop.myshopify.com/", "some-shop.myshopify.com", false},
		{"HTTPS://some-shop.myshopify.com//", "some-shop.myshopify.com", false},
		{"http://some-shop.myshopify.com", "", true},
		{"https://some-shop.myshopify.com/admin", "", true},
		{"evil.com", "", true},
		{"a.myshopify.com.evil.com", "", true},
		{"-x.myshopify.com", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizeShopDomain(tt.in)
			if tt.wantErr {
				require.ErrorIs(t, err, ErrInvalidShop)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestDecodeHost(t *testing.T) {
	raw := base64.RawStdEncoding.EncodeToString
	padded := base64.StdEncoding.EncodeToString
	tests := []struct {
		name string
		in   string
		want string
		ok   bool
	}{
		{"unpadded admin", raw([]byte("admin.shopify.com/store/some-shop")), "admin.shopify.com/store/some-shop", true},
		{"padded admin", padded([]byte("admin.shopify.com/store/some-shop")), "admin.shopify.com/store/some-shop", true},
		{"legacy host", raw([]byte("some-shop.myshopify.com/admin")), "some-shop.myshopify.com/admin", true},
		{"evil host", raw([]byte("evil.com/store/x")), "", false},
		{"lookalike host", raw([]byte("admin.shopify.com.evil.com")), "", false},
		{"script in path", raw([]byte("admin.shopify.com/<script>")), "", false},
		{"url-safe alphabet", "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvc29tZS1zaG9w_-", "", false},
		{"too much padding", raw([]byte("admin.shopify.com/store/x")) + "===", "", false},
		{"not base64 length", "a", "", false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeHost(tt.in)
			if !tt.ok {
				require.True(t, errors.Is(err, ErrMalformed), "err = %v", err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
