//go:build !unix

package broker

// lockDataDir does not lock on systems without flock.
func lockDataDir(string) (func(), error) { return func() {}, nil }
