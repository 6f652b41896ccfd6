package client

// SessionsOpened is how many Session streams c has opened.
func SessionsOpened(c *Client) int64 { return c.sessions.opened.Load() }
