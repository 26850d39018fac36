package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// Installing a shop activates the web pixel at Shopify with the settings
// the extension declares; the periodic check puts it back when it goes.
func TestInstallActivatesWebPixel(t *testing.T) {
	t.Parallel()
	a := MustRunMain(t)
	const domain = "pixel-install.myshopify.com"
	a.install(t, domain)

	px, ok := a.store.WebPixel(domain)
	require.True(t, ok, "the install hook created the web pixel")
	require.Equal(t, map[string]string{"accountID": domain, "appUrl": a.URL()}, px.Settings)

	// The merchant disconnects it; the worker's check re-activates it.
	require.True(t, a.store.DeleteWebPixel(domain))
	res, err := a.c.pixels.EnsureAll(context.Background(), 100)
	require.NoError(t, err)
	require.Equal(t, 1, res.Created)
	again, ok := a.store.WebPixel(domain)
	require.True(t, ok)
	require.Equal(t, px.Settings, again.Settings)
}
