package rossim

import (
	"crypto/ecdh"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// genPrivateKey derives a WireGuard private key from the interface identity
// so runs are reproducible (a router uses randomness; tests want stable
// dumps). The result is a valid, clamped X25519 scalar.
func genPrivateKey(version, name string, id uint64) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "rossim/%s/%s/%d", version, name, id))
	sum[0] &= 248
	sum[31] = sum[31]&127 | 64
	return base64.StdEncoding.EncodeToString(sum[:])
}

// PublicKey returns the base64 WireGuard public key of a base64 private key.
// Tests use it to build a World whose far end knows the router's key.
func PublicKey(private string) (string, error) { return publicKey(private) }

func publicKey(private string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(private)
	if err != nil || len(b) != 32 {
		return "", fmt.Errorf("bad private key")
	}
	k, err := ecdh.X25519().NewPrivateKey(b)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(k.PublicKey().Bytes()), nil
}

// KeyPair returns a deterministic WireGuard key pair derived from seed, for
// building worlds in tests.
func KeyPair(seed string) (private, public string) {
	private = genPrivateKey("keypair", seed, 0)
	public, _ = publicKey(private)
	return private, public
}
