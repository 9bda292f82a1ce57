package creds

import "errors"

// Errors of the store. Callers test them with errors.Is.
var (
	ErrExists      = errors.New("store already exists")
	ErrNoStore     = errors.New("no credential store")
	ErrDecrypt     = errors.New("cannot decrypt the secrets: wrong passphrase or identity, or the file is damaged")
	ErrCorrupt     = errors.New("store is damaged")
	ErrNoKeys      = errors.New("no passphrase or identity given (set MANTLET_PASSPHRASE or pass --identity)")
	ErrNodeExists  = errors.New("node already issued")
	ErrUnknownNode = errors.New("unknown node")
	ErrRole        = errors.New("unknown role")
	ErrKind        = errors.New("unknown kind of secret")
	ErrInvalid     = errors.New("invalid request")
)
