package testenv

// Reset empties the buffer, so a long test such as a fuzz target checks
// each round's output alone.
func (b *SyncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}
