package main

// wire builds the domain components from the configuration, DB and queue.
// Each domain package owns its constructor; this only connects them.
func (m *Main) wire() error {
	return nil
}
