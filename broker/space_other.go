//go:build !unix

package broker

// diskSpace is unknown here: the broker does not watch the store's disk.
func diskSpace(string) (free, total int64, ok bool) { return 0, 0, false }
