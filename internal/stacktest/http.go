package stacktest

import (
	"io"
	"net/http"
	"time"
)

// Get returns the status and body of GET url, as a probe or an operator's
// curl sees them.
func Get(url string) (int, string, error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
