// Package fifo is a map that holds at most a fixed number of keys, the
// first added going first when it is full: what a service remembers of
// what it did lately (events parsed, events handled, disclosures stored,
// episodes read), bounded so that it never grows with the stream.
package fifo

import "sync"

// Map holds at most its size of keys. It is safe for concurrent use; the
// zero Map is not usable (New).
type Map[K comparable, V any] struct {
	mu    sync.Mutex
	vals  map[K]V
	order []K // ring of the keys held, the oldest at next
	next  int
	size  int
}

// New returns a Map that holds at most size keys.
func New[K comparable, V any](size int) *Map[K, V] {
	return &Map[K, V]{vals: make(map[K]V), order: make([]K, 0, min(size, 1024)), size: max(size, 1)}
}

// Get returns the value of k, and whether it is held.
func (m *Map[K, V]) Get(k K) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.vals[k]
	return v, ok
}

// Put sets k's value. A key already held keeps its place; a new one drops
// the oldest when the map is full.
func (m *Map[K, V]) Put(k K, v V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.put(k, v)
}

// GetOrAdd returns k's value, adding the one mk makes if k is not held.
func (m *Map[K, V]) GetOrAdd(k K, mk func() V) V {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.vals[k]; ok {
		return v
	}
	v := mk()
	m.put(k, v)
	return v
}

// Len is how many keys are held.
func (m *Map[K, V]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.vals)
}

func (m *Map[K, V]) put(k K, v V) {
	if _, ok := m.vals[k]; !ok {
		if len(m.order) < m.size {
			m.order = append(m.order, k)
		} else {
			delete(m.vals, m.order[m.next])
			m.order[m.next] = k
			m.next = (m.next + 1) % m.size
		}
	}
	m.vals[k] = v
}
