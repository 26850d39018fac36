package shop

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// ErrDecrypt is returned when a ciphertext does not open: wrong key, wrong
// shop, or tampered bytes. The causes are deliberately indistinguishable.
var ErrDecrypt = errors.New("shop: token ciphertext does not open")

// Cipher encrypts credentials at rest with AES-256-GCM. The shop domain is
// bound as additional data, so a ciphertext copied onto another shop's row
// does not decrypt there. Layout: nonce (12 bytes) || sealed.
type Cipher struct {
	aead cipher.AEAD
}

// NewCipher returns a Cipher for a 32-byte key (config.EncryptionKey).
func NewCipher(key []byte) (*Cipher, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("shop: encryption key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("shop: new cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("shop: new gcm: %w", err)
	}
	return &Cipher{aead: aead}, nil
}

// Seal encrypts plaintext for the shop's row.
func (c *Cipher) Seal(domain, plaintext string) ([]byte, error) {
	nonce := make([]byte, c.aead.NonceSize(), c.aead.NonceSize()+len(plaintext)+c.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("shop: nonce: %w", err)
	}
	return c.aead.Seal(nonce, nonce, []byte(plaintext), []byte(domain)), nil
}

// Open decrypts a ciphertext sealed for the same shop. It returns ErrDecrypt
// when the key, the shop or the bytes do not match.
func (c *Cipher) Open(domain string, ciphertext []byte) (string, error) {
	n := c.aead.NonceSize()
	if len(ciphertext) < n+c.aead.Overhead() {
		return "", ErrDecrypt
	}
	plain, err := c.aead.Open(nil, ciphertext[:n], ciphertext[n:], []byte(domain))
	if err != nil {
		return "", ErrDecrypt
	}
	return string(plain), nil
}
