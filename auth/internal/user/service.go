package user

import (
	"context"
	"errors"
	"fmt"
)

// Service signs users up and in.
type Service struct {
	store  Store
	params Params
	// dummyHash is verified against when a sign-in names an unknown email,
	// so that it costs what a wrong password costs and response times do not
	// tell which emails are registered.
	dummyHash string
	// gate admits hashes; nil admits every one at once.
	gate Gate
}

// Gate admits password hashes, each of which takes scrypt's memory (16 MiB
// with DefaultParams) while it runs: Enter waits for a turn, and the
// returned leave ends it. hashgate.Gate is the one auth uses.
type Gate interface {
	Enter(ctx context.Context) (leave func(), err error)
}

// WithGate makes the Service hash and verify passwords only when g admits
// them.
func WithGate(g Gate) Option {
	return func(s *Service) { s.gate = g }
}

// Option configures a Service.
type Option func(*Service)

// WithParams makes the Service hash new passwords with p instead of
// DefaultParams. Tests use cheaper parameters to stay fast.
func WithParams(p Params) Option {
	return func(s *Service) { s.params = p }
}

// NewService returns a Service keeping users in store.
func NewService(store Store, opts ...Option) (*Service, error) {
	s := &Service{store: store, params: DefaultParams()}
	for _, o := range opts {
		o(s)
	}
	dummy, err := DecoyHash(s.params)
	if err != nil {
		return nil, fmt.Errorf("new user service: %w", err)
	}
	s.dummyHash = dummy
	return s, nil
}

// SignUp registers a user. The email is normalized with NormalizeEmail and
// the password with NormalizePassword before they are checked; the returned
// user carries the normalized email. It fails with ErrInvalidEmail or
// ErrInvalidPassword when a rule is broken and with ErrEmailInUse when the
// email already has a user, also when two sign-ups race.
func (s *Service) SignUp(ctx context.Context, email, password string) (User, error) {
	email, password = NormalizeEmail(email), NormalizePassword(password)
	if !ValidEmail(email) {
		return User{}, ErrInvalidEmail
	}
	if !ValidPassword(password) {
		return User{}, ErrInvalidPassword
	}
	leave, err := s.enter(ctx)
	if err != nil {
		return User{}, fmt.Errorf("sign up: %w", err)
	}
	hash, err := HashPassword(password, s.params)
	leave()
	if err != nil {
		return User{}, fmt.Errorf("sign up: %w", err)
	}
	u, err := s.store.Insert(ctx, User{Email: email, PasswordHash: hash})
	if err != nil {
		return User{}, fmt.Errorf("sign up: %w", err)
	}
	return u, nil
}

// SignIn returns the user whose email and password these are, both
// normalized as SignUp normalizes them. An unknown email and a wrong
// password both fail with ErrInvalidCredentials, after the same amount of
// work.
func (s *Service) SignIn(ctx context.Context, email, password string) (User, error) {
	email, password = NormalizeEmail(email), NormalizePassword(password)
	u, err := s.store.ByEmail(ctx, email)
	hash := u.PasswordHash
	switch {
	case errors.Is(err, ErrNotFound):
		hash = s.dummyHash
	case err != nil:
		return User{}, fmt.Errorf("sign in: %w", err)
	}
	leave, gerr := s.enter(ctx)
	if gerr != nil {
		return User{}, fmt.Errorf("sign in: %w", gerr)
	}
	ok, verr := VerifyPassword(password, hash)
	leave()
	if verr != nil {
		return User{}, fmt.Errorf("sign in: %w", verr)
	}
	if !ok || err != nil {
		return User{}, ErrInvalidCredentials
	}
	return u, nil
}

// enter waits for the gate's turn to hash, when there is a gate.
func (s *Service) enter(ctx context.Context) (leave func(), err error) {
	if s.gate == nil {
		return func() {}, nil
	}
	return s.gate.Enter(ctx)
}
