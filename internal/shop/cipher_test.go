package shop

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

func mustKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k
}

func mustCipher(t *testing.T, key []byte) *Cipher {
	t.Helper()
	c, err := NewCipher(key)
	require.NoError(t, err)
	return c
}

func TestCipher(t *testing.T) {
	t.Parallel()
	key := mustKey(t)
	c := mustCipher(t, key)
	const shopA, shopB, secret = "a.myshopify.com", "b.myshopify.com", "shpat_0123456789abcdef"

	sealed, err := c.Seal(shopA, secret)
	require.NoError(t, err)
	require.False(t, bytes.Contains(sealed, []byte(secret)), "ciphertext holds the plaintext")

	again, err := c.Seal(shopA, secret)
	require.NoError(t, err)
	require.NotEqual(t, sealed, again, "nonce must be random")

	tamper := func(b []byte, i int) []byte {
		out := bytes.Clone(b)
		out[i] ^= 0x01
		return out
	}
	tests := []struct {
		desc    string
		cipher  *Cipher
		shop    string
		ct      []byte
		wantErr bool
	}{
		{desc: "round trip", cipher: c, shop: shopA, ct: sealed},
		{desc: "tampered nonce", cipher: c, shop: shopA, ct: tamper(sealed, 0), wantErr: true},
		{desc: "tampered body", cipher: c, shop: shopA, ct: tamper(sealed, 14), wantErr: true},
		{desc: "tampered tag", cipher: c, shop: shopA, ct: tamper(sealed, len(sealed)-1), wantErr: true},
		{desc: "truncated", cipher: c, shop: shopA, ct: sealed[:10], wantErr: true},
		{desc: "moved to another shop's row", cipher: c, shop: shopB, ct: sealed, wantErr: true},
		{desc: "wrong key", cipher: mustCipher(t, mustKey(t)), shop: shopA, ct: sealed, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := tt.cipher.Open(tt.shop, tt.ct)
			if tt.wantErr {
				require.ErrorIs(t, err, ErrDecrypt)
				require.Empty(t, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, secret, got)
		})
	}
}

func TestNewCipherKeySize(t *testing.T) {
	t.Parallel()
	_, err := NewCipher(make([]byte, 16))
	require.Error(t, err)
}

func TestScopesHas(t *testing.T) {
	t.Parallel()
	granted := Scopes{"write_orders", "read_customers", "unauthenticated_write_checkouts"}
	tests := []struct {
		desc  string
		scope string
		want  bool
	}{
		{desc: "exact", scope: "read_customers", want: true},
		{desc: "write implies read", scope: "read_orders", want: true},
		{desc: "exact write", scope: "write_orders", want: true},
		{desc: "read does not imply write", scope: "write_customers", want: false},
		{desc: "absent", scope: "read_products", want: false},
		{desc: "unauthenticated write implies read", scope: "unauthenticated_read_checkouts", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			require.Equal(t, tt.want, granted.Has(tt.scope))
		})
	}
	require.Equal(t, []string{"write_customers"}, granted.Missing([]string{"read_orders", "write_customers"}))
}
