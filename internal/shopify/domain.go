package shopify

import (
	"encoding/base64"
	"fmt"
	"strings"
)

const myshopifySuffix = ".myshopify.com"

// ValidShopDomain reports whether s is exactly a "{handle}.myshopify.com"
// domain (any letter case). Nothing else is accepted, so a shop parameter can
// never point a request at a host Shopify does not own.
func ValidShopDomain(s string) bool {
	if len(s) <= len(myshopifySuffix) || len(s) > 255 {
		return false
	}
	lower := strings.ToLower(s)
	if !strings.HasSuffix(lower, myshopifySuffix) {
		return false
	}
	handle := lower[:len(lower)-len(myshopifySuffix)]
	if handle[0] == '-' {
		return false
	}
	for i := 0; i < len(handle); i++ {
		c := handle[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// NormalizeShopDomain cleans a shop domain as merchants or links supply it
// ("https://My-Shop.myshopify.com/") into "my-shop.myshopify.com".
func NormalizeShopDomain(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "https://")
	s = strings.TrimRight(s, "/")
	if !ValidShopDomain(s) {
		return "", ErrInvalidShop
	}
	return s, nil
}

// DecodeHost decodes the base64 "host" parameter Shopify appends to admin
// links (padding is stripped by Shopify, so both forms are accepted). The
// decoded value must be an admin host such as "admin.shopify.com/store/x" or
// the legacy "x.myshopify.com/admin".
func DecodeHost(host string) (string, error) {
	if host == "" || len(host) > 1024 {
		return "", fmt.Errorf("shopify: decoding host: %w", ErrMalformed)
	}
	trimmed := strings.TrimRight(host, "=")
	if len(host)-len(trimmed) > 2 || trimmed == "" {
		return "", fmt.Errorf("shopify: decoding host: %w", ErrMalformed)
	}
	for i := 0; i < len(trimmed); i++ {
		c := trimmed[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
			return "", fmt.Errorf("shopify: decoding host: %w", ErrMalformed)
		}
	}
	raw, err := base64.RawStdEncoding.DecodeString(trimmed)
	if err != nil {
		return "", fmt.Errorf("shopify: decoding host: %w", ErrMalformed)
	}
	decoded := string(raw)
	if !validAdminHost(decoded) {
		return "", fmt.Errorf("shopify: decoding host: %w", ErrMalformed)
	}
	return decoded, nil
}

// validAdminHost accepts "hostname[/path]" where hostname is admin.shopify.com
// or a myshopify domain and the path uses URL-safe characters only.
func validAdminHost(s string) bool {
	hostname, path, _ := strings.Cut(s, "/")
	if hostname != "admin.shopify.com" && !ValidShopDomain(hostname) {
		return false
	}
	for i := 0; i < len(path); i++ {
		c := path[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '/') {
			return false
		}
	}
	return true
}
