package user

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/scrypt"
)

// Params are the scrypt cost parameters and sizes a password is hashed with.
// They are written into every hash, so they can be raised later without
// invalidating the hashes already stored.
type Params struct {
	// LogN is log2 of scrypt's CPU and memory cost N.
	LogN int
	// R is the block size and P the parallelism.
	R, P int
	// KeyLen and SaltLen are in bytes.
	KeyLen, SaltLen int
}

// DefaultParams are N=16384, r=8, p=1 with a 64-byte key, the cost the
// original app used, and a 16-byte random salt.
func DefaultParams() Params {
	return Params{LogN: 14, R: 8, P: 1, KeyLen: 64, SaltLen: 16}
}

// Bounds on parameters, checked both when hashing and when reading a stored
// hash: a tampered hash must not make verification allocate gigabytes.
const (
	maxMemory  = 256 << 20 // bytes scrypt may use: 128·r·N
	maxLogN    = 20
	maxR       = 64
	maxP       = 16
	minKeyLen  = 16
	maxKeyLen  = 128
	minSaltLen = 8
	maxSaltLen = 64
)

func (p Params) validate() error {
	switch {
	case p.LogN < 1 || p.LogN > maxLogN, p.R < 1 || p.R > maxR, p.P < 1 || p.P > maxP:
		return fmt.Errorf("scrypt parameters out of range: ln=%d r=%d p=%d", p.LogN, p.R, p.P)
	case int64(128)*int64(p.R)<<p.LogN > maxMemory:
		return fmt.Errorf("scrypt parameters need more than %d bytes: ln=%d r=%d", maxMemory, p.LogN, p.R)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("scrypt key length out of range: %d", p.KeyLen)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("scrypt salt length out of range: %d", p.SaltLen)
	}
	return nil
}

// ErrMalformedHash is a stored password hash that cannot be read.
var ErrMalformedHash = errors.New("malformed password hash")

const scheme = "scrypt"

var b64 = base64.RawStdEncoding

// HashPassword hashes password with scrypt under a fresh random salt and
// returns the self-describing form
//
//	scrypt$ln=14,r=8,p=1$<salt>$<key>
//
// where salt and key are unpadded standard base64, in the manner of the
// PHC string format.
func HashPassword(password string, p Params) (string, error) {
	if err := p.validate(); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key, err := scrypt.Key([]byte(password), salt, 1<<p.LogN, p.R, p.P, p.KeyLen)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return scheme + "$" + formatParams(p) + "$" + b64.EncodeToString(salt) + "$" + b64.EncodeToString(key), nil
}

// DecoyHash returns a hash in HashPassword's form, with p's parameters,
// that no password is known to match: a random key under a random salt.
// Verifying a password against it costs what verifying against a real hash
// costs, yet making it costs no scrypt run, whose 128·r·N bytes (16 MiB
// with DefaultParams) would otherwise stay resident from start-up.
func DecoyHash(p Params) (string, error) {
	if err := p.validate(); err != nil {
		return "", fmt.Errorf("decoy hash: %w", err)
	}
	salt, key := make([]byte, p.SaltLen), make([]byte, p.KeyLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("decoy hash: %w", err)
	}
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("decoy hash: %w", err)
	}
	return scheme + "$" + formatParams(p) + "$" + b64.EncodeToString(salt) + "$" + b64.EncodeToString(key), nil
}

// VerifyPassword reports whether password matches encoded, a hash written by
// HashPassword or by the original app (hex key, a dot, and the hex salt,
// which was used as text). The parameters come from the hash itself, and
// keys are compared in constant time. A hash that cannot be read is an error
// wrapping ErrMalformedHash, never a mere mismatch: it means the stored data
// is broken.
func VerifyPassword(password, encoded string) (bool, error) {
	p, salt, want, err := decodeHash(encoded)
	if err != nil {
		return false, err
	}
	got, err := scrypt.Key([]byte(password), salt, 1<<p.LogN, p.R, p.P, len(want))
	if err != nil {
		return false, fmt.Errorf("verify password: %w", err)
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

func formatParams(p Params) string {
	return "ln=" + strconv.Itoa(p.LogN) + ",r=" + strconv.Itoa(p.R) + ",p=" + strconv.Itoa(p.P)
}

func decodeHash(encoded string) (Params, []byte, []byte, error) {
	if !strings.HasPrefix(encoded, scheme+"$") {
		return decodeLegacyHash(encoded)
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 4 {
		return Params{}, nil, nil, fmt.Errorf("%w: want 4 fields, got %d", ErrMalformedHash, len(parts))
	}
	p, err := parseParams(parts[1])
	if err != nil {
		return Params{}, nil, nil, err
	}
	salt, err := b64.DecodeString(parts[2])
	if err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: salt: %w", ErrMalformedHash, err)
	}
	key, err := b64.DecodeString(parts[3])
	if err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: key: %w", ErrMalformedHash, err)
	}
	p.SaltLen, p.KeyLen = len(salt), len(key)
	if err := p.validate(); err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: %w", ErrMalformedHash, err)
	}
	return p, salt, key, nil
}

// parseParams accepts exactly the form formatParams writes, so that one
// hash has one spelling.
func parseParams(s string) (Params, error) {
	var p Params
	if _, err := fmt.Sscanf(s, "ln=%d,r=%d,p=%d", &p.LogN, &p.R, &p.P); err != nil || formatParams(p) != s {
		return Params{}, fmt.Errorf("%w: parameters %q", ErrMalformedHash, s)
	}
	return p, nil
}

// The original app stored hex(scrypt(password, salt, 64)) + "." + salt,
// with an 8-byte random salt written as 16 hex digits and Node's defaults
// N=16384, r=8, p=1. Reading it lets a users collection be migrated as is.
const (
	legacyKeyHexLen  = 128
	legacySaltHexLen = 16
)

func decodeLegacyHash(encoded string) (Params, []byte, []byte, error) {
	keyHex, salt, ok := strings.Cut(encoded, ".")
	if !ok || len(keyHex) != legacyKeyHexLen || len(salt) != legacySaltHexLen {
		return Params{}, nil, nil, fmt.Errorf("%w: unknown format", ErrMalformedHash)
	}
	if _, err := hex.DecodeString(salt); err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: legacy salt: %w", ErrMalformedHash, err)
	}
	key, err := hex.DecodeString(keyHex)
	if err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: legacy key: %w", ErrMalformedHash, err)
	}
	p := DefaultParams()
	p.KeyLen, p.SaltLen = len(key), len(salt)
	return p, []byte(salt), key, nil
}
