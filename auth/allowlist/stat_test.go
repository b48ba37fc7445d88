package allowlist

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/sdk"
)

// TestReadsOnlyOnChange: a file that has not changed is read once, not
// on every request; a fresh one is read again until it is old enough
// for its stat to be trusted.
func TestReadsOnlyOnChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "allowed")
	peer := sdk.PeerKey{0: 1, 31: 2}
	if err := os.WriteFile(path, []byte(peer.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	authorize := func(p *Policy, n int) {
		t.Helper()
		for range n {
			if d, err := p.Authorize(t.Context(), sdk.AuthRequest{Peer: peer}); err != nil || !d.Allow {
				t.Fatalf("Authorize = %+v, %v; want allowed", d, err)
			}
		}
	}
	loads := func(p *Policy) int {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.loads
	}
	tests := []struct {
		name  string
		mtime time.Time
		want  int // reads after New and three requests
	}{
		{"old file", time.Now().Add(-time.Hour), 1},
		{"fresh file", time.Now(), 4},
		{"file stamped in the future", time.Now().Add(time.Hour), 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.Chtimes(path, tt.mtime, tt.mtime); err != nil {
				t.Fatal(err)
			}
			p, err := New(path)
			if err != nil {
				t.Fatal(err)
			}
			authorize(p, 3)
			if diff := cmp.Diff(tt.want, loads(p)); diff != "" {
				t.Errorf("file reads (-want +got):\n%s", diff)
			}
		})
	}
}
