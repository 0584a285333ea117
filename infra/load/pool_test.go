package load

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestReuse_TicketsReleasedOnly checks the order in which a pool reuses
// tickets, against a tickets API that still shows some of them held.
func TestReuse_TicketsReleasedOnly(t *testing.T) {
	held := map[string]bool{"t-held": true}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimPrefix(r.URL.Path, "/api/tickets/")
		tk := ticket{ID: id}
		if held[id] {
			tk.OrderID = "o-1"
		}
		_ = json.NewEncoder(w).Encode(tk)
	}))
	defer api.Close()
	m := newMeter()
	r := &runner{cfg: Config{Users: 2}, meter: m}
	r.users = []*user{newUser(api.URL, http.DefaultTransport, "t", m), newUser(api.URL, http.DefaultTransport, "t", m)}
	past, future := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	r.available = []string{"t-new-1", "t-new-2"}
	r.recyclable = []expiring{{"t-old-1", past}, {"t-held", past}, {"t-old-2", past}, {"t-later", future}}

	assert.Equal(t, []string{"t-new-1"}, r.reuse(t.Context(), 1), "the create step's tickets first")
	assert.Equal(t, []string{"t-new-2", "t-old-1", "t-old-2"}, r.reuse(t.Context(), 10),
		"then those of expired orders that the tickets service shows released")
	assert.Equal(t, []expiring{{"t-held", past}, {"t-later", future}}, r.recyclable,
		"a ticket still held, and one whose order has not expired, stay for later")
	looked := 0
	for _, n := range m.takeCalls() {
		looked += n
	}
	assert.Equal(t, 3, looked, "only the tickets of expired orders are looked at")
}
